"""Shared plumbing of the corpus loaders: folder checks, the skip report and the `datasets.Dataset` builder.

Every loader follows the same contract:

- a missing folder raises ``FileNotFoundError`` naming it;
- a folder holding no file of the corpus's layout raises ``ValueError`` describing the expected layout;
- files whose names or contents cannot be parsed are skipped, never silently: each one is recorded with its
  reason in a :class:`LoadReport` (returned with ``return_report=True``) and the total is logged at WARNING.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable
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
        duplicates (`dict[str, str]`): ``{dropped path: kept path}`` for clips found twice (same bytes, the same
            RAVDESS code in another folder, or a case variant such as ``.MP4``); the first one is kept.
    """

    corpus: str
    root: str
    n_rows: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    excluded: Counter = field(default_factory=Counter)
    duplicates: dict[str, str] = field(default_factory=dict)

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
        if self.duplicates:
            text += f", {len(self.duplicates)} duplicates dropped"
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
    """Whether `path`, with ``..`` components collapsed, lies inside the folder `root`: paths built from corpus
    metadata (utterance ids, names in label files) must, so that a crafted ``../../x`` cannot read or write
    elsewhere. Symbolic links are followed as the user set them up (a corpus folder may link to another disk)."""
    base = Path(os.path.abspath(root))
    target = Path(os.path.abspath(path))  # abspath also normalises "a/../b"
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


AV_MODALITIES = ("audio-visual", "audio-only", "video-only")
"""The `modality` choices of the loaders of audio-visual corpora (RAVDESS adds its own)."""


def check_av_modality(modality: str, choices=AV_MODALITIES) -> tuple[bool, bool]:
    """Validate a loader's `modality`; returns (with_audio, with_video): which media columns the dataset has."""
    check_choice("modality", modality, choices)
    with_audio = modality in ("audio-visual", "audio-only", "all")
    return with_audio, modality in ("audio-visual", "video-only", "all")


def add_clip(
    columns: dict[str, list], fields: dict, audio: str | Path | None, video: str | Path | None
) -> None:
    """Append one clip to a loader's `columns`: each of `fields`, then its `audio` / `video` file (``None``: the
    clip has none) when the dataset has that column."""
    for name, value in fields.items():
        columns[name].append(value)
    for name, media in (("audio", audio), ("video", video)):
        if name in columns:
            columns[name].append(None if media is None else str(media))


def corpus_dataset(
    corpus: str,
    root: Path,
    expected: str,
    columns: dict[str, list],
    features: Features,
    report: LoadReport,
    return_report: bool,
    description: str,
):
    """`build_dataset` over the clips a loader found, or the :func:`not_the_corpus` error when it found none."""
    if not columns["label"]:
        raise not_the_corpus(corpus, root, expected, report)
    return build_dataset(columns, features, report, return_report, description)


def not_the_corpus(corpus: str, root: Path, expected: str, report: LoadReport | None = None) -> ValueError:
    """The error raised when a folder contains nothing usable of ``corpus``."""
    message = (
        f"{root} does not look like a {corpus} folder: no usable files found. Expected layout: {expected}."
    )
    if report is not None and report.skipped:
        examples = _examples(report.skipped, ": ", 3, key=lambda path: Path(path).name)
        message += f" {len(report.skipped)} files were skipped, e.g. {examples}."
    return ValueError(message)


def _examples(mapping: dict, separator: str, count: int, key: Callable[[str], str] = str) -> str:
    """The first `count` items of `mapping` as ``key<separator>value; ...`` (for log and error messages)."""
    return "; ".join(f"{key(path)}{separator}{value}" for path, value in list(mapping.items())[:count])


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


def _content_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_duplicates(
    paths: list[str], labels: list | None = None, name_key: Callable[[str], str] | None = None
) -> dict[int, int]:
    """``{index of a repeat: index of the kept first}`` over `paths`: files with the same bytes and label (only
    files of equal size are hashed), the same lower-cased path (``a.MP4`` beside ``a.mp4``), or the same
    `name_key`. Identical bytes under different labels are logged, not dropped (no copy is the right one)."""
    labels = labels if labels is not None else [None] * len(paths)
    first: dict[tuple, int] = {}
    repeats: dict[int, int] = {}
    by_size: dict[int, list[int]] = defaultdict(list)
    # the copy kept: the shallowest path, then a lower-case suffix (Actor_01/x.mp4 before backup/.../x.MP4)
    order = sorted(
        range(len(paths)),
        key=lambda i: (len(Path(paths[i]).parts), Path(paths[i]).suffix.islower() is False, paths[i]),
    )
    for index in order:
        path = paths[index]
        keys = [("path", os.path.normcase(path).lower())]
        if name_key is not None:
            keys.append(("name", name_key(path)))
        kept = next((first[k] for k in keys if k in first), None)
        if kept is not None:
            repeats[index] = kept
            continue
        for key in keys:
            first[key] = index
        if os.path.isfile(path):
            by_size[os.path.getsize(path)].append(index)
    for group in by_size.values():
        if len(group) < 2:
            continue
        seen: dict[str, int] = {}
        for index in group:
            digest = _content_digest(paths[index])
            if digest not in seen:
                seen[digest] = index
            elif labels[seen[digest]] == labels[index]:
                repeats[index] = seen[digest]
            else:
                logger.warning(
                    "%s and %s hold the same bytes under different labels; both kept.",
                    paths[seen[digest]],
                    paths[index],
                )
    return repeats


def build_dataset(
    columns: dict[str, list],
    features: Features,
    report: LoadReport,
    return_report: bool,
    description: str,
    name_key: Callable[[str], str] | None = None,
):
    """Make the `datasets.Dataset` (``info.dataset_name`` = corpus), log skips, and return it (and the report).

    Rows whose `path` leads outside the corpus folder (``..`` in a name from metadata) are skipped; repeated clips (see
    :func:`find_duplicates`, with the loader's `name_key`) are dropped and listed in ``report.duplicates``."""
    paths = columns["path"]
    drop = set()
    for index, path in enumerate(paths):
        if not inside(Path(report.root), path):
            report.skip(path, "outside the corpus folder: its name leads elsewhere")
            drop.add(index)
    for index, kept in find_duplicates(paths, columns.get("label"), name_key).items():
        if index not in drop and kept not in drop:
            report.duplicates[paths[index]] = paths[kept]
            drop.add(index)
    if drop:
        columns = {
            name: [v for i, v in enumerate(values) if i not in drop] for name, values in columns.items()
        }
    if report.duplicates:
        logger.warning(
            "%s: %d duplicate clips dropped (the first copy is kept), e.g. %s.",
            report.corpus,
            len(report.duplicates),
            _examples(report.duplicates, " = ", 3),
        )
    info = DatasetInfo(dataset_name=report.corpus, description=description, features=features)
    dataset = Dataset.from_dict({name: columns[name] for name in features}, features=features, info=info)
    report.n_rows = len(dataset)
    if report.skipped:
        logger.warning(
            "%s: skipped %d items (%s). First ones: %s. Pass return_report=True to get all of them.",
            report.corpus,
            len(report.skipped),
            dict(report.reasons()),
            _examples(report.skipped, ": ", 5),
        )
    logger.info(report.summary())
    return (dataset, report) if return_report else dataset
