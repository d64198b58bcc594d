"""Modality dropout puts in a dropped modality what a missing stream gives at inference — the processor's features
of silence and of black frames (what the pipeline feeds for a window without sound or picture) — not zeros."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator

from hf_emotion.models.processing_emotion import EmotionProcessor
from hf_emotion.training import LoopArguments, build_config, build_model, parse_config_overrides, train_model
from hf_emotion.training.collate import apply_modality_dropout, missing_modality_inputs

sys.path.insert(0, str(Path(__file__).parent))
from training_fixtures import LABELS, TINY_TUCKER, make_feature_dataset  # noqa: E402


def tiny_config(**overrides):
    return build_config(
        "tucker_av", dict(enumerate(LABELS)), "paper", {**parse_config_overrides(TINY_TUCKER), **overrides}
    )


def test_missing_inputs_are_the_processors_features_of_silence_and_black_frames():
    processor = EmotionProcessor.from_model_config(tiny_config())
    missing = processor.missing_inputs()
    extractor, video = processor.feature_extractor, processor.video_processor
    # reference: the processor's own __call__ on a silent clip and black frames built here
    silence = np.zeros(int(extractor.clip_seconds * extractor.sampling_rate), dtype=np.float32)
    black = np.zeros((video.num_frames, video.image_size, video.image_size, 3), dtype=np.uint8)
    expected = processor(videos=black, audio=silence, sampling_rate=extractor.sampling_rate)
    assert torch.equal(missing["input_features"], expected["input_features"][0])
    assert torch.equal(missing["pixel_values_videos"], expected["pixel_values_videos"][0])
    assert float(missing["input_features"].max()) < 0  # log of the floor, not zero


def test_dropped_clips_get_the_fill_and_kept_clips_stay():
    config = tiny_config()
    n = 200
    batch = {"input_features": torch.randn(n, 3, 5) + 5, "frame_features": torch.randn(n, 2, 4) + 5}
    fill = {"input_features": torch.full((3, 5), -7.0)}  # no fill for frame_features: zeros
    out = apply_modality_dropout(batch, 0.5, config, generator=torch.Generator().manual_seed(0), fill=fill)
    audio_filled = (out["input_features"] == -7.0).flatten(1).all(1)
    video_zeroed = (out["frame_features"] == 0).flatten(1).all(1)
    assert audio_filled.any() and video_zeroed.any() and not (audio_filled & video_zeroed).any()
    kept_audio, kept_video = ~audio_filled, ~video_zeroed
    assert torch.equal(out["input_features"][kept_audio], batch["input_features"][kept_audio])
    assert torch.equal(out["frame_features"][kept_video], batch["frame_features"][kept_video])


def test_frame_features_fill_is_the_models_frozen_encoder_on_black_frames():
    config = tiny_config(
        frame_encoder="test_resnet", frame_feature_dim=96, image_size=32, freeze_backbone=True
    )
    model = build_model(config).train()
    processor = EmotionProcessor.from_model_config(config)
    fill = missing_modality_inputs(model, processor)
    encoder = model.tucker_av.video_encoder.frame_encoder.eval()
    with torch.no_grad():
        expected = encoder(processor.missing_inputs()["pixel_values_videos"][None])[0]
    assert torch.allclose(fill["frame_features"], expected)
    assert model.tucker_av.video_encoder.frame_encoder is encoder and model.training


def test_the_loop_feeds_the_processors_missing_inputs_to_dropped_modalities(tmp_path, monkeypatch):
    config = tiny_config()
    model = build_model(config)
    model.processor = EmotionProcessor.from_model_config(config)
    data = make_feature_dataset(n_speakers=1)
    silence = model.processor.missing_inputs()["input_features"]
    seen = []
    real_forward = type(model).forward

    def forward(self, *args, **kwargs):
        if self.training:
            seen.append(kwargs["input_features"].detach().clone())
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(type(model), "forward", forward)
    args = LoopArguments(
        output_dir=str(tmp_path), max_steps=3, per_device_train_batch_size=8, progress=False, augment=False,
        modality_dropout=1.0, eval_every_epoch=False,
    )  # fmt: skip
    train_model(model, data, args, accelerator=Accelerator(cpu=True))
    audio = torch.cat(seen)
    filled = (audio == silence).flatten(1).all(1)
    assert filled.any() and not (audio == 0).flatten(1).all(1).any()  # silence's features, never zeros
