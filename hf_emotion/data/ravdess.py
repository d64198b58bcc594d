"""RAVDESS loader: ``Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4`` (or ``.wav`` for audio-only) into a `datasets.Dataset`.

File name fields (all two digits): modality (01 audio-visual, 02 video-only, 03 audio-only), vocal channel
(01 speech, 02 song), emotion (01-08 = neutral, calm, happy, sad, angry, fearful, disgust, surprised),
intensity (01 normal, 02 strong), statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the
door"), repetition (01, 02), actor (01-24, odd = male). The ``Actor_XX`` folders may sit anywhere below the
given folder (e.g. inside the unzipped ``Video_Speech_Actor_01/``). The synthetic corpus of
:mod:`hf_emotion.data.synthetic` has the same layout and loads with this function unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Features

from .labels import RAVDESS_LABELS
from .loading import LoadReport, build_dataset, check_choice, check_root, not_the_corpus, standard_features

MODALITIES = {"01": "audio-visual", "02": "video-only", "03": "audio-only"}
VOCAL_CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
EXPECTED_LAYOUT = (
    "Actor_XX/MM-VV-EE-II-SS-RR-AA.mp4 (or .wav for audio-only files), e.g. Actor_01/01-01-03-01-01-01-01.mp4"
)

_NAME = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
_ACTOR_DIR = re.compile(r"^Actor_(\d{2})$")


def parse_ravdess_name(path: Path) -> dict | str:
    """The fields of one RAVDESS file name, or a string saying why the name is not valid."""
    match = _NAME.match(path.stem)
    if match is None:
        return "unparseable name: expected MM-VV-EE-II-SS-RR-AA"
    modality, channel, emotion, intensity, statement, repetition, actor = match.groups()
    checks = {
        "modality": modality in MODALITIES,
        "vocal channel": channel in VOCAL_CHANNELS,
        "emotion": 1 <= int(emotion) <= len(RAVDESS_LABELS),
        "intensity": intensity in INTENSITIES,
        "statement": statement in STATEMENTS,
        "repetition": repetition in ("01", "02"),
        "actor": int(actor) >= 1,
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        return f"code out of range: {', '.join(bad)} in {path.stem}"
    expected_suffix = ".wav" if modality == "03" else ".mp4"
    if path.suffix.lower() != expected_suffix:
        return f"wrong extension: modality {modality} files are {expected_suffix}, got {path.suffix}"
    folder = _ACTOR_DIR.match(path.parent.name)
    if folder is None:
        return f"not inside an Actor_XX folder: {path.parent.name}"
    if folder.group(1) != actor:
        return f"actor mismatch: name says actor {actor} but folder is {path.parent.name}"
    return {
        "modality": MODALITIES[modality],
        "vocal_channel": VOCAL_CHANNELS[channel],
        "label": int(emotion) - 1,
        "intensity": INTENSITIES[intensity],
        "statement": int(statement),
        "transcript": STATEMENTS[statement],
        "repetition": int(repetition),
        "actor": actor,
        "gender": "male" if int(actor) % 2 else "female",
    }


def load_ravdess(
    path: str | Path,
    modality: str = "audio-visual",
    vocal_channel: str = "speech",
    return_report: bool = False,
):
    """Load a local RAVDESS folder (or a synthetic corpus) as a `datasets.Dataset`.

    Args:
        path (`str` or `Path`): the folder holding the ``Actor_XX`` folders (at any depth).
        modality (`str`, *optional*, defaults to `"audio-visual"`):
            ``"audio-visual"`` (01 .mp4: columns ``audio`` and ``video`` both point at the .mp4),
            ``"video-only"`` (02 .mp4: ``video`` only), ``"audio-only"`` (03 .wav: ``audio`` only) or
            ``"all"`` (both columns, ``None`` where a file lacks that stream).
        vocal_channel (`str`, *optional*, defaults to `"speech"`): ``"speech"``, ``"song"`` or ``"all"``.
        return_report (`bool`, *optional*, defaults to `False`): also return the :class:`LoadReport`.

    Returns:
        `datasets.Dataset` with columns ``label`` (ClassLabel, 8 RAVDESS emotions), ``speaker`` (actor id,
        ``"01"``), ``transcript``, ``intensity`` (``"normal"``/``"strong"``), ``path``, the media columns above,
        and ``gender``, ``statement`` (1/2), ``repetition`` (1/2), ``modality``, ``vocal_channel``.
    """
    check_choice("modality", modality, (*MODALITIES.values(), "all"))
    check_choice("vocal_channel", vocal_channel, (*VOCAL_CHANNELS.values(), "all"))
    root = check_root(path, "RAVDESS")
    report = LoadReport("ravdess", str(root))
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mp4", ".wav") and p.is_file())
    rows = []
    for file in files:
        fields = parse_ravdess_name(file)
        if isinstance(fields, str):
            report.skip(file, fields)
            continue
        if modality not in ("all", fields["modality"]):
            report.exclude(f"modality {fields['modality']}")
            continue
        if vocal_channel not in ("all", fields["vocal_channel"]):
            report.exclude(f"vocal channel {fields['vocal_channel']}")
            continue
        rows.append((file, fields))
    if not rows:
        if report.excluded:
            raise ValueError(
                f"{root}: RAVDESS files found ({dict(report.excluded)}) but none with modality={modality!r} and "
                f"vocal_channel={vocal_channel!r}; pass modality='all' / vocal_channel='all' to see them."
            )
        raise not_the_corpus("RAVDESS", root, EXPECTED_LAYOUT, report)

    with_audio = modality in ("audio-visual", "audio-only", "all")
    with_video = modality in ("audio-visual", "video-only", "all")
    features = standard_features(
        RAVDESS_LABELS,
        audio=with_audio,
        video=with_video,
        extra={
            "gender": "string",
            "statement": "int32",
            "repetition": "int32",
            "modality": "string",
            "vocal_channel": "string",
        },
    )
    columns: dict[str, list] = {name: [] for name in features}
    for file, fields in rows:
        for name in ("label", "transcript", "intensity", "gender", "statement", "repetition"):
            columns[name].append(fields[name])
        columns["modality"].append(fields["modality"])
        columns["vocal_channel"].append(fields["vocal_channel"])
        columns["speaker"].append(fields["actor"])
        columns["path"].append(str(file))
        if with_audio:
            columns["audio"].append(str(file) if fields["modality"] != "video-only" else None)
        if with_video:
            columns["video"].append(str(file) if fields["modality"] != "audio-only" else None)
    return build_dataset(
        columns,
        Features(features),
        report,
        return_report,
        f"RAVDESS from {root} (modality={modality})",
        name_key=lambda path: Path(path).name.lower(),  # the RAVDESS code names one clip, in any folder
    )
