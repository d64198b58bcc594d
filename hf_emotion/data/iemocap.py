"""IEMOCAP loader: utterances of ``Session1..5`` with labels, transcripts, audio and per-utterance video.

Layout read (``<dialog>`` e.g. ``Ses01F_impro01``, ``<utt>`` e.g. ``Ses01F_impro01_F000``)::

    Session1/sentences/wav/<dialog>/<utt>.wav            utterance audio
    Session1/dialog/EmoEvaluation/<dialog>.txt           "[6.2901 - 8.2357]\\t<utt>\\tneu\\t[2.5000, 2.5000, 2.5000]"
    Session1/dialog/transcriptions/<dialog>.txt          "<utt> [006.2901-008.2357]: Excuse me."
    Session1/dialog/avi/DivX/<dialog>.avi                dialog video (both actors)

Utterance video is cut from the dialog AVI at the EmoEvaluation time stamps, re-encoded to H.264 .mp4 (video
only: the utterance audio is the wav) and cached under ``<cache_dir>/iemocap_utterance_video/Session1/
<dialog>/<utt>.mp4``. Source files are never written; existing cuts are re-used. Each dialog is decoded once
and all its utterances are cut in that pass; dialogs run in parallel processes. Cutting the whole corpus
(~10k utterances) takes a while the first time; ``video=False`` skips it.

Labels: ``label_set="4class"`` keeps ang, hap (hap + exc), sad, neu; ``"full"`` keeps the ten IEMOCAP
categories. Utterances outside the chosen set and those without a majority label (``xxx``) are counted in
``LoadReport.excluded``.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
from datasets import Features
from tqdm.auto import tqdm

from .labels import IEMOCAP_4CLASS_LABELS, IEMOCAP_4CLASS_MAP, IEMOCAP_FULL_LABELS
from .loading import (
    LoadReport,
    build_dataset,
    check_choice,
    check_root,
    inside,
    not_the_corpus,
    standard_features,
)
from .media import MediaWriter

logger = logging.getLogger(__name__)

EXPECTED_LAYOUT = (
    "Session1..5/dialog/EmoEvaluation/<dialog>.txt, Session1..5/sentences/wav/<dialog>/<utt>.wav, "
    "Session1..5/dialog/transcriptions/<dialog>.txt, Session1..5/dialog/avi/DivX/<dialog>.avi"
)
_EVALUATION = re.compile(
    r"^\[\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*\]\s+(\S+)\s+(\S+)\s+"
    r"\[\s*(-?[\d.]+),\s*(-?[\d.]+),\s*(-?[\d.]+)\s*\]"
)
_TRANSCRIPT = re.compile(r"^(\S+)\s+\[[\d.]+-[\d.]+\]:\s?(.*)$")
_SESSION = re.compile(r"^Session(\d+)$")


def parse_emo_evaluation(file: Path) -> list[dict]:
    """The utterance lines of one EmoEvaluation file (``[start - end] utt label [V, A, D]``)."""
    rows = []
    for line in file.read_text(errors="replace").splitlines():
        match = _EVALUATION.match(line.strip())
        if match:
            start, end, utterance, label, valence, arousal, dominance = match.groups()
            rows.append(
                {
                    "utterance": utterance,
                    "start": float(start),
                    "end": float(end),
                    "code": label,
                    "valence": float(valence),
                    "arousal": float(arousal),
                    "dominance": float(dominance),
                }
            )
    return rows


def parse_transcriptions(file: Path) -> dict[str, str]:
    """``{utterance id: text}`` from one transcription file (lines ``<utt> [start-end]: text``)."""
    if not file.is_file():
        return {}
    table = {}
    for line in file.read_text(errors="replace").splitlines():
        match = _TRANSCRIPT.match(line.strip())
        if match:
            table[match.group(1)] = match.group(2).strip()
    return table


def cut_dialog_video(source: str | Path, cuts: list[tuple[float, float, str]]) -> dict[str, str]:
    """Cut ``[start, end)`` clips (seconds) out of one video in a single decode pass.

    Args:
        source: the dialog video.
        cuts: ``(start, end, target_path)`` triples; targets that already exist are left alone.

    Returns:
        ``{target: reason}`` for the clips that could not be written (empty when all succeeded).
    """
    pending = sorted((c for c in cuts if not Path(c[2]).is_file()), key=lambda c: c[0])
    if not pending:
        return {}
    writers: dict[int, MediaWriter] = {}
    errors: dict[str, str] = {}
    done: set[int] = set()
    try:
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or 30
            width, height = stream.codec_context.width, stream.codec_context.height
            if pending[0][0] > 2.0:  # jump near the first cut (lands on the keyframe before it)
                container.seek(int((pending[0][0] - 1.0) / stream.time_base), stream=stream, backward=True)
            next_cut = 0
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                while next_cut < len(pending) and pending[next_cut][0] <= frame.time:
                    writers[next_cut] = MediaWriter(pending[next_cut][2], rate, width, height)
                    next_cut += 1
                for index in [i for i in writers if frame.time >= pending[i][1]]:
                    if _finish(writers.pop(index)):
                        done.add(index)
                for writer in writers.values():
                    writer.add_frame(frame)
                if next_cut == len(pending) and not writers:
                    break
        for index in list(writers):  # the video ended before these cuts did
            if _finish(writers.pop(index)):
                done.add(index)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        for writer in writers.values():
            writer.abort()
        for index, (_, _, target) in enumerate(pending):
            if index not in done:
                errors[target] = f"video cut failed: {type(exc).__name__}: {exc}"
        return errors
    for index, (start, end, target) in enumerate(pending):
        if index not in done:
            errors[target] = f"video cut failed: no frames between {start:.2f} s and {end:.2f} s in {source}"
    return errors


def _finish(writer: MediaWriter) -> bool:
    """Close a clip; a clip that received no frame is dropped (reported by the caller)."""
    if writer.n_frames == 0:
        writer.abort()
        return False
    writer.close()
    return True


def _cut_job(job):
    return cut_dialog_video(*job)


def _cut_all(jobs: list[tuple[str, list]], num_workers: int) -> dict[str, str]:
    errors: dict[str, str] = {}
    progress = tqdm(total=len(jobs), desc="Cutting IEMOCAP utterance video", unit="dialog")
    if num_workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            errors.update(_cut_job(job))
            progress.update()
    else:
        context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        )
        with ProcessPoolExecutor(num_workers, mp_context=context) as pool:
            for result in pool.map(_cut_job, jobs):
                errors.update(result)
                progress.update()
    progress.close()
    return errors


def default_cache_dir() -> Path:
    """``$HF_DATASETS_CACHE/hf_emotion`` (usually ``~/.cache/huggingface/datasets/hf_emotion``)."""
    from datasets import config

    return Path(config.HF_DATASETS_CACHE) / "hf_emotion"


def load_iemocap(
    path: str | Path,
    label_set: str = "4class",
    video: bool = True,
    cache_dir: str | Path | None = None,
    sessions: list[int] | None = None,
    num_workers: int | None = None,
    return_report: bool = False,
):
    """Load a local IEMOCAP folder as a `datasets.Dataset` of labelled utterances.

    Args:
        path (`str` or `Path`): the folder holding ``Session1`` ... ``Session5``.
        label_set (`str`, *optional*, defaults to `"4class"`): ``"4class"`` (ang, hap+exc, sad, neu) or
            ``"full"`` (ang, hap, exc, sad, fru, fea, sur, neu, dis, oth).
        video (`bool`, *optional*, defaults to `True`): cut per-utterance video from the dialog AVIs and add a
            ``video`` column; utterances whose dialog video is missing or cannot be cut are skipped.
        cache_dir (`str` or `Path`, *optional*): where the cut clips go (inside ``iemocap_utterance_video/``);
            defaults to :func:`default_cache_dir`.
        sessions (`list[int]`, *optional*): only these session numbers (default: all found).
        num_workers (`int`, *optional*): processes cutting video in parallel (default: CPU count).
        return_report (`bool`, *optional*, defaults to `False`): also return the :class:`LoadReport`.

    Returns:
        `datasets.Dataset` with ``label``, ``speaker`` (``"Ses01F"``: session + the speaking actor's gender),
        ``transcript``, ``intensity`` (``""``), ``path`` (the wav), ``audio``, ``video`` (if ``video``), and
        ``session``, ``dialog``, ``utterance``, ``gender``, ``improvised``, ``start``, ``end`` (seconds in the
        dialog), ``valence``, ``arousal``, ``dominance`` (annotator means, 1-5).
    """
    check_choice("label_set", label_set, ("4class", "full"))
    root = check_root(path, "IEMOCAP")
    report = LoadReport("iemocap", str(root))
    names = IEMOCAP_4CLASS_LABELS if label_set == "4class" else IEMOCAP_FULL_LABELS
    mapping = IEMOCAP_4CLASS_MAP if label_set == "4class" else {name: name for name in IEMOCAP_FULL_LABELS}
    session_dirs = {}
    for folder in sorted(root.iterdir()):
        match = _SESSION.match(folder.name)
        if match and folder.is_dir() and (sessions is None or int(match.group(1)) in sessions):
            session_dirs[int(match.group(1))] = folder
    evaluations = [
        (number, file)
        for number, folder in session_dirs.items()
        for file in sorted((folder / "dialog" / "EmoEvaluation").glob("*.txt"))
        if not file.name.startswith(".")
    ]
    if not evaluations:
        raise not_the_corpus("IEMOCAP", root, EXPECTED_LAYOUT)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    cache = cache / "iemocap_utterance_video"

    rows, jobs = [], []
    for number, evaluation in evaluations:
        session = evaluation.parents[2]
        dialog = evaluation.stem
        utterances = parse_emo_evaluation(evaluation)
        if not utterances:
            report.skip(evaluation, "no utterance lines in EmoEvaluation file")
            continue
        transcripts = parse_transcriptions(session / "dialog" / "transcriptions" / f"{dialog}.txt")
        if not transcripts:
            logger.warning("IEMOCAP: no transcriptions for %s; transcript will be ''.", dialog)
        avi = session / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
        cuts = []
        for utt in utterances:
            wav = session / "sentences" / "wav" / dialog / f"{utt['utterance']}.wav"
            clip = cache / session.name / dialog / f"{utt['utterance']}.mp4"
            if not (inside(session, wav) and inside(cache, clip)):  # an id like "../../x" in the label file
                report.skip(evaluation, f"utterance id {utt['utterance']!r} leads outside the corpus folder")
                continue
            if utt["code"] not in mapping:
                report.exclude(f"label {utt['code']} not in {label_set}")
                continue
            if not wav.is_file():
                report.skip(wav, "missing wav: utterance listed in EmoEvaluation has no audio file")
                continue
            if video and not avi.is_file():
                report.skip(wav, f"missing dialog video: {avi} not found")
                continue
            cuts.append((utt["start"], utt["end"], str(clip)))
            speaker_tag = utt["utterance"].rsplit("_", 1)[-1][:1]
            rows.append(
                {
                    **utt,
                    "label": names.index(mapping[utt["code"]]),
                    "speaker": f"Ses{number:02d}{speaker_tag}",
                    "transcript": transcripts.get(utt["utterance"], ""),
                    "intensity": "",
                    "path": str(wav),
                    "audio": str(wav),
                    "video": str(clip),
                    "session": number,
                    "dialog": dialog,
                    "gender": {"F": "female", "M": "male"}.get(speaker_tag, ""),
                    "improvised": "_impro" in dialog,
                }
            )
        if video and cuts:
            jobs.append((str(avi), cuts))
    if video and jobs:
        errors = _cut_all(jobs, num_workers or os.cpu_count() or 1)
        for row in rows:
            if row["video"] in errors:
                report.skip(row["path"], errors[row["video"]])
        rows = [row for row in rows if row["video"] not in errors]
    if not rows:
        raise not_the_corpus("IEMOCAP", root, EXPECTED_LAYOUT, report)

    extra = {"session": "int32", "dialog": "string", "utterance": "string", "gender": "string"}
    extra.update({"improvised": "bool", "start": "float32", "end": "float32"})
    extra.update({"valence": "float32", "arousal": "float32", "dominance": "float32"})
    features = standard_features(names, audio=True, video=video, extra=extra)
    columns = {name: [row[name] for row in rows] for name in features}
    return build_dataset(
        columns, Features(features), report, return_report, f"IEMOCAP from {root} (label_set={label_set})"
    )
