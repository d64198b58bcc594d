"""A synthetic audio-visual emotion corpus in RAVDESS layout (SPEC §4): the package's embedded default.

:func:`make_synthetic_corpus` writes ``Actor_XX/01-01-EE-II-SS-RR-AA.mp4`` files (modality 01 audio-visual,
vocal channel 01 speech): real MP4 containers with an H.264 video stream (320×240, 30 fps; real RAVDESS is
1280×720 at 29.97 fps) and an AAC audio stream (mono, 16 kHz by default, the model's rate; RAVDESS has 48 kHz), 3 s by default, so
:func:`hf_emotion.data.load_ravdess` and every decoder/feature path runs on it unchanged. Per actor it writes
RAVDESS's speech design: 8 emotions × 2 intensities (neutral: normal only) × 2 statements × ``repetitions``
(1 by default; RAVDESS has 2) = 30 clips per actor.

Actors. Each actor has a voice (f0: male ~100-140 Hz for odd actor ids, female ~180-240 Hz; a formant scale;
a syllable rate 3.5-5 syll/s; a loudness offset; breathiness) and a face (face width/height, eye spacing and
size, mouth width, brow thickness, skin tone, hair colour, background colour), so actor-independent folds
are meaningful.

Speech. Glottal source = harmonics of a jittered f0 contour with a spectral tilt, filtered per syllable by
three formant resonators of the statement's vowel sequence, shaped by a syllable envelope, plus onset
bursts, breath noise and background noise. Face. An ellipse face with hair, eyes (random blinks), brows, nose
and a mouth whose opening follows the same syllable envelope as the audio; small head sway; textured,
noisy background.

Cues are split across the modalities ON PURPOSE:

============ ============== =================== ====================================================
emotion      audio arousal  face group (video)  face group looks
============ ============== =================== ====================================================
neutral      low            relaxed             flat mouth, level brows, open eyes
surprised    HIGH           relaxed
calm         low            smile               corners up, wider mouth, slightly narrowed eyes
happy        HIGH           smile
sad          low            frown               corners down, inner brows raised
fearful      HIGH           frown
disgust      low            tense               pressed narrow mouth, brows lowered toward the nose,
angry        HIGH           tense               narrowed eyes
============ ============== =================== ====================================================

Audio carries only arousal: high arousal raises f0 (×1.45), widens the intonation range, adds 10 dB of energy,
flattens the spectral tilt and adds jitter (at strong intensity; 75 % of these changes at normal intensity). Video carries only the face group (a
valence-like cue), scaled by intensity (normal 0.6, strong 1.0) with per-clip noise. Speech rate and mouth
motion depend on the actor, never on the emotion (the mouth follows the syllables, so an arousal-dependent
rate would leak arousal into the video). Designed confusions:

- audio alone confuses the four low-arousal emotions {neutral, calm, sad, disgust} among themselves and the
  four high-arousal ones {surprised, happy, fearful, angry} among themselves (chance within a group: 25 %);
- video alone confuses the pairs neutral/surprised, calm/happy, sad/fearful, disgust/angry (50 %);
- only audio + video separates all eight.

This is the **additive** scenario (the default): an additive rule separates all classes, so no fusion can beat
concatenation on it. ``scenario="interaction"`` (an XOR of an audio and a video cue), ``"timing"`` (the label
only in the alignment of a brow raise with a pitch accent) and ``"degraded"`` (one modality muted, buried in
noise, occluded or dropped per clip) are written by the same generator; their designs and designed ceilings
are in :mod:`hf_emotion.data.synthetic_scenarios`.

Generation is deterministic given ``seed`` (every clip has its own seed derived from ``seed`` and its name),
needs no network, and runs clips in parallel processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.signal import lfilter
from tqdm.auto import tqdm

from .labels import RAVDESS_LABELS
from .media import MediaWriter
from .synthetic_scenarios import (
    ACCENT_DB,
    ACCENT_SEMITONES,
    ACCENT_WIDTH,
    BROW_RAISE,
    BROW_WIDTH,
    FACE_GROUP,
    HIGH_AROUSAL,
    check_scenario,
    clip_cues,
    event_envelope,
)

logger = logging.getLogger(__name__)

MARKER = "hf_emotion_synthetic.json"
AUDIO_AROUSAL = {name: int(name in HIGH_AROUSAL) for name in RAVDESS_LABELS}  # the additive design
# curve: mouth-corner lift / mouth half-width; tilt: inner-brow raise; lift: whole-brow raise (face heights);
# eye: eye openness factor; width: mouth width factor. All at full (strong) intensity.
FACE_SHAPES = {
    "relaxed": {"curve": 0.0, "tilt": 0.0, "lift": 0.0, "eye": 1.0, "width": 1.0},
    "smile": {"curve": 0.45, "tilt": 0.0, "lift": 0.02, "eye": 0.75, "width": 1.2},
    "frown": {"curve": -0.4, "tilt": 0.09, "lift": 0.01, "eye": 1.0, "width": 0.9},
    "tense": {"curve": -0.05, "tilt": -0.08, "lift": -0.03, "eye": 0.55, "width": 0.7},
}
INTENSITY_SCALE = {1: 0.6, 2: 1.0}
# vowel formants (F1, F2, F3 in Hz, adult male reference) of the statements' syllables
VOWELS = {
    "i": (280, 2250, 2900),
    "a": (710, 1100, 2450),
    "o": (450, 850, 2500),
    "u": (310, 870, 2250),
    "e": (530, 1850, 2500),
}
STATEMENT_SYLLABLES = {
    1: [
        ("i", 1.0),
        ("a", 0.8),
        ("o", 1.1),
        ("i", 0.9),
        ("a", 1.0),
        ("e", 0.7),
        ("o", 1.4),
    ],  # Kids are talking by the door
    2: [
        ("o", 1.1),
        ("a", 0.8),
        ("i", 1.0),
        ("i", 0.9),
        ("a", 1.0),
        ("e", 0.7),
        ("o", 1.4),
    ],  # Dogs are sitting by the door
}


@dataclass
class SyntheticCorpus:
    """What :func:`make_synthetic_corpus` wrote: the folder, clip and actor counts, time taken."""

    root: Path
    n_clips: int
    n_actors: int
    seconds: float
    reused: bool = False

    def summary(self) -> str:
        verb = "found existing" if self.reused else "wrote"
        return f"{verb} {self.n_clips} clips ({self.n_actors} actors x 8 emotions) in {self.root} in {self.seconds:.1f} s"


def actor_traits(seed: int, actor: int) -> dict:
    """The voice and face of one synthetic actor (odd ids male, like RAVDESS)."""
    rng = np.random.default_rng([seed, actor, 0])
    male = actor % 2 == 1
    skin = np.array([224, 188, 160]) * rng.uniform(0.45, 1.0) + rng.normal(0, 8, 3)
    return {
        "f0": rng.uniform(100, 140) if male else rng.uniform(180, 240),
        "formant_scale": rng.uniform(0.92, 1.0) if male else rng.uniform(1.08, 1.2),
        "rate": rng.uniform(3.5, 5.0),
        "loudness_db": rng.uniform(-2, 2),
        "breath": rng.uniform(0.02, 0.06),
        "face_w": rng.uniform(0.29, 0.34),
        "face_h": rng.uniform(0.40, 0.45),
        "eye_gap": rng.uniform(0.32, 0.40),
        "eye_size": rng.uniform(0.14, 0.18),
        "mouth_w": rng.uniform(0.28, 0.36),
        "brow_px": int(rng.integers(3, 6)),
        "skin": np.clip(skin, 40, 255).tolist(),
        "hair": (np.clip(skin, 40, 255) * rng.uniform(0.15, 0.45, 3)).tolist(),  # always darker than the skin
        "background": rng.uniform(60, 200, 3).tolist(),
    }


def _syllable_times(traits: dict, statement: int, duration: float, rng: np.random.Generator, fill=False):
    """(start, length, vowel) of each syllable, in seconds; with ``fill`` the statement is stretched or
    compressed to 82 % of the clip (the timing scenario: its pitch accent must land on voiced speech)."""
    syllables = STATEMENT_SYLLABLES[statement]
    unit = 1.0 / (traits["rate"] * rng.uniform(0.92, 1.08))
    lengths = np.array([weight for _, weight in syllables]) * unit
    gaps = rng.uniform(0.02, 0.06, len(syllables))
    total = float(lengths.sum() + gaps.sum())
    available = duration * 0.8
    if fill:
        available = duration * 0.82
    if total > available or fill:
        lengths, gaps, total = lengths * available / total, gaps * available / total, available
    start = rng.uniform(0.1, 0.15) * duration
    times, t = [], start
    for (vowel, _), length, gap in zip(syllables, lengths, gaps):
        times.append((t, float(length), vowel))
        t += length + gap
    return times


def _envelope(times, t: np.ndarray) -> np.ndarray:
    """Syllable amplitude envelope (0..1) at times ``t``: raised-cosine attack and release per syllable."""
    env = np.zeros_like(t)
    for start, length, _ in times:
        x = (t - start) / length
        inside = (x >= 0) & (x <= 1)
        attack, release = np.clip(x / 0.25, 0, 1), np.clip((1 - x) / 0.35, 0, 1)
        shape = np.sin(0.5 * np.pi * np.minimum(attack, release)) ** 2
        env = np.maximum(env, np.where(inside, shape, 0.0))
    return env


def _resonator(signal: np.ndarray, freq: float, bandwidth: float, rate: int) -> np.ndarray:
    radius = np.exp(-np.pi * bandwidth / rate)
    a = [1.0, -2 * radius * np.cos(2 * np.pi * freq / rate), radius**2]
    return lfilter([1.0 - radius], a, signal)


def synthesize_speech(
    traits, arousal: float, statement: int, duration: float, rate: int, rng, times, accent_time=None
):
    """Mono speech (float32 in [-1, 1]) of one clip. ``arousal`` in [0, 1] is the emotion input; ``accent_time``
    (s, the timing scenario) adds one strong pitch accent (+7 semitones, +6 dB) there."""
    n = int(round(duration * rate))
    t = np.arange(n) / rate
    accent = event_envelope(t, accent_time, ACCENT_WIDTH)  # (n,), zeros without a designed accent
    # f0 contour: base × arousal raise × per-syllable accents (semitones) × declination × jitter
    f0_base = traits["f0"] * (1 + 0.45 * arousal) * np.exp(rng.normal(0, 0.04))
    accents = np.zeros(n)
    range_st = 1.5 + 3.0 * arousal
    for start, length, _ in times:
        bump = np.exp(-0.5 * ((t - start - 0.4 * length) / (0.3 * length)) ** 2)
        accents += rng.uniform(-0.5, 1.0) * range_st * bump
    jitter = np.cumsum(rng.normal(0, 1, n)) / np.sqrt(rate)  # random walk, ~1 per sqrt(second)
    f0 = (
        f0_base
        * 2 ** ((accents + ACCENT_SEMITONES * accent) / 12)
        * (1 - 0.08 * t / duration)
        * (1 + (0.004 + 0.012 * arousal) * jitter)
    )
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tilt = 1.6 - 0.6 * arousal
    n_harmonics = int(min(5000, 0.45 * rate) // f0.max())
    source = np.zeros(n)
    for k in range(1, n_harmonics + 1):
        source += np.sin(k * phase) / k**tilt
    source += traits["breath"] * rng.normal(0, 1, n) * 3
    speech = np.zeros(n)
    scale = traits["formant_scale"]
    for start, length, vowel in times:
        lo, hi = max(0, int((start - 0.02) * rate)), min(n, int((start + length + 0.05) * rate))
        segment = source[lo:hi] * _envelope([(start, length, vowel)], t[lo:hi])
        burst = (
            rng.normal(0, 1, hi - lo) * np.exp(-np.maximum(t[lo:hi] - start, 0) / 0.015) * (t[lo:hi] >= start)
        )
        segment = segment + 0.6 * np.diff(burst, prepend=0.0)  # consonant-like onset burst (high-passed)
        for formant, bandwidth in zip(VOWELS[vowel], (80, 100, 140)):
            segment = _resonator(segment, formant * scale, bandwidth, rate)
        speech[lo:hi] += segment
    speech /= np.sqrt(np.mean(speech**2)) + 1e-9  # unit RMS, then the designed level
    gain_db = -26 + 10 * arousal + traits["loudness_db"] + rng.uniform(-1.5, 1.5)
    speech *= 10 ** ((gain_db + ACCENT_DB * accent) / 20)
    noise_db = gain_db - rng.uniform(25, 35)
    speech += 10 ** (noise_db / 20) * rng.normal(0, 1, n)
    return np.tanh(speech).astype(np.float32)  # soft limit, never clips hard


def _point(x: float, y: float) -> tuple[int, int]:
    return int(round(x * 16)), int(round(y * 16))  # cv2 fixed point with shift=4


def _backgrounds(traits, width: int, height: int, rng, count: int = 4) -> list[np.ndarray]:
    """``count`` uint8 background frames: the actor's colour, a smooth per-clip texture, per-frame noise."""
    base = np.array(traits["background"], dtype=np.float32)
    small = rng.normal(0, 18, (6, 8, 3)).astype(np.float32)
    texture = base + cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return [
        np.clip(texture + rng.normal(0, 4, (height, width, 1)), 0, 255).astype(np.uint8) for _ in range(count)
    ]


