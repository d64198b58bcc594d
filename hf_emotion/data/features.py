"""Precompute model inputs once, so training epochs never decode video again.

Recipe (works for any loader's `datasets.Dataset` with `audio` / `video` media columns or a `path` column)::

    from hf_emotion.data import load_ravdess
    from hf_emotion.data.features import cache_frame_features, prepare_dataset
    from hf_emotion.models.processing_emotion import EmotionProcessor

    dataset = load_ravdess("RAVDESS/")
    processor = EmotionProcessor()

    # 1. Audio features (and, if you can afford the disk, pixels) with Dataset.map(num_proc=...):
    dataset = prepare_dataset(dataset, processor, num_proc=2)             # adds `input_features`

    # 2. Frozen-backbone per-frame embeddings: pass the model's own frame encoder so the features match
    #    the backbone the model was built with (or a timm name + local checkpoint for pretrained weights).
    dataset = cache_frame_features(dataset, model.tucker_av.video_encoder.frame_encoder, processor=processor)  # `frame_features`

    # 3. Train on the cached columns; the model takes `frame_features` (batch, frames, dim) instead of pixels.
    dataset = dataset.select_columns(["input_features", "frame_features", "label"]).with_format("torch")

Costs: `input_features` is 128 × 256 float32 = 128 KiB per clip; `pixel_values_videos` is 90 × 3 × 224 × 224
float32 = 54 MiB per clip (hence `include_pixels=False` by default); `frame_features` is 90 × 512 float32 =
180 KiB per clip with ResNet-18. `datasets` caches each `map` result on disk (keyed by the function and its
arguments), so a second run with the same inputs reloads instead of recomputing.

Augmentation does not mix with caching: cached features are fixed. Cache the evaluation split; for training
either cache without augmentation or augment on the fly (see :mod:`hf_emotion.data.augment`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np
import torch
from datasets import Array2D, Array4D, Audio, Dataset, Features, Video

from hf_emotion.models.modeling_common import EmotionFrameEncoder

logger = logging.getLogger(__name__)


def _undecoded(dataset: Dataset) -> Dataset:
    """The same dataset with its Audio/Video columns left as {"path", "bytes"} (decoded by us, not by datasets)."""
    for name, feature in dataset.features.items():
        if isinstance(feature, Audio) and feature.decode:
            dataset = dataset.cast_column(name, Audio(sampling_rate=feature.sampling_rate, decode=False))
        elif isinstance(feature, Video) and feature.decode:
            dataset = dataset.cast_column(name, Video(decode=False))
    return dataset


def _map_with_media_paths(
    dataset: Dataset, function, new_columns: dict[str, Any], desc: str, **map_kwargs
) -> Dataset:
    """`dataset.map(function, batched=True)` over undecoded media columns, adding typed `new_columns`; the media
    columns get their decoding features back afterwards (a metadata-only cast)."""
    undecoded = _undecoded(dataset)
    features = Features({**undecoded.features, **new_columns})
    mapped = undecoded.map(function, batched=True, features=features, desc=desc, **map_kwargs)
    for name, feature in dataset.features.items():
        if isinstance(feature, (Audio, Video)) and feature.decode:
            mapped = mapped.cast_column(name, feature)
    return mapped


def _media_source(value: Any, kind: str) -> Any:
    """A path string when the file is on disk, else a torchcodec decoder over the stored bytes."""
    if isinstance(value, dict):
        path, data = value.get("path"), value.get("bytes")
        if path and os.path.isfile(path) and data is None:
            return path
        if data is not None:
            from torchcodec.decoders import AudioDecoder, VideoDecoder

            return AudioDecoder(data) if kind == "audio" else VideoDecoder(data, dimension_order="NHWC")
        raise ValueError(f"The {kind} entry {value!r} has neither a readable `path` nor `bytes`.")
    return value


def _sources(batch: dict[str, list], kind: str) -> list | None:
    """Where to read one modality for a batch: its media column, else the `path` column (the clip's file)."""
    if kind in batch:
        return [_media_source(value, kind) for value in batch[kind]]
    if "path" in batch:
        return list(batch["path"])
    return None


def prepare_dataset(
    dataset: Dataset,
    processor: Any,
    num_proc: int | None = None,
    training: bool = False,
    include_pixels: bool = False,
    batch_size: int = 8,
) -> Dataset:
    """Add the processor's outputs as columns, with `Dataset.map(..., num_proc=num_proc)`.

    Args:
        dataset (`datasets.Dataset`): rows with `audio` / `video` media columns or a `path` column.
        processor (`EmotionProcessor`): its `modalities` pick what is computed.
        num_proc (`int`, *optional*): worker processes for `map`.
        training (`bool`, *optional*, defaults to `False`): random instead of centre audio crops (fixed once
            cached; see the module docstring).
        include_pixels (`bool`, *optional*, defaults to `False`): also store `pixel_values_videos` (54 MiB per
            clip at paper settings; prefer :func:`cache_frame_features`).
        batch_size (`int`, *optional*, defaults to 8): rows per `map` call.

    Returns:
        The dataset with `input_features` (batch, feature_size, frames) and, with `include_pixels`,
        `pixel_values_videos` columns; media columns are kept as they were.
    """
    want_audio = "audio" in processor.modalities
    want_video = include_pixels and "video" in processor.modalities
    if not (want_audio or want_video):
        raise ValueError(
            f"Nothing to prepare: the processor's modalities are {processor.modalities} and "
            f"include_pixels={include_pixels}."
        )
    extractor, video_processor = processor.feature_extractor, processor.video_processor
    new_columns = {}
    if want_audio:
        new_columns["input_features"] = Array2D((extractor.feature_size, extractor.num_frames), "float32")
    if want_video:
        size = video_processor.image_size
        new_columns["pixel_values_videos"] = Array4D((video_processor.num_frames, 3, size, size), "float32")

    parent = os.getpid()

    def featurize(batch: dict[str, list]) -> dict[str, Any]:
        if os.getpid() != parent:
            # A forked `map` worker: an OpenMP thread pool inherited from a parent that already ran torch ops
            # deadlocks on first use, and one thread per worker is what num_proc parallelism wants anyway.
            torch.set_num_threads(1)
        output: dict[str, Any] = {}
        if want_audio:
            audio = _sources(batch, "audio") or _sources(batch, "video")
            if audio is None:
                raise ValueError("The dataset has no `audio`, `video` or `path` column to read audio from.")
            output["input_features"] = extractor(audio, training=training, return_tensors="np")[
                "input_features"
            ]
        if want_video:
            videos = _sources(batch, "video")
            if videos is None:
                raise ValueError("The dataset has no `video` or `path` column to read frames from.")
            output["pixel_values_videos"] = video_processor(videos, return_tensors="np")[
                "pixel_values_videos"
            ]
        return output

    return _map_with_media_paths(
        dataset, featurize, new_columns, batch_size=batch_size, num_proc=num_proc, desc="Extracting features"
    )


def cache_frame_features(
    dataset: Dataset,
    frame_encoder: str | torch.nn.Module = "resnet18",
    processor: Any = None,
    pretrained: bool = False,
    checkpoint_path: str | None = None,
    batch_size: int = 4,
    device: str | torch.device = "cpu",
) -> Dataset:
    """Add a `frame_features` column (frames, dim): frozen-backbone embeddings of each clip's sampled frames.

    Args:
        dataset (`datasets.Dataset`): rows with a `video` media column or a `path` column.
        frame_encoder (`str` or `torch.nn.Module`, *optional*, defaults to `"resnet18"`): a timm model name (an
            `EmotionFrameEncoder` is built, frozen) or a module mapping (batch, frames, 3, H, W) to
            (batch, frames, dim), e.g. ``model.tucker_av.video_encoder.frame_encoder`` so the cache matches the model's backbone.
        processor (`EmotionProcessor` or `EmotionVideoProcessor`, *optional*): frame sampling and normalisation;
            defaults to the paper's 90 frames, 224 px, ImageNet normalisation.
        pretrained (`bool`) / checkpoint_path (`str`, *optional*): weights for a timm name (see
            `EmotionFrameEncoder`); random initialisation otherwise.
        batch_size (`int`, *optional*, defaults to 4): clips per encoder call.
        device (`str` or `torch.device`, *optional*, defaults to `"cpu"`).

    Runs in this process (the encoder is a torch model; `torch` threads parallelise it).
    """
    from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor

    video_processor = getattr(processor, "video_processor", processor) or EmotionVideoProcessor()
    if isinstance(frame_encoder, str):
        frame_encoder = EmotionFrameEncoder(
            frame_encoder, pretrained=pretrained, checkpoint_path=checkpoint_path, freeze=True
        )
    encoder, was_training = frame_encoder.to(device), frame_encoder.training
    encoder.eval()
    with torch.no_grad():
        probe = torch.zeros(1, 1, 3, video_processor.image_size, video_processor.image_size, device=device)
        dim = int(encoder(probe).shape[-1])  # (1, 1, dim)

    def encode(batch: dict[str, list]) -> dict[str, Any]:
        videos = _sources(batch, "video")
        if videos is None:
            raise ValueError("The dataset has no `video` or `path` column to read frames from.")
        pixels = video_processor(videos, return_tensors="pt")["pixel_values_videos"].to(device)
        with torch.no_grad():
            embeddings = encoder(pixels)  # (batch, frames, dim)
        return {"frame_features": embeddings.float().cpu().numpy().astype(np.float32)}

    new_columns = {"frame_features": Array2D((video_processor.num_frames, dim), "float32")}
    try:
        return _map_with_media_paths(
            dataset, encode, new_columns, batch_size=batch_size, desc="Encoding frames"
        )
    finally:
        encoder.train(was_training)
