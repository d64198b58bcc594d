"""Per-bin audio normalisation (config `normalize_audio`, on by default for rmlstm): the statistics are fitted on
the training clips only, saved with the processor, and the saved processor gives, on a file, the normalised
features the model was trained on."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hf_emotion import RMLSTMConfig, TuckerAVConfig
from hf_emotion.cli import main
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.models.processing_emotion import EmotionProcessor

sys.path.insert(0, str(Path(__file__).parent))
from media_fixtures import write_video  # noqa: E402


def test_config_switches_the_processor_normalisation():
    assert RMLSTMConfig().normalize_audio and not TuckerAVConfig().normalize_audio
    assert EmotionProcessor.from_model_config(RMLSTMConfig(frame_encoder=None)).feature_extractor.do_normalize
    assert not EmotionProcessor.from_model_config(
        TuckerAVConfig(frame_encoder=None)
    ).feature_extractor.do_normalize
    no_audio = RMLSTMConfig(modalities=["video", "text"], frame_encoder=None)
    assert not EmotionProcessor.from_model_config(
        no_audio
    ).feature_extractor.do_normalize  # nothing to fit on
    with pytest.raises(ValueError, match="normalize_audio"):
        RMLSTMConfig(normalize_audio="yes")


@pytest.mark.slow
def test_rmlstm_trains_on_audio_normalised_with_training_statistics(tmp_path, monkeypatch):
    from hf_emotion.data import load_corpus
    from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition

    corpus = tmp_path / "ravdess"
    for actor, tones in (("01", (300, 500, 700)), ("02", (2000, 3000))):  # 3 and 2 clips, unlike voices
        (corpus / f"Actor_{actor}").mkdir(parents=True)
        for emotion, hz in enumerate(tones, start=1):
            write_video(corpus / f"Actor_{actor}" / f"01-01-0{emotion}-01-01-01-{actor}.mp4", audio_hz=hz)
    fed = []
    real_forward = RMLSTMForEmotionRecognition.forward

    def forward(self, *args, **kwargs):
        if self.training:
            fed.append(kwargs["input_features"].detach().double().clone())
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(RMLSTMForEmotionRecognition, "forward", forward)
    overrides = (
        'modalities=["audio"],frame_encoder=None,num_mfcc=8,hidden_size=8,num_layers=1,num_time_steps=4'
    )
    code = main(
        ["train", "--model-type", "rmlstm", "--config-overrides", overrides, "--corpus", "ravdess"]
        + ["--data-dir", str(corpus), "--n-folds", "2", "--fold", "0", "--epochs", "1", "--batch-size", "64"]
        + ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(tmp_path / "out")]
    )
    assert code == 0
    saved = EmotionProcessor.from_pretrained(tmp_path / "out" / "model").feature_extractor
    assert saved.do_normalize and saved.normalization_mean is not None

    # Independent reference: raw MFCCs of every clip (an extractor without statistics), split by actor.
    raw_extractor = EmotionFeatureExtractor(feature_type="mfcc", num_mfcc=8, num_frames=saved.num_frames)
    raw = {
        path: raw_extractor(path, return_tensors="np")["input_features"][0].astype(np.float64)
        for path in load_corpus("ravdess", corpus)["path"]
    }
    train = torch.cat(fed).numpy()  # (train clips, 8, frames): one epoch, no augmentation for rmlstm
    by_actor = {}
    for path in raw:
        by_actor.setdefault(Path(path).parent.name, []).append(path)
    rows = {actor: np.stack([raw[p] for p in paths]) for actor, paths in by_actor.items()}
    # The training side is the actor with as many clips as were fed (3 or 2).
    mean_std = {a: (r.mean(axis=(0, 2)), r.std(axis=(0, 2))) for a, r in rows.items() if len(r) == len(train)}
    assert len(mean_std) == 1, "exactly one actor's clips form the training side"
    ((actor, (mean, std)),) = mean_std.items()
    np.testing.assert_allclose(saved.normalization_mean, mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(saved.normalization_std, std, rtol=1e-4, atol=1e-4)
    everything = np.stack(list(raw.values()))
    assert np.abs(everything.mean(axis=(0, 2)) - mean).max() > 1e-2  # test clips would have moved them

    # The model saw exactly (raw - mean) / std: zero mean and unit std per bin over the training side.
    np.testing.assert_allclose(train.mean(axis=(0, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(train.std(axis=(0, 2)), 1.0, atol=1e-4)
    reloaded = EmotionProcessor.from_pretrained(tmp_path / "out" / "model")
    for path in by_actor[actor]:
        got = reloaded(audio=path, return_tensors="np")["input_features"][0]
        expected = (raw[path] - mean[:, None]) / std[:, None]
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
        assert min(np.abs(t - got).max() for t in train) < 1e-3  # one of the inputs the model was trained on