def draw_face(
    canvas: np.ndarray, traits: dict, shape: dict, t: float, mouth_open: float, eye_open: float, sway
) -> None:
    """Draw one frame's face onto ``canvas`` (uint8 RGB, modified in place)."""
    height, width = canvas.shape[:2]
    cx, cy = width / 2 + sway[0], height * 0.52 + sway[1]
    ax, ay = traits["face_w"] * width, traits["face_h"] * height
    skin, hair = tuple(traits["skin"]), tuple(traits["hair"])
    aa, sh = cv2.LINE_AA, 4
    cv2.ellipse(canvas, _point(cx, cy - 0.12 * ay), _point(ax * 1.06, ay * 0.98), 0, 0, 360, hair, -1, aa, sh)
    cv2.ellipse(canvas, _point(cx, cy), _point(ax, ay), 0, 0, 360, skin, -1, aa, sh)
    darker = tuple(0.75 * c for c in skin)
    # eyes: white ellipse, iris, pupil
    eye_y, eye_dx = cy - 0.18 * ay, traits["eye_gap"] * ax
    eye_w, eye_h = traits["eye_size"] * ax, 0.55 * traits["eye_size"] * ax * shape["eye"] * eye_open
    for side in (-1, 1):
        ex = cx + side * eye_dx
        cv2.ellipse(
            canvas, _point(ex, eye_y), _point(eye_w, max(eye_h, 0.6)), 0, 0, 360, (245, 245, 240), -1, aa, sh
        )
        if eye_h > 2:
            radius = min(0.45 * eye_w, eye_h)
            cv2.circle(canvas, _point(ex, eye_y), int(radius * 16), (60, 40, 30), -1, aa, sh)
            cv2.circle(canvas, _point(ex, eye_y), int(0.45 * radius * 16), (10, 10, 10), -1, aa, sh)
        # brows: inner end raised by tilt, whole brow by lift
        brow_y = eye_y - 0.16 * ay - shape["lift"] * ay
        inner = (ex - side * 0.55 * eye_w, brow_y - shape["tilt"] * ay)
        outer = (ex + side * 1.3 * eye_w, brow_y + 0.02 * ay)
        cv2.line(canvas, _point(*inner), _point(*outer), hair, traits["brow_px"], aa, sh)
    # nose
    cv2.line(canvas, _point(cx, cy - 0.05 * ay), _point(cx - 0.05 * ax, cy + 0.17 * ay), darker, 2, aa, sh)
    cv2.line(
        canvas,
        _point(cx - 0.05 * ax, cy + 0.17 * ay),
        _point(cx + 0.04 * ax, cy + 0.18 * ay),
        darker,
        2,
        aa,
        sh,
    )
    # mouth: upper lip y_u(x) = y_c - curve*w*(x/w)^2, lower lip adds the opening (largest in the middle)
    half = traits["mouth_w"] * ax * shape["width"]
    mouth_y = cy + 0.45 * ay
    x = np.linspace(-1, 1, 25)
    upper = mouth_y - shape["curve"] * half * x**2 + shape["curve"] * half * 0.25
    lower = upper + 1.5 + mouth_open * 0.16 * ay * (1 - x**2)
    xs = cx + half * x
    upper_points = np.round(np.stack([xs, upper], axis=1) * 16).astype(np.int32)  # (25, 2) fixed point
    lower_points = np.round(np.stack([xs, lower], axis=1) * 16).astype(np.int32)
    cv2.fillPoly(canvas, [np.concatenate([upper_points, lower_points[::-1]])], (70, 15, 25), aa, sh)
    lips = (0.55 * skin[0] + 40, 0.4 * skin[1], 0.45 * skin[2])  # darker and redder than the skin
    cv2.polylines(canvas, [upper_points, lower_points], False, lips, 3, aa, sh)


