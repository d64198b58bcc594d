"""SAVEE loader: ``AudioData/<speaker>/<code><nn>.wav`` and ``AudioVisualClip/<speaker>/<code><nn>.avi``.

Speakers DC, JE, JK, KL (all male). Codes a, d, f, h, n, sa, su = anger, disgust, fear, happiness, neutral,
sadness, surprise; ``nn`` is the sentence number within the emotion. SAVEE ships no machine-readable
transcripts, so ``transcript`` is ``""`` unless a sentence list is passed (``sentences=``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from datasets import Features

from .labels import SAVEE_CODES, SAVEE_LABELS
from .loading import (
    LoadReport,
    add_clip,
    check_av_modality,
    check_root,
    corpus_dataset,
    not_the_corpus,
    standard_features,
)

EXPECTED_LAYOUT = "AudioData/<speaker>/<code><nn>.wav and/or AudioVisualClip/<speaker>/<code><nn>.avi, e.g. AudioData/DC/a01.wav"
_NAME = re.compile(r"^(sa|su|a|d|f|h|n)(\d{2})$")


def parse_savee_name(stem: str) -> dict | str:
    """The fields of one SAVEE file stem (``sa03``), or a string saying why it is not valid."""
    match = _NAME.match(stem)
    if match is None:
        return f"unparseable name: expected <code><nn> with code in {sorted(SAVEE_CODES)}"
    code, number = match.groups()
    return {"label": SAVEE_LABELS.index(SAVEE_CODES[code]), "sentence": f"{code}{number}"}


def _read_sentences(sentences) -> dict[str, str]:
    """``{"a01": "text", ...}`` from a mapping or a text file of ``<code><nn> <sentence>`` lines."""
    if sentences is None:
        return {}
    if isinstance(sentences, Mapping):
        return dict(sentences)
    file = Path(sentences)
    if not file.is_file():
        raise FileNotFoundError(f"SAVEE sentence list not found: {file}")
    table = {}
    for number, line in enumerate(file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, _, text = line.strip().partition(" ")
        if _NAME.match(key) is None or not text.strip():
            raise ValueError(
                f"{file}:{number}: expected '<code><nn> <sentence>', e.g. 'a01 She had your ...'."
            )
        table[key] = text.strip()
    return table


def _files(folder: Path, suffix: str) -> dict[tuple[str, str], Path]:
    if not folder.is_dir():
        return {}
    return {
        (p.parent.name, p.stem): p
        for p in sorted(folder.glob(f"*/*{suffix}"))
        if p.is_file() and not p.name.startswith(".")
    }


def load_savee(
    path: str | Path,
    modality: str = "audio-visual",
    sentences: Mapping[str, str] | str | Path | None = None,
    return_report: bool = False,
):
    """Load a local SAVEE folder as a `datasets.Dataset`.

    Args:
        path (`str` or `Path`): the folder holding ``AudioData/`` and ``AudioVisualClip/``.
        modality (`str`, *optional*, defaults to `"audio-visual"`): ``"audio-visual"`` (a wav and an avi per
            clip; a clip missing either is skipped and reported), ``"audio-only"`` or ``"video-only"``.
        sentences (`Mapping` or path, *optional*): transcripts by clip code (``{"a01": "..."}``), or a text
            file of ``a01 <sentence>`` lines; clip codes absent from it get ``""``.
        return_report (`bool`, *optional*, defaults to `False`): also return the :class:`LoadReport`.

    Returns:
        `datasets.Dataset` with ``label`` (ClassLabel, 7 SAVEE emotions), ``speaker`` (``"DC"``),
        ``transcript``, ``intensity`` (``""``), ``path``, ``audio`` / ``video`` as chosen, ``sentence``
        (clip code ``"a01"``) and ``gender`` (``"male"``).
    """
    with_audio, with_video = check_av_modality(modality)
    root = check_root(path, "SAVEE")
    report = LoadReport("savee", str(root))
    transcripts = _read_sentences(sentences)
    audio_files = _files(root / "AudioData", ".wav")
    video_files = _files(root / "AudioVisualClip", ".avi")
    if not audio_files and not video_files:
        raise not_the_corpus("SAVEE", root, EXPECTED_LAYOUT)
    features = standard_features(
        SAVEE_LABELS, audio=with_audio, video=with_video, extra={"sentence": "string", "gender": "string"}
    )
    columns: dict[str, list] = {name: [] for name in features}
    keys = sorted(set(audio_files if with_audio else {}) | set(video_files if with_video else {}))
    for speaker, stem in keys:
        audio, video = audio_files.get((speaker, stem)), video_files.get((speaker, stem))
        fields = parse_savee_name(stem)
        if isinstance(fields, str):
            report.skip(audio or video, fields)
            continue
        if with_audio and audio is None:
            report.skip(video, f"no matching audio: AudioData/{speaker}/{stem}.wav is missing")
            continue
        if with_video and video is None:
            report.skip(audio, f"no matching video: AudioVisualClip/{speaker}/{stem}.avi is missing")
            continue
        row = {
            "label": fields["label"],
            "sentence": fields["sentence"],
            "speaker": speaker,
            "transcript": transcripts.get(stem, ""),
            "intensity": "",
            "gender": "male",
            "path": str(audio or video),
        }
        add_clip(columns, row, audio, video)
    description = f"SAVEE from {root} (modality={modality})"
    return corpus_dataset(
        "SAVEE", root, EXPECTED_LAYOUT, columns, Features(features), report, return_report, description
    )
