"""Glue shared by the example scripts and the CLI: corpus → prepared features → fold → model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_from_disk
from safetensors.torch import load_file
from transformers import PretrainedConfig

from hf_emotion.data import get_fold, load_corpus, make_synthetic_corpus
from hf_emotion.data.corpora import CORPORA
from hf_emotion.data.loading import check_exists
from hf_emotion.models.modeling_common import EmotionFrameEncoder
from hf_emotion.models.processing_emotion import EmotionProcessor

from .factory import build_config, build_frame_encoder
from .prepare import load_or_prepare

logger = logging.getLogger(__name__)


def load_labelled_corpus(
    corpus: str,
    data_dir: str | Path,
    make_synthetic: bool = False,
    synthetic_actors: int = 8,
    seed: int = 0,
    **kwargs,
) -> Dataset:
    """Load a corpus by name; for ``synthetic`` with `make_synthetic`, write it first when `data_dir` is empty."""
    key = corpus.lower().replace("-", "_").replace("+", "plus")
    if key not in CORPORA:
        raise ValueError(f"Unknown corpus {corpus!r}; choose one of {sorted(CORPORA)}.")
    if key == "synthetic" and make_synthetic:
        make_synthetic_corpus(data_dir, n_actors=synthetic_actors, seed=seed, **kwargs)
    check_exists(
        data_dir,
        "corpus folder",
        "run `hf-emotion make-corpus` first, or pass --make_synthetic"
        if key == "synthetic"
        else "pass the folder that holds the corpus",
    )
    return load_corpus(key, data_dir)


def load_prepared_dir(features_dir: str | Path, config: PretrainedConfig | None = None, seed: int = 0):
    """A prepared feature folder: the cache layout of `load_or_prepare` (``features/`` + optional
    ``frame_encoder.safetensors``) or a bare `Dataset.save_to_disk` folder. Returns `(features, encoder)`."""
    path = Path(features_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"The prepared features folder {path} does not exist.")
    data_path = path / "features" if (path / "features").is_dir() else path
    try:
        features = load_from_disk(str(data_path))
    except FileNotFoundError as error:
        raise FileNotFoundError(f"{data_path} holds no saved dataset (Dataset.save_to_disk).") from error
    if isinstance(features, DatasetDict):
        raise ValueError(f"{data_path} holds a DatasetDict; give one prepared Dataset of the whole corpus.")
    encoder = None
    weights = path / "frame_encoder.safetensors"
    if weights.is_file() and config is not None and getattr(config, "frame_encoder", None):
        encoder = build_frame_encoder(config, seed)
        encoder.load_state_dict(load_file(weights))
    return features, encoder


def label_names(features: Dataset) -> dict[int, str]:
    feature = features.features.get("label")
    if feature is None or not hasattr(feature, "names"):
        raise ValueError(f"The dataset needs a `label` ClassLabel column; it has {features.column_names}.")
    return dict(enumerate(feature.names))


def split_fold(
    features: Dataset,
    protocol: str = "speaker",
    fold: int = 0,
    n_folds: int | None = None,
    corpus: str | None = None,
    seed: int = 0,
) -> DatasetDict:
    """`hf_emotion.data.get_fold` with a check that neither side is empty."""
    splits = get_fold(features, protocol=protocol, fold=fold, n_folds=n_folds, corpus=corpus, seed=seed)
    for name in ("train", "test"):
        if name not in splits or len(splits[name]) == 0:
            raise ValueError(f"The {name} split of fold {fold} ({protocol} protocol) is empty.")
    return splits


def load_experiment(
    model_type: str,
    preset: str = "paper",
    config_overrides: dict[str, Any] | None = None,
    corpus: str | None = "synthetic",
    data_dir: str | Path | None = None,
    features_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    frozen_backbone: bool | None = None,
    seed: int = 0,
    strict: bool = False,
    skipped: list[dict[str, str]] | None = None,
    **corpus_kwargs: Any,
) -> tuple[PretrainedConfig, EmotionProcessor, Dataset, EmotionFrameEncoder | None]:
    """The model config (labels from the data), the run's processor and the prepared features of an experiment: from
    `features_dir` when given, else from the corpus in `data_dir` (prepared once, cached in `cache_dir`).
    `frozen_backbone`, when given, overrides the config's `freeze_backbone` (True: cached frame features of a
    frozen backbone; False: the backbone trains on pixels). Clips that cannot be read are left out and listed
    in `skipped` (``{"path", "reason"}``), or raise with `strict` (see `load_or_prepare`).

    Returns:
        `(config, processor, features, frame_encoder)`: `processor` is the run's one processor, built from the
        config and not fitted yet (:func:`hf_emotion.training.prepare.fit_processor` fits it on the training
        split); `frame_encoder` is the frozen backbone of the cached `frame_features` (to copy into the model),
        or `None`.
    """
    overrides = dict(config_overrides or {})
    if frozen_backbone is not None:
        overrides["freeze_backbone"] = frozen_backbone
    if features_dir is not None:
        features, _ = load_prepared_dir(features_dir)
        config = build_config(model_type, label_names(features), preset, overrides)
        _, encoder = load_prepared_dir(features_dir, config, seed)
        return config, EmotionProcessor.from_model_config(config), features, encoder
    if corpus is None or data_dir is None:
        raise ValueError("Give either a prepared features folder or a corpus name and its folder.")
    dataset = load_labelled_corpus(corpus, data_dir, seed=seed, **corpus_kwargs)
    config = build_config(model_type, label_names(dataset), preset, overrides)
    processor = EmotionProcessor.from_model_config(config)
    features, encoder = load_or_prepare(
        dataset, config, cache_dir=cache_dir, seed=seed, strict=strict, skipped=skipped, processor=processor
    )
    return config, processor, features, encoder
