"""Turn a corpus into a model-ready feature dataset once (cached on disk), so training never decodes video.

A run has ONE processor: built from the model config (`EmotionProcessor.from_model_config`), fitted on the
training split (:func:`fit_processor`), saved with the model, and used by training, evaluation and the plots.
Feature preparation is that processor mapped over the dataset (:func:`prepare_features`).

A prepared dataset has one row per clip with ``input_features`` (log-Mel or MFCC), ``frame_features`` (frozen
backbone embeddings, the fast path) or ``pixel_values_videos``, optionally ``text_features``, plus ``label``
(`ClassLabel`), ``speaker`` (and ``session`` where the corpus has one), ``path`` and ``transcript`` (where the
corpus has one) — enough for :func:`hf_emotion.data.get_fold` to split it speaker-independently. What is learnt
from data is not cached: the cache holds what the unfitted processor computes from the media (audio and video,
whatever the config's modality subset, so ablations share one cache); :func:`fit_processor` then fits the
processor on each training split (TF-IDF on its transcripts, so no test transcript shapes the vocabulary or the
IDF) and adds the fitted features (``text_features``) to every split.

Cache folder layout (``cache_dir``): ``features/`` (`Dataset.save_to_disk`), ``frame_encoder.safetensors`` (the
frozen backbone the embeddings came from) and ``prepare_info.json`` (what was computed, to detect a stale cache).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_from_disk
from safetensors.torch import load_file, save_file
from transformers import PretrainedConfig

from hf_emotion.data.features import cache_frame_features, prepare_dataset
from hf_emotion.models.modeling_common import EmotionFrameEncoder
from hf_emotion.models.processing_emotion import EmotionProcessor

from .factory import build_frame_encoder
from .feature_cache import (
    check_cache_writable,
    corpus_fingerprint,
    describe_change,
    file_signatures,
    prepare_in_shards,
)

logger = logging.getLogger(__name__)

KEEP_COLUMNS = ("label", "speaker", "session", "path", "transcript")


def _text_is_fitted(processor: EmotionProcessor) -> bool:
    featurizer = processor.text_featurizer
    return (
        "text" in processor.modalities and featurizer is not None and getattr(featurizer, "is_fitted", True)
    )


def prepare_features(
    dataset: Dataset,
    processor: EmotionProcessor,
    frame_encoder: EmotionFrameEncoder | None = None,
    num_proc: int | None = None,
) -> Dataset:
    """The processor mapped over every row of a loaded corpus: its model inputs, with its saved state (frame
    count, normalisation statistics, face crops, a fitted text featurizer) honoured.

    Args:
        dataset (`datasets.Dataset`): a corpus from `hf_emotion.data.load_corpus` (media or `path` columns).
        processor (`EmotionProcessor`): the run's (or a saved model's) processor; its `modalities` pick what is
            computed. `text_features` are computed only once its text featurizer is fitted.
        frame_encoder (`EmotionFrameEncoder`, *optional*): with video, cache `frame_features` with this frozen
            backbone; without it, `pixel_values_videos` are stored (large: only for small images/frame counts).
        num_proc (`int`, *optional*): processes for the audio features' `Dataset.map`.

    Returns:
        `datasets.Dataset` with the feature columns and `label`, `speaker` (`session`), `path`, `transcript`.
    """
    if len(dataset) == 0:
        raise ValueError("The dataset to prepare is empty: no clips were loaded.")
    modalities = processor.modalities
    with_video = "video" in modalities
    if "audio" in modalities or (with_video and frame_encoder is None):
        dataset = prepare_dataset(
            dataset, processor, num_proc=num_proc, include_pixels=with_video and frame_encoder is None
        )
    if with_video and frame_encoder is not None:
        dataset = cache_frame_features(dataset, frame_encoder, processor=processor)
    if _text_is_fitted(processor):
        dataset = _with_text_features(dataset, processor)
    keep = [
        c
        for c in dataset.column_names
        if c in KEEP_COLUMNS or c.endswith("_features") or c.startswith("pixel")
    ]
    return dataset.select_columns(keep)


def _require_transcripts(dataset: Dataset) -> None:
    if "transcript" not in dataset.column_names:
        raise ValueError(
            "The 'text' modality needs transcripts, and this data has none (CK+ has no speech; a features folder "
            "prepared by an older version kept none): drop 'text' from the config's `modalities`."
        )


def _with_text_features(dataset: Dataset, processor: EmotionProcessor) -> Dataset:
    _require_transcripts(dataset)
    if "text_features" in dataset.column_names:
        dataset = dataset.remove_columns("text_features")
    vectors = processor(text=list(dataset["transcript"]), return_tensors="np")["text_features"]  # (rows, dim)
    return dataset.add_column("text_features", [row.tolist() for row in vectors])


def add_processor_features(dataset: Dataset, processor: EmotionProcessor) -> Dataset:
    """What a FITTED processor adds to features prepared before it was fitted (a cache, a `--features-dir`):
    `text_features` from the transcripts when it reads text. Returns `dataset` unchanged otherwise."""
    return _with_text_features(dataset, processor) if _text_is_fitted(processor) else dataset


def normalize_prepared(dataset: Dataset, processor: EmotionProcessor) -> Dataset:
    """Standardise the raw `input_features` of features prepared without statistics (a cache, a
    `--features-dir`) with the processor's fitted per-bin statistics — what the fitted processor computes from
    the same audio. Returns `dataset` unchanged when the processor has no statistics or no audio."""
    extractor = processor.feature_extractor
    if (
        "input_features" not in dataset.column_names
        or "audio" not in processor.modalities
        or getattr(extractor, "normalization_mean", None) is None
    ):
        return dataset
    return dataset.map(
        lambda batch: {"input_features": extractor.normalize(batch["input_features"])},
        batched=True,
        desc="Normalising audio features",
    )


def fit_processor(
    processor: EmotionProcessor, splits: DatasetDict, config: PretrainedConfig | None = None
) -> tuple[DatasetDict, PretrainedConfig | None]:
    """Fit the run's processor IN PLACE on ``splits["train"]`` and apply what it learnt to every split.

    - With the 'text' modality: the TF-IDF featurizer is fitted on the training transcripts only, every split
      gets its `text_features`, and a copy of `config` gets `text_feature_dim` = the vocabulary size (a small
      corpus may have fewer terms than the configured maximum).
    - With a feature extractor that normalises (``do_normalize=True``): its per-bin statistics are fitted on the
      training split's (unnormalised, cached) `input_features`, and every split's `input_features` are
      standardised with them — what the fitted processor computes from the same audio.

    Returns:
        `(splits, config)`, unchanged when the processor learns nothing from data.
    """
    extractor = processor.feature_extractor
    normalize = "audio" in processor.modalities and getattr(extractor, "do_normalize", False)
    if "text" not in processor.modalities and not normalize:
        return splits, config
    if "train" not in splits:
        raise ValueError("Fitting the processor needs a 'train' split.")
    if normalize:
        extractor.fit_normalization_from_features(splits["train"].with_format("numpy")["input_features"])
        splits = DatasetDict({name: normalize_prepared(split, processor) for name, split in splits.items()})
    if "text" in processor.modalities:
        _require_transcripts(splits["train"])
        processor.fit(texts=splits["train"]["transcript"])
        splits = DatasetDict(
            {name: add_processor_features(split, processor) for name, split in splits.items()}
        )
        if config is not None:
            config = copy.deepcopy(config)
            config.text_feature_dim = processor.text_featurizer.vocabulary_size
    return splits, config


def _media_processor(processor: EmotionProcessor) -> EmotionProcessor:
    """The run's processor (same feature extractor and video processor objects) computing audio AND video
    whatever its modality subset and no text: the modality ablations of one model share one cache."""
    media = copy.copy(processor)
    media.modalities = ["audio", "video"]
    media.text_featurizer = None
    return media


def feature_settings(
    processor: EmotionProcessor, config: PretrainedConfig, frozen: bool, seed: int
) -> dict[str, Any]:
    """What a prepared dataset depends on (compared with a cache's `prepare_info.json`)."""
    processor = _media_processor(processor)
    return {
        "feature_extractor": processor.feature_extractor.to_dict(),
        "video_processor": {
            k: v for k, v in processor.video_processor.to_dict().items() if not k.startswith("_")
        },
        "modalities": processor.modalities,
        "frame_encoder": getattr(config, "frame_encoder", None) if frozen else None,
        "backbone_pretrained": bool(getattr(config, "backbone_pretrained", False)),
        "encoder_seed": seed if frozen else None,
        "kept_columns": list(KEEP_COLUMNS),
        "hf_emotion_version": _package_version(),
    }


def _package_version() -> str:
    import hf_emotion

    return getattr(hf_emotion, "__version__", "unknown")


def load_or_prepare(
    dataset: Dataset,
    config: PretrainedConfig,
    cache_dir: str | Path | None = None,
    frozen_backbone: bool = True,
    seed: int = 0,
    num_proc: int | None = None,
    frame_encoder: EmotionFrameEncoder | None = None,
    strict: bool = False,
    skipped: list[dict[str, str]] | None = None,
    shard_size: int = 64,
    processor: EmotionProcessor | None = None,
) -> tuple[Dataset, EmotionFrameEncoder | None]:
    """Prepared features for `dataset` and a model `config`, reused from `cache_dir` when they match.

    With `frozen_backbone` and a config with `freeze_backbone=True` and a `frame_encoder`, frames are embedded once by a frozen copy of
    the backbone (seeded random init unless the config asks for pretrained weights) which is returned so that
    :func:`hf_emotion.training.build_model` can put the same weights in the model.

    A given `frame_encoder` (e.g. a trained model's own backbone) is used instead of a fresh one; the cache is
    then not used. `processor` is the run's processor (default: `EmotionProcessor.from_model_config(config)`);
    the cache holds its unfitted audio and video features (see the module docstring).

    The cache is keyed on every clip's path, label, size and modification time, the processor settings and the
    package version (see :mod:`hf_emotion.training.feature_cache`); a stale cache is rebuilt with a WARNING that
    says what changed. Work is saved in shards of `shard_size` clips, so an interrupted run continues where it
    stopped. A clip that cannot be read is left out and appended to `skipped` as ``{"path", "reason"}`` (also
    kept in the cache's ``skipped.json``); with `strict` the first one raises instead. An unwritable cache folder
    raises `OSError` before any extraction.

    Returns:
        `(features, frame_encoder)`; `frame_encoder` is `None` without the frozen-backbone path.
    """
    skipped = skipped if skipped is not None else []
    signatures = file_signatures(dataset)
    if processor is None:
        processor = EmotionProcessor.from_model_config(config)
    if frame_encoder is not None:
        features, failures = prepare_in_shards(
            dataset,
            lambda part: prepare_features(part, processor, frame_encoder, num_proc),
            signatures,
            "",
            shard_size=shard_size,
            strict=strict,
        )
        skipped.extend(failures)
        return features, frame_encoder
    frozen = (
        frozen_backbone
        and bool(getattr(config, "freeze_backbone", False))
        and config.frame_encoder is not None
    )
    settings = feature_settings(processor, config, frozen, seed)
    settings["corpus"] = corpus_fingerprint(dataset, signatures)
    settings["files"] = signatures
    settings = json.loads(json.dumps(settings))
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        check_cache_writable(cache)
    if cache is not None and (cache / "prepare_info.json").is_file():
        try:
            info = json.loads((cache / "prepare_info.json").read_text())
        except ValueError:  # a truncated file: the cache was not finished
            info = {}
        if info == settings and (cache / "features").is_dir():
            try:
                encoder = None
                if frozen:
                    encoder = build_frame_encoder(config, seed)
                    encoder.load_state_dict(load_file(cache / "frame_encoder.safetensors"))
                reused = load_from_disk(str(cache / "features"))
                previous = json.loads((cache / "skipped.json").read_text())
            except Exception as error:  # truncated or missing cache files: rebuild
                logger.warning(
                    "The feature cache %s is damaged (%s); preparing the features again.", cache, error
                )
            else:
                logger.info("Reusing prepared features from %s", cache)
                skipped.extend(previous)
                return reused, encoder
        else:
            logger.warning(
                "The feature cache %s is stale (%s); preparing the features again.",
                cache,
                describe_change(info, settings),
            )
    encoder = build_frame_encoder(config, seed) if frozen else None
    media = _media_processor(processor)
    settings_key = json.dumps(
        {k: v for k, v in settings.items() if k not in ("corpus", "files")}, sort_keys=True
    )
    features, failures = prepare_in_shards(
        dataset,
        lambda part: prepare_features(part, media, encoder, num_proc=num_proc),
        signatures,
        settings_key,
        shard_dir=cache / "shards" if cache is not None else None,
        shard_size=shard_size,
        strict=strict,
    )
    skipped.extend(failures)
    if cache is not None:
        (cache / "prepare_info.json").unlink(missing_ok=True)  # the cache is invalid until all is written
        shutil.rmtree(cache / "features", ignore_errors=True)
        features.save_to_disk(str(cache / "features"))
        features = load_from_disk(str(cache / "features"))
        if encoder is not None:
            save_file(
                {k: v.contiguous() for k, v in encoder.state_dict().items()},
                cache / "frame_encoder.safetensors",
            )
        (cache / "skipped.json").write_text(json.dumps(failures, indent=1))
        (cache / "prepare_info.json").write_text(json.dumps(settings, indent=1))
        shutil.rmtree(cache / "shards", ignore_errors=True)  # now held by features/
    return features, encoder
