"""The synthetic corpus's scenarios: each design's stated ceilings hold for linear probes on the generator's own
cue values, and the rendered media carry the designed cues (accent, muted track, occlusion, dropped frames)."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from hf_emotion.data import load_ravdess, make_synthetic_corpus
from hf_emotion.data.synthetic import _syllable_times, actor_traits, synthesize_speech
from hf_emotion.data.synthetic_scenarios import CEILINGS, SCENARIOS, clip_cues, cue_features
from hf_emotion.models.decoding import load_audio, load_video_frames

N_ACTORS, REPETITIONS, DURATION = 24, 8, 3.0


def _cue_table(scenario: str):
    """Probe features, labels and actors of many clips' designed cues (no media is rendered)."""
    rows, labels, actors = [], [], []
    for actor in range(1, N_ACTORS + 1):
        for emotion in range(1, 9):
            for intensity in (1,) if emotion == 1 else (1, 2):
                for statement in (1, 2):
                    for repetition in range(1, REPETITIONS + 1):
                        cues = clip_cues(
                            scenario, 0, actor, emotion, intensity, statement, repetition, DURATION
                        )
                        rows.append(cue_features(cues, DURATION))
                        labels.append(emotion - 1)
                        actors.append(actor)
    features = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
    return features, np.array(labels), np.array(actors)


def _probe_accuracy(x: np.ndarray, y: np.ndarray, actors: np.ndarray) -> float:
    """A multinomial logistic probe trained on actors 1-16 and tested on the unseen actors 17-24."""
    train = actors <= 16
    probe = LogisticRegression(C=1e3, max_iter=5000).fit(x[train], y[train])
    return float((probe.predict(x[~train]) == y[~train]).mean())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_linear_probes_on_the_cue_values_reach_the_designed_ceilings(scenario):
    features, labels, actors = _cue_table(scenario)
    audio, video, product = features["audio"], features["video"], features["product"]
    ceilings = CEILINGS[scenario]
    measured = {
        "audio": _probe_accuracy(audio, labels, actors),
        "video": _probe_accuracy(video, labels, actors),
        "additive": _probe_accuracy(np.hstack([audio, video]), labels, actors),
        "fusion": _probe_accuracy(np.hstack([audio, video, product]), labels, actors),
    }
    for name, ceiling in ceilings.items():
        assert measured[name] == pytest.approx(ceiling, abs=0.06), (name, measured)


def test_interaction_and_timing_need_the_product():
    for scenario in ("interaction", "timing"):
        features, labels, actors = _cue_table(scenario)
        additive = _probe_accuracy(np.hstack([features["audio"], features["video"]]), labels, actors)
        product = _probe_accuracy(
            np.hstack([features["audio"], features["video"], features["product"]]), labels, actors
        )
        assert additive <= CEILINGS[scenario]["additive"] + 0.06 and product >= 0.98, (scenario, additive)


def test_timing_events_are_uniform_in_both_classes():
    """Neither stream's event time alone tells aligned from misaligned clips."""
    with_accent, against = [], []
    for actor in range(1, 200):
        for emotion, bucket in ((1, with_accent), (8, against)):  # neutral: with, surprised: against
            cues = clip_cues("timing", 0, actor, emotion, 1, 1, 1, DURATION)
            bucket.append((cues["accent_time"], cues["brow_time"]))
    with_accent, against = np.array(with_accent), np.array(against)
    for column in (0, 1):
        assert abs(with_accent[:, column].mean() - against[:, column].mean()) < 0.15
    assert np.abs(with_accent[:, 0] - with_accent[:, 1]).max() <= 0.05 + 1e-9
    assert np.allclose(np.abs(against[:, 0] - against[:, 1]), 0.35 * DURATION)


def test_timing_accent_raises_pitch_and_level_only_around_its_time():
    traits = actor_traits(0, 3)
    for emotion in (1, 2, 5):
        cues = clip_cues("timing", 0, 3, emotion, 1, 1, 1, DURATION)
        speech = []
        for accent in (cues["accent_time"], None):
            rng = np.random.default_rng(0)
            times = _syllable_times(traits, 1, DURATION, rng, fill=True)
            speech.append(synthesize_speech(traits, 0.0, 1, DURATION, 16000, rng, times, accent))
        assert times[0][0] < cues["accent_time"] < times[-1][0] + times[-1][1]  # it lands on the speech
        level = [20 * np.log10(np.sqrt(np.mean(s.reshape(-1, 800) ** 2, axis=1)) + 1e-6) for s in speech]
        gain = level[0] - level[1]  # (60,) dB per 50 ms
        centre = (np.arange(60) + 0.5) * 0.05
        near, far = np.abs(centre - cues["accent_time"]) < 0.1, np.abs(centre - cues["accent_time"]) > 0.6
        assert gain[near].mean() > 3 and np.abs(gain[far]).max() < 1


def test_degraded_clips_are_muted_noisy_occluded_or_dropped(tmp_path):
    small = {"fps": 15, "width": 160, "height": 120, "duration": DURATION, "statements": 1}
    root = make_synthetic_corpus(tmp_path / "degraded", n_actors=2, scenario="degraded", **small).root
    seen = set()
    for path in load_ravdess(root)["path"]:
        parts = [int(p) for p in path.rsplit("/", 1)[1][:-4].split("-")]
        cues = clip_cues("degraded", 0, parts[6], parts[2], parts[3], parts[4], parts[5], DURATION)
        if cues["degradation"] is None or cues["degradation"][1] in seen:
            continue
        kind = cues["degradation"][1]
        seen.add(kind)
        if kind == "muted":
            assert np.abs(load_audio(path, 16000)).max() < 1e-3
        elif kind == "dropped":
            assert load_video_frames(path, 4).max() < 20  # black frames (H.264 noise aside)
        elif kind == "occluded":
            frame = load_video_frames(path, 1)[0].astype(float)
            centre = frame[50:90, 70:90]  # the middle of the face: a flat grey box
            assert abs(centre.mean() - 128) < 8 and centre.std() < 6
    assert seen == {"muted", "noise", "occluded", "dropped"}
