"""Cross-validation: train and evaluate on every fold of a protocol, then report each fold and mean ± std.

The standard deviation is the population standard deviation over folds (``ddof=0``), as in most emotion
papers' "mean ± std over folds". Reports are written as Markdown (``cross_validation.md``) and JSON
(``cross_validation.json``).
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import PretrainedConfig

from hf_emotion.models.modeling_common import EmotionFrameEncoder
from hf_emotion.models.processing_emotion import EmotionProcessor

from .experiment import split_fold
from .loop import LoopArguments
from .outputs import train_fold
from .prepare import fit_processor

logger = logging.getLogger(__name__)

SUMMARY_METRICS = (
    "accuracy",
    "uar",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "macro_specificity",
    "mcc",
)
"""Fold metrics summarised as mean ± std (accuracy = WA, uar = UA/UAR)."""


def fold_count(
    features: Dataset, protocol: str, n_folds: int | None, corpus: str | None, seed: int = 0
) -> int:
    if protocol == "random":
        return 1
    from hf_emotion.data import speaker_independent_folds

    return len(speaker_independent_folds(features, n_folds=n_folds, corpus=corpus, seed=seed))


def run_cross_validation(
    config: PretrainedConfig,
    features: Dataset,
    args: LoopArguments,
    frame_encoder: EmotionFrameEncoder | None = None,
    protocol: str = "speaker",
    n_folds: int | None = None,
    folds: list[int] | None = None,
    corpus: str | None = None,
    processor: EmotionProcessor | None = None,
) -> dict[str, Any]:
    """Train a fresh model (same seed) on each fold's training side and evaluate it on the test side.

    Each fold fits its own copy of the run's (unfitted) `processor` (default: built from `config`) on its
    training side, so nothing learnt from data (TF-IDF vocabulary, statistics) crosses from a fold's test side
    into its model.

    Returns:
        ``{"protocol", "num_folds", "folds": [{"fold", "test_speakers", "num_train", "num_test", <metrics>,
        "confusion_matrix"}], "summary": {metric: {"mean", "std", "per_fold"}}, "labels", "config"}``.
    """
    if processor is None:
        processor = EmotionProcessor.from_model_config(config)
    total = fold_count(features, protocol, n_folds, corpus, args.seed)
    folds = list(range(total)) if folds is None else list(folds)
    bad = [f for f in folds if not 0 <= f < total]
    if bad:
        raise ValueError(f"Folds {bad} do not exist: this protocol has {total} folds (0-{total - 1}).")
    rows = []
    for fold in folds:
        splits = split_fold(features, protocol, fold, n_folds, corpus, args.seed)
        fold_args = replace(
            args, output_dir=str(Path(args.output_dir) / f"fold_{fold}"), resume_from_checkpoint=None
        )
        fold_processor = copy.deepcopy(processor)
        fold_splits, fold_config = fit_processor(fold_processor, splits, config)
        _, result = train_fold(fold_config, fold_splits, fold_args, fold_processor, frame_encoder)
        metrics = result.eval_metrics
        speakers = sorted(set(splits["test"]["speaker"])) if "speaker" in splits["test"].column_names else []
        row = {
            "fold": fold,
            "test_speakers": speakers,
            "num_train": len(splits["train"]),
            "num_test": len(splits["test"]),
        }
        row.update({name: metrics[name] for name in SUMMARY_METRICS})
        row["per_class_f1"] = {name: values["f1"] for name, values in metrics["per_class"].items()}
        row["confusion_matrix"] = metrics["confusion_matrix"]
        rows.append(row)
        logger.info("fold %d: accuracy %.3f, UAR %.3f", fold, metrics["accuracy"], metrics["uar"])
    summary = {}
    for name in SUMMARY_METRICS:
        values = np.array([row[name] for row in rows], dtype=float)
        summary[name] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "per_fold": values.tolist(),
        }
    return {
        "protocol": protocol,
        "num_folds": len(rows),
        "folds": rows,
        "summary": summary,
        "labels": list(rows[0]["per_class_f1"]) if rows else [],
        "config": config.to_diff_dict(),
    }


def format_markdown(report: dict[str, Any], title: str = "Cross-validation") -> str:
    """A per-fold table and a mean ± std row; the count of unreadable clips left out, when the report has one
    (``skipped_files``)."""
    columns = ("accuracy", "uar", "macro_f1", "mcc")
    header = "| fold | test speakers | train / test clips | accuracy (WA) | UAR | macro-F1 | MCC |"
    lines = [f"### {title}", "", header, "|---|---|---|---|---|---|---|"]
    for row in report["folds"]:
        values = " | ".join(f"{row[c]:.3f}" for c in columns)
        lines.append(
            f"| {row['fold']} | {', '.join(row['test_speakers'])} | {row['num_train']} / {row['num_test']} | {values} |"
        )
    means = " | ".join(
        f"**{report['summary'][c]['mean']:.3f} ± {report['summary'][c]['std']:.3f}**" for c in columns
    )
    lines.append(f"| mean ± std | | | {means} |")
    if report.get("skipped_files"):
        lines += [
            "",
            f"{report['skipped_files']} clips could not be read and were left out (see skipped.json).",
        ]
    return "\n".join(lines) + "\n"


def write_report(
    report: dict[str, Any], output_dir: str | Path, title: str = "Cross-validation"
) -> tuple[Path, Path]:
    """Write ``cross_validation.md`` and ``cross_validation.json`` into `output_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    markdown = output_dir / "cross_validation.md"
    markdown.write_text(format_markdown(report, title))
    data = output_dir / "cross_validation.json"
    data.write_text(json.dumps(report, indent=1, default=str))
    return markdown, data
