"""Tiny prepared feature datasets with a class-dependent signal, and a tiny `tucker_av` config, for the training
tests (no media decoding: seconds, not minutes)."""

from __future__ import annotations

import numpy as np
from datasets import Array2D, ClassLabel, Dataset, Features, Value

from hf_emotion.training import LoopArguments

LABELS = ["calm", "happy", "sad", "angry"]
MELS, AUDIO_FRAMES, FRAMES, FRAME_DIM = 16, 32, 6, 8

TINY_TUCKER = (
    "frame_encoder=None,num_mel_bins=16,num_audio_frames=32,audio_conv_channels=[4,8],audio_temporal_kernel=3,"
    "num_frames=6,frame_feature_dim=8,gru_hidden_size=8,hidden_size=8,num_attention_heads=2,num_time_steps=4,"
    "tucker_time_rank=2,tucker_audio_rank=4,tucker_video_rank=4,fbp_output_size=8,fbp_factor=2,"
    "classifier_dropout=0.1"
)
"""`--config_overrides` of a tucker_av small enough to train in seconds on features of this module."""


def make_feature_dataset(
    n_speakers: int = 4, clips_per_label: int = 4, seed: int = 0, signal: float = 1.5
) -> Dataset:
    """Random log-Mel-like and frame-feature tensors: audio carries the label in the mean of a band of Mel bins
    (one band per class), video in one frame-feature dimension per class; plus unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    rows = {"input_features": [], "frame_features": [], "label": [], "speaker": [], "path": []}
    for speaker in range(n_speakers):
        for label in range(len(LABELS)):
            for index in range(clips_per_label):
                audio = rng.normal(size=(MELS, AUDIO_FRAMES)).astype(np.float32)
                band = MELS // len(LABELS)
                audio[label * band : (label + 1) * band] += signal
                video = rng.normal(size=(FRAMES, FRAME_DIM)).astype(np.float32)
                video[:, label] += signal
                rows["input_features"].append(audio)
                rows["frame_features"].append(video)
                rows["label"].append(label)
                rows["speaker"].append(f"{speaker + 1:02d}")
                rows["path"].append(f"Actor_{speaker + 1:02d}/clip_{label}_{index}.mp4")
    features = Features(
        {
            "input_features": Array2D((MELS, AUDIO_FRAMES), "float32"),
            "frame_features": Array2D((FRAMES, FRAME_DIM), "float32"),
            "label": ClassLabel(names=LABELS),
            "speaker": Value("string"),
            "path": Value("string"),
        }
    )
    return Dataset.from_dict(rows, features=features)


def loop_args(output_dir, **overrides) -> LoopArguments:
    """10 steps of batch 8 on `make_feature_dataset()`, a checkpoint every 2 steps, no progress bar; `overrides`
    set any other `LoopArguments` field."""
    args = LoopArguments(
        output_dir=str(output_dir),
        max_steps=10,
        per_device_train_batch_size=8,
        learning_rate=3e-3,
        checkpointing_steps=2,
        logging_steps=1,
        eval_every_epoch=False,
        progress=False,
    )
    for key, value in overrides.items():
        setattr(args, key, value)
    return args
