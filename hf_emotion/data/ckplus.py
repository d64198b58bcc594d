"""CK+ loader: ``cohn-kanade-images/S005/001/S005_001_00000011.png`` sequences with
``Emotion/S005/001/S005_001_00000011_emotion.txt`` labels (one float 0-7 = neutral, anger, contempt, disgust,
fear, happy, sadness, surprise).

One row per image sequence: ``frames`` holds the sequence in frame order (onset → peak), ``image`` and
``path`` the peak (last) frame. Only 327 of the 593 CK+ sequences carry an emotion label; the others are
reported as skipped (reason ``unlabeled sequence``), or kept with ``label=-1`` when ``include_unlabeled=True``.
CK+ has images only: there is no audio, video or transcript (``transcript=""``).
"""

from __future__ import annotations

from pathlib import Path

from datasets import ClassLabel, Features, Image, List, Value

from .labels import CKPLUS_LABELS
from .loading import LoadReport, build_dataset, check_root, not_the_corpus

IMAGES_DIR = "cohn-kanade-images"
EMOTION_DIR = "Emotion"
EXPECTED_LAYOUT = f"{IMAGES_DIR}/S005/001/S005_001_00000011.png sequences and {EMOTION_DIR}/S005/001/S005_001_00000011_emotion.txt"


def _find_dir(root: Path, name: str) -> Path | None:
    """``root/name`` or the shallowest folder called ``name`` below ``root``."""
    if (root / name).is_dir():
        return root / name
    found = sorted((p for p in root.rglob(name) if p.is_dir()), key=lambda p: len(p.parts))
    return found[0] if found else None


def read_ckplus_emotion(file: Path) -> int | str:
    """The class id in one ``_emotion.txt`` file, or a string saying why it cannot be read."""
    text = file.read_text().strip()
    try:
        value = float(text)
    except ValueError:
        return f"unreadable emotion file: {text[:40]!r} is not a number"
    if value != int(value) or not 0 <= value < len(CKPLUS_LABELS):
        return f"emotion out of range: {value} (expected 0-{len(CKPLUS_LABELS) - 1})"
    return int(value)


def load_ckplus(path: str | Path, include_unlabeled: bool = False, return_report: bool = False):
    """Load a local CK+ folder as a `datasets.Dataset` of labelled image sequences.

    Args:
        path (`str` or `Path`): the folder holding ``cohn-kanade-images/`` and ``Emotion/`` (at any depth).
        include_unlabeled (`bool`, *optional*, defaults to `False`): keep sequences without an emotion file,
            with ``label=-1``, instead of reporting them as skipped.
        return_report (`bool`, *optional*, defaults to `False`): also return the :class:`LoadReport`.

    Returns:
        `datasets.Dataset` with ``label`` (ClassLabel, 8 CK+ classes), ``speaker`` (subject ``"S005"``),
        ``transcript`` (``""``), ``intensity`` (``""``), ``path`` (peak frame), ``frames`` (list of images),
        ``image`` (peak frame), ``sequence`` (``"001"``) and ``n_frames``.
    """
    root = check_root(path, "CK+")
    report = LoadReport("ckplus", str(root))
    images_dir = _find_dir(root, IMAGES_DIR)
    emotion_dir = _find_dir(root, EMOTION_DIR)
    if images_dir is None or emotion_dir is None:
        missing = IMAGES_DIR if images_dir is None else EMOTION_DIR
        raise ValueError(
            f"{root} does not look like a CK+ folder: no {missing}/ folder. Expected {EXPECTED_LAYOUT}."
        )

    features = Features(
        label=ClassLabel(names=list(CKPLUS_LABELS)),
        speaker=Value("string"),
        transcript=Value("string"),
        intensity=Value("string"),
        path=Value("string"),
        frames=List(Image()),
        image=Image(),
        sequence=Value("string"),
        n_frames=Value("int32"),
    )
    columns: dict[str, list] = {name: [] for name in features}
    sequences = sorted(p for p in images_dir.glob("*/*") if p.is_dir())
    for sequence in sequences:
        subject, number = sequence.parent.name, sequence.name
        frames = sorted(p for p in sequence.glob("*.png") if not p.name.startswith("."))
        if not frames:
            report.skip(sequence, "no .png frames in sequence folder")
            continue
        label_files = sorted((emotion_dir / subject / number).glob("*_emotion.txt"))
        if len(label_files) > 1:
            report.skip(sequence, f"ambiguous label: {len(label_files)} emotion files")
            continue
        if not label_files:
            if not include_unlabeled:
                report.skip(
                    sequence, f"unlabeled sequence: no {EMOTION_DIR}/{subject}/{number}/*_emotion.txt"
                )
                continue
            label = -1
        else:
            label = read_ckplus_emotion(label_files[0])
            if isinstance(label, str):
                report.skip(label_files[0], label)
                continue
        columns["label"].append(label)
        columns["speaker"].append(subject)
        columns["transcript"].append("")
        columns["intensity"].append("")
        columns["path"].append(str(frames[-1]))
        columns["frames"].append([str(p) for p in frames])
        columns["image"].append(str(frames[-1]))
        columns["sequence"].append(number)
        columns["n_frames"].append(len(frames))
    image_sequences = {(p.parent.name, p.name) for p in sequences}
    for label_file in sorted(emotion_dir.glob("*/*/*_emotion.txt")):
        if (label_file.parent.parent.name, label_file.parent.name) not in image_sequences:
            report.skip(label_file, "emotion label without an image sequence")
    if not columns["label"]:
        raise not_the_corpus("CK+", root, EXPECTED_LAYOUT, report)
    return build_dataset(columns, features, report, return_report, f"CK+ from {root}")
