"""Train/test protocols: speaker-independent folds per corpus (SPEC §3) and the papers' random 80:20 split.

Speaker-independent protocols (the default of :func:`speaker_independent_folds` for each corpus):

=============== ============================================================================================
corpus          folds
=============== ============================================================================================
RAVDESS         consecutive groups of 4 actors in actor order (24 actors -> 6 folds: 01-04, 05-08, ...;
                each fold holds 2 male and 2 female actors); the synthetic corpus uses the same rule
                (``ceil(n_actors / 4)`` folds, at least 2)
CREMA-D         5 folds; the 91 actors are shuffled with ``seed`` and dealt round-robin
IEMOCAP         leave one session out (5 folds; both actors of a session are tested together)
SAVEE           leave one speaker out (4 folds)
CK+             10 folds; subjects shuffled with ``seed`` and dealt round-robin
other / unknown leave one speaker out (or ``n_folds`` consecutive groups of speakers)
=============== ============================================================================================

Every fold is a pair of sorted index arrays ``(train_indices, test_indices)``; the test sides of the folds
partition the dataset, and no speaker (no session, for IEMOCAP) is ever on both sides of one fold.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from datasets import Dataset, DatasetDict

logger = logging.getLogger(__name__)

# corpus -> (how groups are assigned to folds, default number of folds given the number of groups)
_PROTOCOLS = {
    "ravdess": ("ordered", lambda n: max(2, math.ceil(n / 4))),
    "synthetic": ("ordered", lambda n: max(2, math.ceil(n / 4))),
    "iemocap": ("ordered", lambda n: n),
    "savee": ("ordered", lambda n: n),
    "crema_d": ("shuffled", lambda n: 5),
    "ckplus": ("shuffled", lambda n: 10),
}
_DEFAULT_PROTOCOL = ("ordered", lambda n: n)


def _group_column(dataset: Dataset, corpus: str | None, speaker_column: str) -> str:
    if corpus == "iemocap" and "session" in dataset.column_names:
        return "session"
    if speaker_column not in dataset.column_names:
        raise ValueError(
            f"Speaker-independent folds need a {speaker_column!r} column; the dataset has {dataset.column_names}."
        )
    return speaker_column


def speaker_independent_folds(
    dataset: Dataset,
    n_folds: int | None = None,
    corpus: str | None = None,
    seed: int = 0,
    speaker_column: str = "speaker",
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic speaker-independent folds following the corpus's protocol (see the module docstring).

    Args:
        dataset (`datasets.Dataset`): a dataset with a speaker column (and ``session`` for IEMOCAP).
        n_folds (`int`, *optional*): number of folds; defaults to the corpus protocol's.
        corpus (`str`, *optional*): protocol to follow; defaults to ``dataset.info.dataset_name``.
        seed (`int`, *optional*, defaults to 0): shuffles speakers for the shuffled protocols (CREMA-D, CK+).
        speaker_column (`str`, *optional*, defaults to `"speaker"`): the column of speaker ids.

    Returns:
        `list[tuple[np.ndarray, np.ndarray]]`: ``n_folds`` pairs ``(train_indices, test_indices)`` of sorted
        row indices into ``dataset`` (use ``dataset.select(...)`` or :func:`get_fold`).
    """
    corpus = corpus or dataset.info.dataset_name
    column = _group_column(dataset, corpus, speaker_column)
    keys = np.asarray(dataset[column])
    groups = sorted(set(keys.tolist()))
    mode, default = _PROTOCOLS.get(corpus, _DEFAULT_PROTOCOL)
    n_folds = default(len(groups)) if n_folds is None else n_folds
    if not 2 <= n_folds <= len(groups):
        raise ValueError(
            f"n_folds={n_folds} is impossible with {len(groups)} distinct values of {column!r}: "
            f"need 2 <= n_folds <= {len(groups)}."
        )
    if mode == "ordered":
        fold_groups = [list(part) for part in np.array_split(np.array(groups, dtype=object), n_folds)]
    else:
        order = np.random.default_rng(seed).permutation(len(groups))
        fold_groups = [[groups[i] for i in order[fold::n_folds]] for fold in range(n_folds)]
    folds = []
    for members in fold_groups:
        in_test = np.isin(keys, np.array(members, dtype=keys.dtype))
        folds.append((np.flatnonzero(~in_test), np.flatnonzero(in_test)))
    return folds


def random_split(
    dataset: Dataset,
    test_size: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
    label_column: str = "label",
) -> DatasetDict:
    """The papers' random (by default label-stratified) train/test split, e.g. 80:20.

    Warning: this split puts clips of the same speaker on both sides, so the model can recognise the speaker
    instead of the emotion; accuracies on random splits of RAVDESS, CREMA-D, SAVEE, CK+ or IEMOCAP are known to
    be inflated compared with speaker-independent folds (:func:`speaker_independent_folds`). Use it only to
    compare with published numbers obtained the same way. The number of speakers on both sides is logged.

    Args:
        dataset (`datasets.Dataset`): the data.
        test_size (`float`, *optional*, defaults to 0.2): fraction of rows in the test side.
        seed (`int`, *optional*, defaults to 0): random seed; same seed, same split.
        stratify (`bool`, *optional*, defaults to `True`): keep label proportions equal on both sides.
        label_column (`str`, *optional*, defaults to `"label"`): the ``ClassLabel`` column stratified on.

    Returns:
        `datasets.DatasetDict` with ``train`` and ``test``.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be a fraction in (0, 1), got {test_size}.")
    split = dataset.train_test_split(
        test_size=test_size, seed=seed, stratify_by_column=label_column if stratify else None
    )
    if "speaker" in dataset.column_names:
        shared = set(split["train"]["speaker"]) & set(split["test"]["speaker"])
        if shared:
            logger.warning(
                "random_split: %d speakers are in both train and test; expect inflated accuracy "
                "(use speaker_independent_folds for a speaker-independent estimate).",
                len(shared),
            )
    return split


def get_fold(
    dataset: Dataset,
    protocol: str = "speaker",
    fold: int = 0,
    n_folds: int | None = None,
    corpus: str | None = None,
    seed: int = 0,
    test_size: float = 0.2,
) -> DatasetDict:
    """``DatasetDict(train=..., test=...)`` for ``--protocol speaker --fold K`` or ``--protocol random``.

    Args:
        dataset (`datasets.Dataset`): the data.
        protocol (`str`, *optional*, defaults to `"speaker"`): ``"speaker"`` (fold ``fold`` of
            :func:`speaker_independent_folds`) or ``"random"`` (:func:`random_split`; only ``fold=0``).
        fold (`int`, *optional*, defaults to 0): which speaker-independent fold.
        n_folds, corpus, seed: passed to :func:`speaker_independent_folds` (``seed`` also to :func:`random_split`).
        test_size (`float`, *optional*, defaults to 0.2): test fraction of the random protocol.
    """
    if protocol == "random":
        if fold != 0:
            raise ValueError(
                f"protocol='random' has a single split (fold=0); got fold={fold}. Vary seed instead."
            )
        return random_split(dataset, test_size=test_size, seed=seed)
    if protocol != "speaker":
        raise ValueError(f"protocol={protocol!r} is not supported; choose 'speaker' or 'random'.")
    folds = speaker_independent_folds(dataset, n_folds=n_folds, corpus=corpus, seed=seed)
    if not 0 <= fold < len(folds):
        raise ValueError(
            f"fold={fold} is out of range: this protocol has {len(folds)} folds (0-{len(folds) - 1})."
        )
    train, test = folds[fold]
    return DatasetDict(train=dataset.select(train), test=dataset.select(test))
