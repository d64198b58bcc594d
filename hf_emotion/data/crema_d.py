"""CREMA-D loader: ``AudioWAV/1001_DFA_ANG_XX.wav`` + ``VideoFlash/1001_DFA_ANG_XX.flv``.

Name fields: actor (1001-1091), sentence code (12 codes, see :data:`SENTENCES`), emotion (ANG, DIS, FEA, HAP,
NEU, SAD) and level (LO low, MD medium, HI high, XX unspecified -> ``intensity=""``). ``AudioMP3/`` and
``VideoMP4/`` are used when ``AudioWAV/`` / ``VideoFlash/`` are absent. When ``VideoDemographics.csv`` sits
in the folder, the ``gender`` column is filled from its ``Sex`` column (else ``""``).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from datasets import Features

from .labels import CREMA_D_CODES, CREMA_D_LABELS
from .loading import (
    LoadReport,
    add_clip,
    check_av_modality,
    check_root,
    corpus_dataset,
    not_the_corpus,
    standard_features,
)

SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": ""}
AUDIO_DIRS = (("AudioWAV", ".wav"), ("AudioMP3", ".mp3"))
VIDEO_DIRS = (("VideoFlash", ".flv"), ("VideoMP4", ".mp4"))
EXPECTED_LAYOUT = "AudioWAV/1001_DFA_ANG_XX.wav and/or VideoFlash/1001_DFA_ANG_XX.flv"
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def parse_crema_d_name(stem: str) -> dict | str:
    """The fields of one CREMA-D file stem, or a string saying why it is not valid."""
    match = _NAME.match(stem)
    if match is None:
        return "unparseable name: expected AAAA_SSS_EEE_LL, e.g. 1001_DFA_ANG_XX"
    actor, sentence, emotion, level = match.groups()
    if sentence not in SENTENCES:
        return f"unknown sentence code: {sentence}"
    if emotion not in CREMA_D_CODES:
        return f"unknown emotion code: {emotion}"
    if level not in LEVELS:
        return f"unknown level code: {level}"
    return {
        "speaker": actor,
        "sentence": sentence,
        "transcript": SENTENCES[sentence],
        "label": CREMA_D_LABELS.index(CREMA_D_CODES[emotion]),
        "intensity": LEVELS[level],
    }


def _media_files(root: Path, candidates) -> tuple[Path | None, dict[str, Path]]:
    """The first existing media folder of ``candidates`` and its files by stem (other files are returned too)."""
    for name, suffix in candidates:
        folder = root / name
        if folder.is_dir():
            files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            return folder, {p.stem if p.suffix.lower() == suffix else p.name: p for p in files}
    return None, {}


def _read_genders(root: Path) -> dict[str, str]:
    table = root / "VideoDemographics.csv"
    if not table.is_file():
        return {}
    with table.open(newline="") as handle:
        return {row["ActorID"].strip(): row["Sex"].strip().lower() for row in csv.DictReader(handle)}


def load_crema_d(path: str | Path, modality: str = "audio-visual", return_report: bool = False):
    """Load a local CREMA-D folder as a `datasets.Dataset`.

    Args:
        path (`str` or `Path`): the folder holding ``AudioWAV/`` and ``VideoFlash/``.
        modality (`str`, *optional*, defaults to `"audio-visual"`): ``"audio-visual"`` (clips with both a wav
            and a video; a clip missing one of them is skipped and reported), ``"audio-only"`` or
            ``"video-only"``.
        return_report (`bool`, *optional*, defaults to `False`): also return the :class:`LoadReport`.

    Returns:
        `datasets.Dataset` with ``label`` (ClassLabel anger, disgust, fear, happy, neutral, sad), ``speaker``
        (actor id ``"1001"``), ``transcript`` (from the sentence code), ``intensity``, ``path`` (the audio file,
        or the video for video-only), ``audio`` / ``video`` as chosen, and ``sentence`` (code), ``gender``.
    """
    with_audio, with_video = check_av_modality(modality)
    root = check_root(path, "CREMA-D")
    report = LoadReport("crema_d", str(root))
    audio_dir, audio_files = _media_files(root, AUDIO_DIRS)
    video_dir, video_files = _media_files(root, VIDEO_DIRS)
    if audio_dir is None and video_dir is None:
        raise not_the_corpus("CREMA-D", root, EXPECTED_LAYOUT)
    if with_audio and audio_dir is None:
        raise ValueError(
            f"{root}: modality={modality!r} needs an AudioWAV/ (or AudioMP3/) folder; none found."
        )
    if with_video and video_dir is None:
        raise ValueError(
            f"{root}: modality={modality!r} needs a VideoFlash/ (or VideoMP4/) folder; none found."
        )
    genders = _read_genders(root)

    stems = sorted(set(audio_files if with_audio else {}) | set(video_files if with_video else {}))
    features = standard_features(
        CREMA_D_LABELS, audio=with_audio, video=with_video, extra={"sentence": "string", "gender": "string"}
    )
    columns: dict[str, list] = {name: [] for name in features}
    for stem in stems:
        audio, video = audio_files.get(stem), video_files.get(stem)
        main = audio or video
        fields = parse_crema_d_name(stem)
        if isinstance(fields, str):
            report.skip(main, fields)
            continue
        if with_audio and audio is None:
            report.skip(video, f"no matching audio: {audio_dir.name}/{stem}{AUDIO_DIRS[0][1]} is missing")
            continue
        if with_video and video is None:
            report.skip(audio, f"no matching video: {video_dir.name}/{stem}.* is missing")
            continue
        row = {name: fields[name] for name in ("label", "speaker", "transcript", "intensity", "sentence")}
        add_clip(
            columns, {**row, "gender": genders.get(fields["speaker"], ""), "path": str(main)}, audio, video
        )
    description = f"CREMA-D from {root} (modality={modality})"
    return corpus_dataset(
        "CREMA-D", root, EXPECTED_LAYOUT, columns, Features(features), report, return_report, description
    )
