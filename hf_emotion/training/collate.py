"""Batching of prepared feature datasets: a data collator and a seeded, epoch-aware sampler."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from hf_emotion.models.modeling_common import (
    FRAME_FEATURES_NAME,
    MODEL_INPUT_NAMES,
    EmotionFrameEncoder,
    model_input_names,
)

__all__ = [
    "EmotionDataCollator",
    "EpochShuffleSampler",
    "apply_modality_dropout",
    "missing_modality_inputs",
    "model_input_names",
]

MODEL_INPUT_COLUMNS = (*MODEL_INPUT_NAMES.values(), FRAME_FEATURES_NAME)
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


def _modality_inputs(modality: str) -> tuple[str, ...]:
    """The batch entries that can carry a modality (video: pixels or precomputed frame features)."""
    return (MODEL_INPUT_NAMES[modality], *((FRAME_FEATURES_NAME,) if modality == "video" else ()))


def apply_modality_dropout(
    batch: dict[str, torch.Tensor],
    probability: float,
    config,
    generator: torch.Generator | None = None,
    fill: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Modality dropout for a training batch: each clip, with `probability`, has the input of ONE of the model's
    modalities (drawn uniformly) replaced by what a missing stream gives — `fill[name]`, one clip's input (see
    `missing_modality_inputs`), or zeros for an input `fill` lacks — so the model learns to cope when a modality
    is missing. Models with a single modality are left alone. Returns a new dict; the given tensors are not
    modified.

    Args:
        batch (`dict`): collated model inputs (see `EmotionDataCollator`), `labels` included or not.
        probability (`float`): per-clip probability of dropping one modality.
        config: the model config (its `modalities`).
        generator (`torch.Generator`, *optional*): the source of the random draws.
        fill (`Mapping[str, torch.Tensor]`, *optional*): per input name, the one-clip input of a missing stream.
    """
    present = [
        [name for name in _modality_inputs(m) if name in batch]
        for m in getattr(config, "modalities", None) or ["audio", "video"]
    ]
    present = [names for names in present if names]
    if probability <= 0 or len(present) < 2:
        return batch
    size = batch[present[0][0]].shape[0]
    dropped = torch.rand(size, generator=generator) < probability  # (batch,)
    which = torch.randint(len(present), (size,), generator=generator)  # (batch,)
    batch = dict(batch)
    for index, names in enumerate(present):
        keep = ~(dropped & (which == index))  # (batch,)
        for name in names:
            tensor = batch[name]
            missing = (fill or {}).get(name)
            missing = torch.zeros_like(tensor[0]) if missing is None else missing.to(tensor)
            batch[name] = torch.where(keep.view(-1, *([1] * (tensor.dim() - 1))), tensor, missing)
    return batch


@torch.no_grad()
def missing_modality_inputs(model, processor) -> dict[str, torch.Tensor]:
    """What modality dropout puts in a dropped modality: the processor's features of silence and of black frames
    (`EmotionProcessor.missing_inputs`, what the pipeline feeds for a missing stream), and for precomputed
    `frame_features` the model's own frame encoder applied to those black frames (omitted — zeros — when the
    model has none or the processor makes no video inputs)."""
    inputs = dict(processor.missing_inputs()) if processor is not None else {}
    pixels = inputs.get(MODEL_INPUT_NAMES["video"])
    encoder = next((m for m in model.modules() if isinstance(m, EmotionFrameEncoder)), None)
    if pixels is not None and encoder is not None:
        training = encoder.training
        encoder.eval()
        parameter = next(encoder.parameters())
        inputs[FRAME_FEATURES_NAME] = encoder(pixels[None].to(parameter))[0].float()
        encoder.train(training)
    return inputs


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
