"""Robustness to a missing or degraded modality (paper 000's claim): corrupt one modality of every test clip at
test time and evaluate a trained model through its own processor.

Corruptions (each touches one modality; the other is left as decoded):

================== =========================================================================================
name               what the clip becomes
================== =========================================================================================
clean              unchanged
audio_snr20 / 10 / white noise mixed into the sound track at 20, 10 or 0 dB SNR
0
audio_muted        digital silence (a muted track; the waveform keeps its length)
video_occluded     a flat grey box over the middle of every frame (the central 50 % of the width, 60 % of the
                   height, where a face sits in RAVDESS-like framing)
video_frozen       every frame replaced by the first one (a stalled camera)
video_missing      every frame black (no picture)
================== =========================================================================================

The noise and the box are drawn per clip from a seeded generator, so a run is reproducible. A *video file with
no sound track* is not a corruption here: the pipeline refuses it for a model that uses audio (one clear error
naming the file) — evaluate ``audio_muted`` to see what silence does instead.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from hf_emotion.data.augment import mix_at_snr
from hf_emotion.metrics import compute_emotion_metrics

logger = logging.getLogger(__name__)

CORRUPTIONS = (
    "clean",
    "audio_snr20",
    "audio_snr10",
    "audio_snr0",
    "audio_muted",
    "video_occluded",
    "video_frozen",
    "video_missing",
)


def check_corruptions(names: Sequence[str]) -> list[str]:
    bad = [name for name in names if name not in CORRUPTIONS]
    if bad:
        raise ValueError(f"Unknown corruption(s) {bad}; choose from {list(CORRUPTIONS)}.")
    return list(names)


def corrupt_clip(
    waveform: np.ndarray, frames: np.ndarray, corruption: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One clip with `corruption` applied (module table). ``waveform`` (samples,) float32; ``frames`` (T, H, W, 3)
    uint8. Returns new arrays; the inputs are not modified."""
    check_corruptions([corruption])
    waveform, frames = np.asarray(waveform, dtype=np.float32), np.asarray(frames)
    if corruption.startswith("audio_snr"):
        signal = torch.from_numpy(waveform.copy())
        noise = torch.from_numpy(rng.standard_normal(waveform.shape[0]).astype(np.float32))
        if float(signal.pow(2).mean()) == 0.0:  # silence has no SNR: leave it
            return waveform.copy(), frames.copy()
        return mix_at_snr(signal, noise, float(corruption[len("audio_snr") :])).numpy(), frames.copy()
    if corruption == "audio_muted":
        return np.zeros_like(waveform), frames.copy()
    frames = frames.copy()
    if corruption == "video_occluded":
        height, width = frames.shape[1:3]
        top, left = int(0.2 * height), int(0.25 * width)
        frames[:, top : top + int(0.6 * height), left : left + int(0.5 * width)] = 128
    elif corruption == "video_frozen":
        frames[:] = frames[:1]
    elif corruption == "video_missing":
        frames[:] = 0
    return waveform.copy(), frames


def decode_clips(paths: Sequence[str], processor: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decoded (waveform, frames) of each clip — the inputs :func:`corrupt_clip` takes — through the processor's
    own windowed decoder (`EmotionProcessor.decode`): the span, frame count, rate and decoding size the model
    sees on a file (a long file's centre `clip_seconds`), audio and frames from the same window."""
    media = copy.copy(processor)
    media.modalities = ["audio", "video"]  # both streams are corrupted, whatever the model reads
    clips = []
    for path in paths:
        window = media.decode(path)
        if window.missing:
            raise ValueError(
                f"`{path}` has no {' and no '.join(window.missing)} in its centre window; the robustness evaluation "
                "corrupts audio and video, so it needs clips with both. Remove the clip from the corpus folder."
            )
        clips.append((window.waveform, window.frames))
    return clips


def corrupted_inputs(
    processor: Any,
    clips: Sequence[tuple[np.ndarray, np.ndarray]],
    corruption: str,
    sampling_rate: int = 16000,
    seed: int = 0,
    first_index: int = 0,
):
    """The processor's outputs (`BatchFeature`) for `clips` under `corruption`; clip ``first_index + i`` always
    gets the same random draw for a given seed and corruption."""
    corrupted = [
        corrupt_clip(
            waveform, frames, corruption, np.random.default_rng([seed, CORRUPTIONS.index(corruption), i])
        )
        for i, (waveform, frames) in enumerate(clips, start=first_index)
    ]
    return processor(
        videos=[frames for _, frames in corrupted],
        audio=[waveform for waveform, _ in corrupted],
        sampling_rate=sampling_rate,
    )


@torch.no_grad()
def evaluate_robustness(
    model: torch.nn.Module,
    processor: Any,
    clips: Sequence[tuple[np.ndarray, np.ndarray]],
    labels: Sequence[int],
    corruptions: Sequence[str] = CORRUPTIONS,
    sampling_rate: int = 16000,
    featurize: Callable[[Any], dict[str, torch.Tensor]] | None = None,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[str, dict[str, Any]]:
    """Metrics of `model` on `clips` under each corruption.

    Args:
        model: a trained hf_emotion model (or any model whose forward takes the processor's outputs).
        processor: its processor (`EmotionProcessor.from_pretrained(model_dir)`).
        clips: decoded ``(waveform, frames)`` pairs (:func:`decode_clips`), ``frames`` (T, H, W, 3) uint8.
        labels: class index of each clip.
        corruptions: names from :data:`CORRUPTIONS`.
        featurize: maps the processor's `BatchFeature` to the model's keyword inputs (default: the processor's
            outputs as they are; e.g. for a model that reads precomputed ``frame_features``, compute them here).
        seed: seeds the noise; clip i under corruption c always gets the same draw.

    Returns:
        ``{corruption: compute_emotion_metrics(...)}`` (accuracy, uar, macro_f1, ...).
    """
    check_corruptions(corruptions)
    if len(clips) != len(labels) or not clips:
        raise ValueError(f"Give one label per clip (got {len(clips)} clips and {len(labels)} labels).")
    names = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
    was_training = model.training
    model.eval()
    results = {}
    for corruption in corruptions:
        predictions = []
        for start in range(0, len(clips), batch_size):
            features = corrupted_inputs(
                processor, clips[start : start + batch_size], corruption, sampling_rate, seed, start
            )
            inputs = featurize(features) if featurize is not None else dict(features)
            predictions.append(model(**inputs).logits.argmax(-1).cpu().numpy())
        results[corruption] = compute_emotion_metrics(
            np.concatenate(predictions), np.asarray(labels), labels=list(range(len(names))), label_names=names
        )
        logger.info("%s: accuracy %.3f", corruption, results[corruption]["accuracy"])
    model.train(was_training)
    return results


__all__ = [
    "CORRUPTIONS",
    "check_corruptions",
    "corrupt_clip",
    "corrupted_inputs",
    "decode_clips",
    "evaluate_robustness",
]
