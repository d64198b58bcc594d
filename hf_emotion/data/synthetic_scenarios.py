"""The designs of the synthetic corpus's scenarios (SPEC §4): which cue each modality carries per clip, and the
accuracy each modality, an additive rule and the full fusion can reach at best.

One generator (:mod:`hf_emotion.data.synthetic`), four scenarios. Every scenario keeps RAVDESS's 8 labels; the
face group (video) pairs them as neutral/surprised, calm/happy, sad/fearful, disgust/angry.

``additive`` (the default; the original corpus)
    audio: arousal (low for neutral/calm/sad/disgust, high for the others); video: the face group. Both are
    constant per clip, so an additive rule separates all eight classes and no fusion can beat concatenation.
``interaction`` (congruence)
    audio: arousal, drawn at random per clip (it says nothing by itself); video: the face group and a brow raise
    (raised or not). The class within a face-group pair is whether the two cues agree: the first emotion of a
    pair (neutral, calm, sad, disgust) has *congruent* cues (high arousal with raised brows, or low arousal with
    level brows), the second (surprised, happy, fearful, angry) *incongruent* ones. The bit is an XOR of an
    audio and a video cue: no additive rule gets more than 3 of the 4 cue combinations right, and an additive
    model trained with cross-entropy on these balanced classes gets none of the bit (its loss minimum is the
    uninformative 50/50), so the additive ceiling of a trained model is the face group alone: 50 %.
``timing`` (alignment)
    audio: one strong pitch accent (+7 semitones, +6 dB over ~0.4 s) at a random time; video: the face group and
    one brow raise (~0.5 s) at a random time. Within a pair the first emotion has the brow raise *with* the
    accent (within ±50 ms), the second *against* it (half the usable span, 1.05 s at 3 s, away, cyclically).
    Both times are uniform over the usable span in both classes, so each stream alone, and any clip-level
    (time-pooled) summary of each, says nothing about the bit: only the time-aligned product does.
``degraded``
    the additive design, with one modality degraded per clip: none (40 %), audio (30 %: muted, or buried under
    loud noise at a fixed level, −20 dB SNR), or video (30 %: the face occluded from brows to chin, or every
    frame dropped to black). The ceilings treat a degraded modality as carrying nothing.

Designed ceilings (best accuracy from the noiseless cue values; chance 12.5 %):

=========== ======= ======= ====================== ========
scenario    audio   video   additive (clip level)  fusion
=========== ======= ======= ====================== ========
additive    25 %    50 %    100 %                  100 %
interaction 12.5 %  50 %    50 % (*)               100 %
timing      12.5 %  50 %    50 %                   100 %
degraded    21.25 % 38.75 % 62.5 %                 62.5 %
=========== ======= ======= ====================== ========

(*) a trained additive model; a 0-1 optimal additive rule could reach 75 %, see above.
(degraded: audio 0.7·25 % + 0.3·12.5 %; video 0.7·50 % + 0.3·12.5 %; fusion 0.4·100 % + 0.3·50 % + 0.3·25 %.)
:func:`cue_features` gives the per-clip cue values the tests probe to check these numbers (to within a few
points: the arousal's size reveals the intensity, and neutral exists only at normal intensity, as in RAVDESS).
"""

from __future__ import annotations

import numpy as np

from .labels import RAVDESS_LABELS

SCENARIOS = ("additive", "interaction", "timing", "degraded")
CHANCE = 1 / 8
CEILINGS = {
    "additive": {"audio": 0.25, "video": 0.5, "additive": 1.0, "fusion": 1.0},
    "interaction": {"audio": CHANCE, "video": 0.5, "additive": 0.5, "fusion": 1.0},
    "timing": {"audio": CHANCE, "video": 0.5, "additive": 0.5, "fusion": 1.0},
    "degraded": {
        "audio": 0.7 * 0.25 + 0.3 * CHANCE,
        "video": 0.7 * 0.5 + 0.3 * CHANCE,
        "additive": 0.4 + 0.3 * 0.5 + 0.3 * 0.25,
        "fusion": 0.4 + 0.3 * 0.5 + 0.3 * 0.25,
    },
}
"""Designed best accuracy per scenario from each modality alone, an additive (clip-level) rule and fusion."""

FACE_GROUP = {
    "neutral": "relaxed",
    "surprised": "relaxed",
    "calm": "smile",
    "happy": "smile",
    "sad": "frown",
    "fearful": "frown",
    "disgust": "tense",
    "angry": "tense",
}
FACE_GROUPS = ("relaxed", "smile", "frown", "tense")
HIGH_AROUSAL = ("surprised", "happy", "fearful", "angry")  # also the second emotion of each face-group pair
AROUSAL_SCALE = {1: 0.75, 2: 1.0}  # arousal at normal / strong intensity
BROW_RAISE = 0.12  # whole-brow lift of a raise, in face heights
ACCENT_SEMITONES, ACCENT_DB, ACCENT_WIDTH = 7.0, 6.0, 0.12  # timing: the pitch accent (Gaussian sd in s)
BROW_WIDTH = 0.15  # timing: the brow raise (Gaussian sd in s)
DEGRADATIONS = {"audio": ("muted", "noise"), "video": ("occluded", "dropped")}
DEGRADED_SHARE = {"none": 0.4, "audio": 0.3, "video": 0.3}