def _degrade_audio(audio: np.ndarray, kind: str, rng) -> np.ndarray:
    """The degraded scenario's audio: digital silence, or the speech 20 dB under white noise at a fixed level."""
    if kind == "muted":
        return np.zeros_like(audio)
    noise = 0.1 * rng.normal(0, 1, audio.shape)  # -20 dBFS, whatever the speech level (no arousal leak)
    speech = audio * 0.01 / (np.sqrt(np.mean(audio**2)) + 1e-9)
    return np.tanh(noise + speech).astype(np.float32)


def _occlude(frame: np.ndarray, traits: dict) -> None:
    """Cover the face from above the brows to the chin with a flat grey box (in place)."""
    height, width = frame.shape[:2]
    cx, cy = width / 2, height * 0.52
    ax, ay = traits["face_w"] * width, traits["face_h"] * height
    top_left = (int(cx - 1.15 * ax), int(cy - 0.65 * ay))
    bottom_right = (int(cx + 1.15 * ax), int(cy + 1.05 * ay))
    cv2.rectangle(frame, top_left, bottom_right, (128, 128, 128), -1)


def render_clip(job: tuple) -> str:
    """Write one clip; ``job`` = (path, seed, actor, emotion id 1-8, intensity, statement, repetition, options)."""
    path, seed, actor, emotion, intensity, statement, repetition, options = job
    name = RAVDESS_LABELS[emotion - 1]
    traits = actor_traits(seed, actor)
    rng = np.random.default_rng([seed, actor, emotion, intensity, statement, repetition, 1])
    duration, fps, rate = options["duration"], options["fps"], options["sample_rate"]
    width, height = options["width"], options["height"]
    cues = clip_cues(
        options.get("scenario", "additive"), seed, actor, emotion, intensity, statement, repetition, duration
    )
    times = _syllable_times(traits, statement, duration, rng, fill=cues["accent_time"] is not None)
    audio = synthesize_speech(
        traits, cues["arousal"], statement, duration, rate, rng, times, cues["accent_time"]
    )
    lost, kind = cues["degradation"] or (None, None)
    if lost == "audio":
        audio = _degrade_audio(audio, kind, rng)

    magnitude = INTENSITY_SCALE[intensity] * rng.uniform(0.85, 1.15)
    target = FACE_SHAPES[FACE_GROUP[name]]
    relaxed = FACE_SHAPES["relaxed"]
    noise = {"curve": 0.05, "tilt": 0.012, "lift": 0.006, "eye": 0.06, "width": 0.05}
    clip_shape = {
        k: relaxed[k] + magnitude * (target[k] - relaxed[k]) + rng.normal(0, noise[k]) for k in target
    }
    clip_shape["lift"] += cues["brow_raise"]  # interaction: raised brows (constant over the clip)
    backgrounds = _backgrounds(traits, width, height, rng)
    n_frames = int(round(duration * fps))
    frame_times = np.arange(n_frames) / fps
    mouth = np.convolve(
        _envelope(times, frame_times), np.ones(3) / 3, mode="same"
    )  # smooth with the syllables
    brow_event = BROW_RAISE * event_envelope(frame_times, cues["brow_time"], BROW_WIDTH)  # timing: one raise
    blinks = rng.uniform(0, duration, rng.integers(0, 3))
    sway_f, sway_phase = rng.uniform(0.3, 0.6), rng.uniform(0, 2 * np.pi, 2)
    x264 = {"crf": "23", "preset": "ultrafast"}
    with MediaWriter(path, fps, width, height, sample_rate=rate, video_options=x264) as writer:
        for i, t in enumerate(frame_times):
            if lost == "video" and kind == "dropped":
                writer.add_frame(np.zeros((height, width, 3), np.uint8))
                continue
            ramp = 0.4 + 0.6 * min(1.0, t / 0.4)  # the expression settles in over the first 0.4 s
            shape = {k: relaxed[k] + ramp * (clip_shape[k] - relaxed[k]) for k in clip_shape}
            shape["lift"] += brow_event[i]
            eye_open = 0.1 if np.any(np.abs(t - blinks) < 0.07) else 1.0
            sway = (
                3 * np.sin(2 * np.pi * sway_f * t + sway_phase[0]),
                1.5 * np.sin(2 * np.pi * sway_f * t + sway_phase[1]),
            )
            frame = backgrounds[i % len(backgrounds)].copy()
            draw_face(frame, traits, shape, t, mouth[i], eye_open, sway)
            if lost == "video":
                _occlude(frame, traits)
            writer.add_frame(frame)
        writer.add_audio(audio)
    return path


