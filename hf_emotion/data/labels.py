"""Emotion label sets of the supported corpora and cross-corpus label harmonisation.

Each corpus keeps its OWN label names in its loader's ``label`` column (a ``datasets.ClassLabel``), in the
order listed here (the class id is the position in the tuple):

=========== ====================================================================================
corpus      labels (class id order)
=========== ====================================================================================
RAVDESS     neutral, calm, happy, sad, angry, fearful, disgust, surprised  (file codes 01-08)
CREMA-D     anger, disgust, fear, happy, neutral, sad  (file codes ANG, DIS, FEA, HAP, NEU, SAD)
SAVEE       anger, disgust, fear, happiness, neutral, sadness, surprise  (codes a, d, f, h, n, sa, su)
CK+         neutral, anger, contempt, disgust, fear, happy, sadness, surprise  (emotion files 0-7)
IEMOCAP     full: ang, hap, exc, sad, fru, fea, sur, neu, dis, oth  ("xxx" = no majority, never a label)
            4class: ang, hap, sad, neu  (exc is merged into hap, the usual 4-class protocol)
=========== ====================================================================================

For cross-corpus training, :func:`harmonize_labels` maps every corpus onto one shared vocabulary of
canonical names (:data:`CANONICAL_EMOTIONS`) through :data:`CANONICAL_NAMES`, then keeps only the classes of a
target vocabulary (by default the seven emotions all corpora share, :data:`SHARED_EMOTIONS`). Classes outside
the target (RAVDESS ``calm``, CK+ ``contempt``, IEMOCAP ``fru``/``oth``, ...) are dropped, counted and
logged; merge them into a target class instead with ``merge={"calm": "neutral"}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
from datasets import ClassLabel, Dataset

from ..models.configuration_tucker_av import RAVDESS_EMOTIONS

logger = logging.getLogger(__name__)

RAVDESS_LABELS = RAVDESS_EMOTIONS  # one list: the default `id2label` of both model configs
CREMA_D_LABELS = ("anger", "disgust", "fear", "happy", "neutral", "sad")
CREMA_D_CODES = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
SAVEE_LABELS = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
SAVEE_CODES = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
CKPLUS_LABELS = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
IEMOCAP_FULL_LABELS = ("ang", "hap", "exc", "sad", "fru", "fea", "sur", "neu", "dis", "oth")
IEMOCAP_4CLASS_LABELS = ("ang", "hap", "sad", "neu")
IEMOCAP_4CLASS_MAP = {"ang": "ang", "hap": "hap", "exc": "hap", "sad": "sad", "neu": "neu"}

CORPUS_LABELS: dict[str, tuple[str, ...]] = {
    "ravdess": RAVDESS_LABELS,
    "synthetic": RAVDESS_LABELS,
    "crema_d": CREMA_D_LABELS,
    "savee": SAVEE_LABELS,
    "ckplus": CKPLUS_LABELS,
    "iemocap": IEMOCAP_4CLASS_LABELS,
    "iemocap_full": IEMOCAP_FULL_LABELS,
}

CANONICAL_EMOTIONS = (
    "neutral",
    "calm",
    "happy",
    "sad",
    "angry",
    "fearful",
    "disgust",
    "surprised",
    "contempt",
    "excited",
    "frustrated",
    "other",
)
"""Every emotion name any corpus maps to (RAVDESS spelling, plus the classes RAVDESS lacks)."""

SHARED_EMOTIONS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
"""The default target vocabulary: the seven classes present in (almost) every corpus."""

_CORPUS_TO_CANONICAL = {
    "ravdess": {name: name for name in RAVDESS_LABELS},
    "crema_d": dict(zip(CREMA_D_LABELS, ("angry", "disgust", "fearful", "happy", "neutral", "sad"))),
    "savee": dict(zip(SAVEE_LABELS, ("angry", "disgust", "fearful", "happy", "neutral", "sad", "surprised"))),
    "ckplus": dict(
        zip(
            CKPLUS_LABELS, ("neutral", "angry", "contempt", "disgust", "fearful", "happy", "sad", "surprised")
        )
    ),
    "iemocap": {
        "ang": "angry",
        "hap": "happy",
        "exc": "excited",
        "sad": "sad",
        "fru": "frustrated",
        "fea": "fearful",
        "sur": "surprised",
        "neu": "neutral",
        "dis": "disgust",
        "oth": "other",
    },
}
_CORPUS_TO_CANONICAL["synthetic"] = _CORPUS_TO_CANONICAL["ravdess"]
_CORPUS_TO_CANONICAL["iemocap_full"] = _CORPUS_TO_CANONICAL["iemocap"]
CANONICAL_NAMES: Mapping[str, Mapping[str, str]] = _CORPUS_TO_CANONICAL
"""``CANONICAL_NAMES[corpus][corpus_label] -> canonical name`` (a name in :data:`CANONICAL_EMOTIONS`)."""


def to_canonical(label: str, corpus: str) -> str:
    """Canonical emotion name of one corpus label, e.g. ``to_canonical("sa", ...)``; raises on unknown labels."""
    if corpus not in CANONICAL_NAMES:
        raise ValueError(f"Unknown corpus {corpus!r}; expected one of {sorted(CANONICAL_NAMES)}.")
    table = CANONICAL_NAMES[corpus]
    if label in table:
        return table[label]
    if label in CANONICAL_EMOTIONS:  # already harmonised
        return label
    raise ValueError(f"Label {label!r} is not a {corpus} label; expected one of {sorted(table)}.")


def harmonize_labels(
    dataset: Dataset,
    corpus: str | None = None,
    target_vocabulary: Sequence[str] = SHARED_EMOTIONS,
    merge: Mapping[str, str] | None = None,
    label_column: str = "label",
    return_report: bool = False,
):
    """Map a corpus's ``label`` column onto a shared emotion vocabulary for cross-corpus training.

    Args:
        dataset (`datasets.Dataset`):
            A dataset from one of the loaders (its ``label`` column is a ``ClassLabel`` of corpus labels).
        corpus (`str`, *optional*):
            ``"ravdess"``, ``"crema_d"``, ``"savee"``, ``"ckplus"``, ``"iemocap"`` or ``"synthetic"``;
            defaults to ``dataset.info.dataset_name`` (set by the loaders).
        target_vocabulary (`Sequence[str]`, *optional*, defaults to `SHARED_EMOTIONS`):
            Canonical names (from `CANONICAL_EMOTIONS`) of the output classes, in class-id order.
        merge (`Mapping[str, str]`, *optional*):
            Extra canonical → canonical merges applied before filtering, e.g. ``{"calm": "neutral",
            "excited": "happy"}``.
        label_column (`str`, *optional*, defaults to `"label"`):
            The column to rewrite.
        return_report (`bool`, *optional*, defaults to `False`):
            Also return ``{corpus_label: n_dropped_rows}`` for the classes outside the target vocabulary.

    Returns:
        The dataset with only rows whose label maps into ``target_vocabulary`` and the label column cast to
        ``ClassLabel(names=target_vocabulary)`` (plus the drop report when ``return_report=True``). Dropped
        rows are always logged at WARNING with their counts per class.
    """
    corpus = corpus or dataset.info.dataset_name
    if corpus is None:
        raise ValueError("harmonize_labels needs `corpus=` (the dataset does not record which corpus it is).")
    feature = dataset.features.get(label_column)
    if not isinstance(feature, ClassLabel):
        raise ValueError(f"Column {label_column!r} must be a datasets.ClassLabel, got {feature!r}.")
    target = list(target_vocabulary)
    unknown = [name for name in target if name not in CANONICAL_EMOTIONS]
    if unknown or len(set(target)) != len(target):
        raise ValueError(
            f"target_vocabulary must hold distinct names from {CANONICAL_EMOTIONS}; bad or repeated: {unknown}."
        )
    merge = dict(merge or {})
    for source, destination in merge.items():
        if source not in CANONICAL_EMOTIONS or destination not in CANONICAL_EMOTIONS:
            raise ValueError(f"merge {source!r} -> {destination!r}: both must be in {CANONICAL_EMOTIONS}.")

    # old class id -> new class id, or -1 when the class falls outside the target vocabulary
    lookup = np.full(len(feature.names), -1, dtype=np.int64)
    for old_id, name in enumerate(feature.names):
        canonical = to_canonical(name, corpus)
        canonical = merge.get(canonical, canonical)
        if canonical in target:
            lookup[old_id] = target.index(canonical)

    old_labels = np.asarray(dataset[label_column], dtype=np.int64)
    new_labels = np.where(old_labels >= 0, lookup[np.clip(old_labels, 0, None)], -1)
    keep = np.flatnonzero(new_labels >= 0)
    dropped: dict[str, int] = {}
    for old_id in np.unique(old_labels[new_labels < 0]):
        name = feature.names[old_id] if old_id >= 0 else "<unlabeled>"
        dropped[name] = int(np.sum(old_labels == old_id))
    if dropped:
        logger.warning(
            "harmonize_labels(%s): dropped %d of %d rows whose class is outside the target vocabulary: %s",
            corpus,
            sum(dropped.values()),
            len(old_labels),
            dropped,
        )
    result = dataset.select(keep) if len(keep) < len(old_labels) else dataset
    features = result.features.copy()
    features[label_column] = ClassLabel(names=target)
    result = result.map(
        lambda labels: {label_column: lookup[np.asarray(labels, dtype=np.int64)].tolist()},
        batched=True,
        input_columns=label_column,
        features=features,
        desc="Harmonising labels",
    )
    return (result, dropped) if return_report else result
