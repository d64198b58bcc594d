"""Test-time corruption of one modality (`hf_emotion.training.robustness`)."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_config

from hf_emotion import TuckerAVForEmotionRecognition
from hf_emotion.models.configuration_tucker_av import RAVDESS_EMOTIONS
from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.training.robustness import CORRUPTIONS, corrupt_clip, evaluate_robustness


def _clip(seed=0, samples=16000, frames=4):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    waveform = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    video = rng.integers(0, 255, (frames, 40, 60, 3), dtype=np.uint8)
    return waveform, video


@pytest.mark.parametrize("snr", [20, 10, 0])
def test_noise_is_mixed_at_the_requested_snr(snr):
    waveform, frames = _clip()
    noisy, same = corrupt_clip(waveform, frames, f"audio_snr{snr}", np.random.default_rng(1))
    noise = noisy - waveform
    measured = 10 * np.log10(
        np.mean(waveform.astype(np.float64) ** 2) / np.mean(noise.astype(np.float64) ** 2)
    )
    assert measured == pytest.approx(snr, abs=0.05)
    np.testing.assert_array_equal(same, frames)


def test_each_corruption_touches_only_its_modality():
    waveform, frames = _clip()
    rng = np.random.default_rng(0)
    muted, kept = corrupt_clip(waveform, frames, "audio_muted", rng)
    assert not muted.any() and muted.shape == waveform.shape
    np.testing.assert_array_equal(kept, frames)
    audio, frozen = corrupt_clip(waveform, frames, "video_frozen", rng)
    np.testing.assert_array_equal(audio, waveform)
    assert all((frozen[i] == frames[0]).all() for i in range(len(frames)))
    _, missing = corrupt_clip(waveform, frames, "video_missing", rng)
    assert not missing.any()
    _, occluded = corrupt_clip(waveform, frames, "video_occluded", rng)
    assert (occluded[:, 8:32, 15:45] == 128).all() and (occluded[:, :8] == frames[:, :8]).all()
    assert (frames != 128).any()  # the input was not modified in place
    with pytest.raises(ValueError, match="Unknown corruption"):
        corrupt_clip(waveform, frames, "audio_snr5", rng)


def test_evaluate_robustness_through_the_processor():
    config = tiny_config(
        "tucker_av",
        frame_encoder=None,
        frame_feature_dim=64,
        image_size=8,
        num_frames=2,
        modalities=["video"],
    )
    torch.manual_seed(0)
    model = TuckerAVForEmotionRecognition(config)
    processor = EmotionProcessor.from_model_config(config)
    clips, labels = [_clip(seed) for seed in range(5)], [0, 1, 0, 1, 1]

    def featurize(features):  # a model without a frame encoder reads grey pixels as its frame features
        grey = features["pixel_values_videos"].mean(dim=2).flatten(2)  # (batch, frames, 64)
        return {"frame_features": grey}

    results = evaluate_robustness(
        model, processor, clips, labels, CORRUPTIONS, featurize=featurize, batch_size=2
    )
    missing = evaluate_robustness(model, processor, clips, labels, ["video_missing"], featurize=featurize)
    assert list(results) == list(CORRUPTIONS)
    # a video-only model does not hear: every audio corruption leaves its predictions as they were
    for name in ("audio_snr0", "audio_muted"):
        assert results[name]["confusion_matrix"] == results["clean"]["confusion_matrix"]
    # the same corruption gives the same result in another batching (per-clip seeded draws)
    assert missing["video_missing"]["confusion_matrix"] == results["video_missing"]["confusion_matrix"]
    with pytest.raises(ValueError, match="one label per clip"):
        evaluate_robustness(model, processor, clips, labels[:2])


def test_robustness_command_on_a_saved_model(tmp_path, capsys):
    from hf_emotion.cli import main
    from hf_emotion.data import make_synthetic_corpus

    corpus = make_synthetic_corpus(
        tmp_path / "corpus", n_actors=2, statements=1, duration=1.0, fps=8, width=96, height=72, num_workers=1
    ).root
    labels = dict(enumerate(RAVDESS_EMOTIONS))  # the corpus's 8 emotions
    config = tiny_config(
        "tucker_av",
        frame_encoder=None,
        frame_feature_dim=8,
        num_frames=2,
        modalities=["audio"],
        id2label=labels,
    )
    model_dir = tmp_path / "model"
    TuckerAVForEmotionRecognition(config).save_pretrained(model_dir)
    EmotionProcessor.from_model_config(config).save_pretrained(model_dir)
    output = tmp_path / "robustness.json"
    args = [
        "robustness",
        "--model-dir",
        model_dir,
        "--data-dir",
        corpus,
        "--n-folds",
        "2",
        "--output",
        output,
    ]
    assert main([str(a) for a in [*args, "--corruptions", "clean", "video_missing", "audio_muted"]]) == 0
    results = json.loads(output.read_text())
    assert list(results) == ["clean", "video_missing", "audio_muted"]
    # an audio-only model does not see the picture: missing video changes nothing
    assert results["video_missing"]["confusion_matrix"] == results["clean"]["confusion_matrix"]
    assert sum(map(sum, results["clean"]["confusion_matrix"])) == 15  # the test actor's clips
    assert "| audio_muted |" in capsys.readouterr().out