def _clip_jobs(root: Path, config: dict) -> list[tuple]:
    options = {k: config[k] for k in ("duration", "fps", "sample_rate", "width", "height", "scenario")}
    jobs = []
    for actor in range(1, config["n_actors"] + 1):
        for emotion in range(1, 9):
            for intensity in (1,) if emotion == 1 else (1, 2):
                for statement in range(1, config["statements"] + 1):
                    for repetition in range(1, config["repetitions"] + 1):
                        name = f"01-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.mp4"
                        path = str(root / f"Actor_{actor:02d}" / name)
                        jobs.append(
                            (path, config["seed"], actor, emotion, intensity, statement, repetition, options)
                        )
    return jobs


def _marker_files(root: Path, names: list) -> list[Path]:
    """The files a marker lists, each checked to be a plain relative name of a clip inside `root` (no absolute
    path, no ``..``, no symbolic link leading out); a crafted marker raises before anything is deleted."""
    base = root.resolve()
    files = []
    for name in names:
        relative = Path(str(name))
        target = (root / relative).resolve()
        if (
            not isinstance(name, str)
            or relative.is_absolute()
            or ".." in relative.parts
            or relative.suffix.lower() != ".mp4"
            or base not in target.parents
        ):
            raise ValueError(
                f"{root / MARKER} lists {name!r}, which is not a clip inside {root}; nothing was deleted. "
                "Remove the marker file (or the folder) by hand if it is really a synthetic corpus."
            )
        files.append(root / relative)
    return files


