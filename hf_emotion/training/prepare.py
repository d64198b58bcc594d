"""Turn a corpus into a model-ready feature dataset once (cached on disk), so training never decodes video.

A prepared dataset has one row per clip with ``input_features`` (log-Mel or MFCC), ``frame_features`` (frozen
backbone embeddings, the fast path) or ``pixel_values_videos``, optionally ``text_features``, plus ``label``
(`ClassLabel`), ``speaker`` (and ``session`` where the corpus has one), ``path`` and ``transcript`` (where the
corpus has one) — enough for :func:`hf_emotion.data.get_fold` to split it speaker-independently. TF-IDF
``text_features`` are not cached: :func:`add_text_features` fits the featurizer on each training split's
transcripts, so no test transcript shapes the vocabulary or the IDF.

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
from hf_emotion.models.text_featurization import TfidfTextFeaturizer

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


def prepare_features(
    dataset: Dataset,
    processor: EmotionProcessor,
    frame_encoder: EmotionFrameEncoder | None = None,
    text_featurizer: Any = None,
    num_proc: int | None = None,
) -> Dataset:
    """Compute the model inputs of every row of a loaded corpus.

    Args:
        dataset (`datasets.Dataset`): a corpus from `hf_emotion.data.load_corpus` (media or `path` columns).
        processor (`EmotionProcessor`): audio/video settings; its `modalities` pick what is computed.
        frame_encoder (`EmotionFrameEncoder`, *optional*): with video, cache `frame_features` with this frozen
            backbone; without it, `pixel_values_videos` are stored (large: only for small images/frame counts).
        text_featurizer (*optional*): a fitted featurizer (``texts -> (batch, dim)``) for `text_features`;
            without one, `text_features` are left to :func:`add_text_features` (the transcripts are kept).
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
    if "text" in modalities and text_featurizer is not None:
        dataset = _with_text_features(dataset, text_featurizer)
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


def _with_text_features(dataset: Dataset, featurizer: Any) -> Dataset:
    _require_transcripts(dataset)
    vectors = featurizer(list(dataset["transcript"]))  # (rows, vocabulary)
    return dataset.add_column("text_features", [row.tolist() for row in vectors])


def add_text_features(
    splits: DatasetDict, config: PretrainedConfig, featurizer: Any = None
) -> tuple[DatasetDict, PretrainedConfig, Any]:
    """TF-IDF `text_features` for every split when the config uses the 'text' modality.

    Without `featurizer`, a `TfidfTextFeaturizer(max_features=config.text_feature_dim)` is fitted on the
    ``"train"`` split's transcripts only, and a copy of `config` gets `text_feature_dim` = its vocabulary size
    (a small corpus may have fewer terms than the configured maximum). With `featurizer` (a trained model's, from
    its processor), its vocabulary must match the config.

    Returns:
        `(splits, config, featurizer)`, unchanged when the config does not use text or the splits already have
        `text_features`.
    """
    if "text" not in getattr(config, "modalities", ()) or all(
        "text_features" in split.column_names for split in splits.values()
    ):
        return splits, config, featurizer
    if featurizer is None:
        if "train" not in splits:
            raise ValueError("Fitting the TF-IDF featurizer needs a 'train' split.")
        train = splits["train"]
        _require_transcripts(train)
        featurizer = TfidfTextFeaturizer(max_features=config.text_feature_dim).fit(train["transcript"])
        config = copy.deepcopy(config)
        config.text_feature_dim = featurizer.vocabulary_size
    elif featurizer.vocabulary_size != config.text_feature_dim:
        raise ValueError(
            f"The text featurizer has {featurizer.vocabulary_size} terms but the model expects "
            f"text_feature_dim={config.text_feature_dim}: use the featurizer saved with this model's processor."
        )
    splits = DatasetDict({name: _with_text_features(split, featurizer) for name, split in splits.items()})
    return splits, config, featurizer


def _cache_processor(config: PretrainedConfig) -> EmotionProcessor:
    """The processor of the cache: audio AND video whatever the config's modality subset (plus text when the
    config uses it), so that the modality ablations of one model share one cache."""
    processor = EmotionProcessor.from_model_config(config)
    processor.modalities = [
        m for m in ("audio", "video", "text") if m != "text" or "text" in processor.modalities
    ]
    return processor


def feature_settings(config: PretrainedConfig, frozen: bool, seed: int) -> dict[str, Any]:
    """What a prepared dataset depends on (compared with a cache's `prepare_info.json`)."""
    processor = _cache_processor(config)
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
    text_featurizer: Any = None,
    num_proc: int | None = None,
    frame_encoder: EmotionFrameEncoder | None = None,
    strict: bool = False,
    skipped: list[dict[str, str]] | None = None,
    shard_size: int = 64,
) -> tuple[Dataset, EmotionFrameEncoder | None]:
    """Prepared features for `dataset` and a model `config`, reused from `cache_dir` when they match.

    With `frozen_backbone` and a config with `freeze_backbone=True` and a `frame_encoder`, frames are embedded once by a frozen copy of
    the backbone (seeded random init unless the config asks for pretrained weights) which is returned so that
    :func:`hf_emotion.training.build_model` can put the same weights in the model.

    A given `frame_encoder` (e.g. a trained model's own backbone) is used instead of a fresh one; the cache is
    then not used.

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
    if frame_encoder is not None:
        processor = EmotionProcessor.from_model_config(config)
        features, failures = prepare_in_shards(
            dataset,
            lambda part: prepare_features(part, processor, frame_encoder, text_featurizer, num_proc),
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
    settings = feature_settings(config, frozen, seed)
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
    processor = _cache_processor(config)
    if "text" not in processor.modalities:
        text_featurizer = None
    settings_key = json.dumps(
        {k: v for k, v in settings.items() if k not in ("corpus", "files")}, sort_keys=True
    )
    features, failures = prepare_in_shards(
        dataset,
        lambda part: prepare_features(
            part, processor, encoder, text_featurizer=text_featurizer, num_proc=num_proc
        ),
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
