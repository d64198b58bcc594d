"""Batching of prepared feature datasets: a data collator and a seeded, epoch-aware sampler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

MODEL_INPUT_COLUMNS = ("input_features", "pixel_values_videos", "frame_features", "text_features")
"""Columns a prepared dataset may hold that the models take as inputs (see `hf_emotion.training.prepare`)."""


class EmotionDataCollator:
    """Stack prepared rows into model inputs: every column of `MODEL_INPUT_COLUMNS` present becomes a float
    tensor (batch, ...) and `label` (or `labels`) becomes `labels` (batch,) int64. Other columns are dropped.

    Args:
        input_names (`Sequence[str]`, *optional*): restrict the inputs to these columns (e.g. only
            ``["input_features"]`` for an audio-only model); defaults to every known column present.
    """

    def __init__(self, input_names: Sequence[str] | None = None):
        unknown = [n for n in input_names or () if n not in MODEL_INPUT_COLUMNS]
        if unknown:
            raise ValueError(f"Unknown model inputs {unknown}; choose from {list(MODEL_INPUT_COLUMNS)}.")
        self.input_names = tuple(input_names) if input_names else MODEL_INPUT_COLUMNS

    def __call__(self, rows: Sequence[Mapping]) -> dict[str, torch.Tensor]:
        if not rows:
            raise ValueError("Cannot collate an empty batch.")
        batch: dict[str, torch.Tensor] = {}
        for name in self.input_names:
            if name in rows[0] and rows[0][name] is not None:
                batch[name] = torch.stack(
                    [torch.as_tensor(np.asarray(row[name]), dtype=torch.float32) for row in rows]
                )
        label_key = "labels" if "labels" in rows[0] else "label" if "label" in rows[0] else None
        if label_key is not None:
            batch["labels"] = torch.as_tensor([int(row[label_key]) for row in rows], dtype=torch.long)
        if not batch:
            raise ValueError(
                f"The rows hold none of the model inputs {list(self.input_names)} (columns: {sorted(rows[0])}); "
                "prepare the dataset first (hf_emotion.training.prepare_features)."
            )
        return batch


def model_input_names(config) -> list[str]:
    """The prepared columns a model with this config reads: audio → `input_features`, video → `frame_features`
    (frozen backbone / no frame encoder) or `pixel_values_videos`, text → `text_features`."""
    names = []
    modalities = list(getattr(config, "modalities", ["audio", "video"]))
    if "audio" in modalities:
        names.append("input_features")
    if "video" in modalities:
        frozen = getattr(config, "frame_encoder", None) is None or getattr(config, "freeze_backbone", False)
        names.append("frame_features" if frozen else "pixel_values_videos")
    if "text" in modalities:
        names.append("text_features")
    return names


class EpochShuffleSampler(Sampler[int]):
    """A permutation of ``range(num_samples)`` drawn from ``seed + epoch`` with its own generator: the same on
    every process (Accelerate then shards the batches) and after a resume, and it never touches the global RNG
    (so dropout masks are the same in an interrupted and an uninterrupted run). Call `set_epoch` each epoch."""

    def __init__(self, num_samples: int, seed: int = 0):
        if num_samples < 1:
            raise ValueError("The training split is empty: no rows to sample.")
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(self.num_samples, generator=generator).tolist()

    def __len__(self) -> int:
        return self.num_samples