def _prepare_folder(root: Path, config: dict, overwrite: bool) -> bool:
    """Check ``root`` may be written; ``True`` when it already holds exactly this corpus."""
    marker = root / MARKER
    if marker.is_file():
        previous = json.loads(marker.read_text())
        files = _marker_files(root, previous.get("files", []))
        if previous.get("config") == config and all(f.is_file() for f in files):
            return True
        for file in files:  # a previous synthetic corpus with other settings: replace its files only
            file.unlink(missing_ok=True)
        marker.unlink()
        return False
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise ValueError(
            f"{root} is not empty and is not a synthetic corpus written by hf_emotion (no {MARKER}); "
            "choose an empty folder or pass overwrite=True to write into it anyway."
        )
    return False


def make_synthetic_corpus(
    out_dir: str | Path,
    n_actors: int = 24,
    seed: int = 0,
    repetitions: int = 1,
    statements: int = 2,
    duration: float = 3.0,
    fps: int = 30,
    width: int = 320,
    height: int = 240,
    sample_rate: int = 16000,
    num_workers: int | None = None,
    overwrite: bool = False,
    scenario: str = "additive",
) -> SyntheticCorpus:
    """Write the synthetic RAVDESS-layout corpus described in the module docstring.

    Args:
        out_dir (`str` or `Path`): the folder to write (created; ``Actor_XX`` folders go inside).
        n_actors (`int`, *optional*, defaults to 24): number of actors (1-99; odd ids male; RAVDESS has 24).
        seed (`int`, *optional*, defaults to 0): everything is determined by it.
        repetitions (`int`, *optional*, defaults to 1): repetitions per emotion/intensity/statement (1-2).
        statements (`int`, *optional*, defaults to 2): statements per actor (1-2).
        duration (`float`, *optional*, defaults to 3.0): clip length in seconds (at least 1; the statement is
            spoken faster when it does not fit in 80 % of the clip).
        fps (`int`, *optional*, defaults to 30): video frame rate.
        width, height (`int`, *optional*, defaults to 320, 240): frame size.
        sample_rate (`int`, *optional*, defaults to 16000): audio sample rate (the model's rate; real RAVDESS
            is 48 kHz, which is 4x slower to synthesise and encode).
        num_workers (`int`, *optional*): parallel processes (default: CPU count).
        overwrite (`bool`, *optional*, defaults to `False`): write into a non-empty folder that is not a
            previous synthetic corpus. A previous synthetic corpus is always replaced (or kept as is when it
            was made with the same settings).
        scenario (`str`, *optional*, defaults to `"additive"`): which cue design to write: `"additive"` (the
            design above), `"interaction"`, `"timing"` or `"degraded"`; see
            :mod:`hf_emotion.data.synthetic_scenarios` for each design and its ceilings.

    Returns:
        :class:`SyntheticCorpus` with the folder, the number of clips and actors and the time taken. With the
        defaults: 24 actors × 30 clips = 720 clips of 3 s (83 s on 2 cores, `benchmarks/bench_synthetic.py`).
    """
    check_scenario(scenario)
    if not 1 <= n_actors <= 99:
        raise ValueError(f"n_actors must be in 1-99 (two-digit RAVDESS actor ids), got {n_actors}.")
    if repetitions not in (1, 2) or statements not in (1, 2):
        raise ValueError(
            f"repetitions and statements must be 1 or 2 (RAVDESS codes), got {repetitions}, {statements}."
        )
    if duration < 1.0:
        raise ValueError(f"duration must be at least 1 s to hold a spoken statement, got {duration}.")
    config = {
        "version": 1,
        "n_actors": n_actors,
        "seed": seed,
        "repetitions": repetitions,
        "statements": statements,
        "duration": duration,
        "fps": fps,
        "width": width,
        "height": height,
        "sample_rate": sample_rate,
        "scenario": scenario,
    }
    root = Path(out_dir).expanduser()
    started = time.perf_counter()
    jobs = _clip_jobs(root, config)
    if _prepare_folder(root, config, overwrite):
        logger.info("%s already holds this synthetic corpus; nothing to do.", root)
        return SyntheticCorpus(root, len(jobs), n_actors, time.perf_counter() - started, reused=True)
    root.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(num_workers or os.cpu_count() or 1, len(jobs)))
    progress = tqdm(total=len(jobs), desc="Synthetic corpus", unit="clip")
    if workers == 1:
        for job in jobs:
            render_clip(job)
            progress.update()
    else:
        context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        )
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            for _ in pool.map(render_clip, jobs, chunksize=4):
                progress.update()
    progress.close()
    files = [str(Path(job[0]).relative_to(root)) for job in jobs]
    (root / MARKER).write_text(
        json.dumps({"generator": __name__, "config": config, "files": files}, indent=1)
    )
    result = SyntheticCorpus(root, len(jobs), n_actors, time.perf_counter() - started)
    logger.info(result.summary())
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m hf_emotion.data.synthetic ARGS`` is ``hf-emotion make-corpus ARGS`` (its one owner)."""
    from hf_emotion.cli import main as cli_main

    return cli_main(["make-corpus", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
