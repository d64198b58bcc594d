"""Shared plumbing of the corpus loaders: folder checks, the skip report and the `datasets.Dataset` builder.

Every loader follows the same contract:

- a missing folder raises ``FileNotFoundError`` naming it;
- a folder holding no file of the corpus's layout raises ``ValueError`` describing the expected layout;
- files whose names or contents cannot be parsed are skipped, never silently: each one is recorded with its
  reason in a :class:`LoadReport` (returned with ``return_report=True``) and the total is logged at WARNING.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Audio, ClassLabel, Dataset, DatasetInfo, Features, Value, Video

logger = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What a loader read and what it left out.

    Attributes:
        corpus (`str`): the corpus name (``"ravdess"``, ...).
        root (`str`): the folder that was read.
        n_rows (`int`): rows in the returned dataset.
        skipped (`dict[str, str]`): ``{path: reason}`` for every file or item that could not be used.
        excluded (`Counter[str]`): ``{reason: count}`` of well-formed items left out on purpose by the loader's
            options (e.g. song clips when ``vocal_channel="speech"``); these are not errors.
    """

    corpus: str
    root: str
    n_rows: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    excluded: Counter = field(default_factory=Counter)

    def skip(self, path: str | Path, reason: str) -> None:
        self.skipped[str(path)] = reason

    def exclude(self, reason: str) -> None:
        self.excluded[reason] += 1

    def reasons(self) -> Counter:
        """How many items were skipped for each reason (the part of the reason before the first colon)."""
        return Counter(reason.split(":")[0] for reason in self.skipped.values())

    def summary(self) -> str:
        text = f"{self.corpus}: {self.n_rows} rows from {self.root}"
        if self.excluded:
            text += f", {sum(self.excluded.values())} excluded by options ({dict(self.excluded)})"
        if self.skipped:
            text += f", {len(self.skipped)} skipped ({dict(self.reasons())})"
        return text


def check_exists(path: str | Path, what: str, fix: str) -> Path:
    """`path` as a `Path` when it exists; else ``FileNotFoundError`` (or ``OSError`` for a symbolic link loop)
    naming `what` it is and the `fix`."""
    path = Path(path).expanduser()
    if os.path.lexists(path) and not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise OSError(
                    errno.ELOOP, f"The {what} {path} is a symbolic link loop; fix or remove the link"
                ) from None
        raise FileNotFoundError(
            f"The {what} {path} is a symbolic link to the missing {os.readlink(path)}; {fix}"
        )
    if not path.exists():
        raise FileNotFoundError(f"The {what} {path} does not exist; {fix}")
    return path


def inside(root: Path, path: str | Path) -> bool:
    """Whether `path` (symbolic links resolved) lies inside the folder `root`: paths built from corpus metadata
    (utterance ids, names in label files) must, so that a crafted ``../../x`` cannot read or write elsewhere."""
    base = Path(os.path.realpath(root))
    target = Path(os.path.realpath(path))
    return target == base or base in target.parents


def check_root(path: str | Path, corpus: str) -> Path:
    """The corpus folder as a `Path`; ``FileNotFoundError`` when it does not exist or is not a folder."""
    root = check_exists(path, f"{corpus} folder", "pass the folder that holds the corpus")
    if not root.is_dir():
        raise FileNotFoundError(
            f"{corpus} path is not a folder: {root}. Pass the folder that holds the corpus."
        )
    return root


def check_choice(name: str, value: str, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {list(choices)}.")
    return value


def not_the_corpus(corpus: str, root: Path, expected: str, report: LoadReport | None = None) -> ValueError:
    """The error raised when a folder contains nothing usable of ``corpus``."""
    message = (
        f"{root} does not look like a {corpus} folder: no usable files found. Expected layout: {expected}."
    )
    if report is not None and report.skipped:
        examples = "; ".join(f"{Path(p).name}: {r}" for p, r in list(report.skipped.items())[:3])
        message += f" {len(report.skipped)} files were skipped, e.g. {examples}."
    return ValueError(message)


def standard_features(labels, *, audio: bool, video: bool, extra: dict[str, str] | None = None) -> dict:
    """The columns every loader shares (`label`, `speaker`, `transcript`, `intensity`, `path`, then `audio` /
    `video` when the corpus has them), followed by the corpus's own `extra` columns (name → Value dtype)."""
    features = {
        "label": ClassLabel(names=list(labels)),
        "speaker": Value("string"),
        "transcript": Value("string"),
        "intensity": Value("string"),
        "path": Value("string"),
        **({"audio": Audio()} if audio else {}),
        **({"video": Video()} if video else {}),
    }
    features.update({name: Value(dtype) for name, dtype in (extra or {}).items()})
    return features


def build_dataset(
    columns: dict[str, list],
    features: Features,
    report: LoadReport,
    return_report: bool,
    description: str,
):
    """Make the `datasets.Dataset` (``info.dataset_name`` = corpus), log skips, and return it (and the report)."""
    info = DatasetInfo(dataset_name=report.corpus, description=description, features=features)
    dataset = Dataset.from_dict({name: columns[name] for name in features}, features=features, info=info)
    report.n_rows = len(dataset)
    if report.skipped:
        examples = "; ".join(f"{p}: {r}" for p, r in list(report.skipped.items())[:5])
        logger.warning(
            "%s: skipped %d items (%s). First ones: %s. Pass return_report=True to get all of them.",
            report.corpus,
            len(report.skipped),
            dict(report.reasons()),
            examples,
        )
    logger.info(report.summary())
    return (dataset, report) if return_report else dataset