def check_scenario(scenario: str) -> str:
    if scenario not in SCENARIOS:
        raise ValueError(f"Unknown synthetic scenario {scenario!r}; choose one of {list(SCENARIOS)}.")
    return scenario


def _usable_span(duration: float) -> tuple[float, float]:
    """(start, length) of where timing events may sit: inside the speech (which the timing scenario stretches
    over 15-97 % of the clip at most, 10-92 % at least), away from its ends: 17-87 % of the clip."""
    return 0.17 * duration, 0.70 * duration


def clip_cues(
    scenario: str,
    seed: int,
    actor: int,
    emotion: int,
    intensity: int,
    statement: int,
    repetition: int,
    duration: float,
) -> dict:
    """The designed cue values of one clip (``emotion`` 1-8, RAVDESS ids), deterministic in its arguments.

    Returns:
        ``{"arousal": float in [0, 1], "face_group": str, "brow_raise": float (face heights, constant),
        "accent_time": float | None, "brow_time": float | None (s), "degradation": (modality, kind) | None}``.
    """
    check_scenario(scenario)
    name = RAVDESS_LABELS[emotion - 1]
    second = name in HIGH_AROUSAL  # second emotion of its face-group pair
    rng = np.random.default_rng([seed, actor, emotion, intensity, statement, repetition, 7])
    cues = {
        "arousal": float(second) * AROUSAL_SCALE[intensity],
        "face_group": FACE_GROUP[name],
        "brow_raise": 0.0,
        "accent_time": None,
        "brow_time": None,
        "degradation": None,
    }
    if scenario == "interaction":
        high = bool(rng.integers(2))
        raised = high != second  # congruent (first of the pair): raised brows exactly with high arousal
        cues["arousal"] = float(high) * AROUSAL_SCALE[intensity]
        cues["brow_raise"] = BROW_RAISE * float(raised)
    elif scenario == "timing":
        start, span = _usable_span(duration)
        accent = rng.uniform(0, span)
        if (
            second
        ):  # against the accent: half the span away, cyclically (uniform over the span, like the accent)
            brow = (accent + span / 2) % span
        else:  # with the accent
            brow = float(np.clip(accent + rng.uniform(-0.05, 0.05), 0, span))
        cues["arousal"] = 0.0
        cues["accent_time"] = start + accent
        cues["brow_time"] = start + brow
    elif scenario == "degraded":
        draw = rng.uniform()
        if draw >= DEGRADED_SHARE["none"]:
            modality = "audio" if draw < DEGRADED_SHARE["none"] + DEGRADED_SHARE["audio"] else "video"
            cues["degradation"] = (modality, DEGRADATIONS[modality][int(rng.integers(2))])
    return cues


def cue_features(cues: dict, duration: float, steps: int = 60) -> dict[str, np.ndarray]:
    """Per-clip probe features from the designed cues (what a perfect encoder of each stream could extract).

    Returns:
        ``"audio"``: [present (1), arousal, time-mean of the accent envelope]; ``"video"``: [face group one-hot (4),
        brow raise, time-mean of the brow envelope]; ``"product"``: [arousal × brow raise, Σ_t accent(t)·brow(t)
        / steps] — the time-aligned audio × video interaction. A degraded modality's features are all zero.
    """
    t = (np.arange(steps) + 0.5) * duration / steps
    accent = np.zeros(steps) if cues["accent_time"] is None else _bump(t, cues["accent_time"], ACCENT_WIDTH)
    brow = np.zeros(steps) if cues["brow_time"] is None else _bump(t, cues["brow_time"], BROW_WIDTH)
    audio = np.array([1.0, cues["arousal"], accent.mean()])
    group = np.eye(len(FACE_GROUPS))[FACE_GROUPS.index(cues["face_group"])]
    video = np.concatenate([group, [cues["brow_raise"] / BROW_RAISE, brow.mean()]])
    lost = (cues["degradation"] or (None,))[0]
    audio = audio * (lost != "audio")
    video = video * (lost != "video")
    product = np.array([audio[1] * video[4], float(np.mean(accent * brow)) * (lost is None)])
    return {"audio": audio, "video": video, "product": product}


def _bump(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A Gaussian bump (peak 1) of standard deviation ``width`` seconds centred at ``centre``."""
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def event_envelope(t: np.ndarray, centre: float | None, width: float) -> np.ndarray:
    """The envelope of a timing event at times ``t`` (zeros when the clip has no such event)."""
    return np.zeros_like(t) if centre is None else _bump(t, centre, width)


__all__ = [
    "SCENARIOS",
    "CEILINGS",
    "CHANCE",
    "FACE_GROUP",
    "check_scenario",
    "clip_cues",
    "cue_features",
    "event_envelope",
]
