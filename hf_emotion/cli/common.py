"""Arguments shared by several `hf-emotion` commands."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from hf_emotion.data.corpora import CORPORA
from hf_emotion.training import LoopArguments


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--corpus",
        default="synthetic",
        help=f"corpus name: {', '.join(sorted(CORPORA))} (default: synthetic)",
    )
    group.add_argument("--data-dir", help="the corpus folder")
    group.add_argument("--features-dir", help="an already prepared features folder (instead of --data-dir)")
    group.add_argument(
        "--cache-dir", help="where prepared features are cached (default: DATA_DIR/.hf_emotion_cache/...)"
    )
    group.add_argument(
        "--protocol",
        choices=("speaker", "random"),
        default="speaker",
        help="speaker-independent folds or a random 80:20 split",
    )
    group.add_argument(
        "--n-folds", type=int, help="number of speaker-independent folds (default: the corpus protocol's)"
    )
    group.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first clip that cannot be read (default: skip it and list it in skipped.json)",
    )


def add_saved_model_arguments(parser: argparse.ArgumentParser, splits: tuple[str, ...]) -> None:
    """The arguments of the commands that evaluate a saved model: --model-dir, the data arguments, --fold and
    --split (one of `splits`, default "test")."""
    parser.add_argument("--model-dir", required=True, help="a save_pretrained folder with its processor")
    add_data_arguments(parser)
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument(
        "--split", choices=splits, default="test", help="which side of the fold (or all clips)"
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model-type", default="tucker_av", choices=("tucker_av", "rmlstm"))
    group.add_argument(
        "--preset",
        default="demo",
        choices=("demo", "cached", "paper"),
        help="size preset: demo (small, backbone trained end to end), cached (small, frozen backbone on cached "
        "frame features), paper (the paper's sizes); default: demo",
    )
    group.add_argument(
        "--config-overrides", help='config fields, e.g. "hidden_size=64,modalities=[\\"audio\\"]"'
    )
    frozen = group.add_mutually_exclusive_group()
    frozen.add_argument(
        "--freeze-backbone",
        dest="frozen_backbone",
        action="store_true",
        default=None,
        help="cache frame embeddings of a frozen backbone once and train on them (default: the preset's)",
    )
    frozen.add_argument(
        "--train-backbone",
        dest="frozen_backbone",
        action="store_false",
        help="train the frame encoder on pixels (slow on CPU; default: the preset's)",
    )


def add_loop_arguments(parser: argparse.ArgumentParser, epochs: int = 30) -> None:
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=positive_int, default=epochs)
    group.add_argument("--max-steps", type=positive_int, help="optimiser steps (overrides --epochs)")
    group.add_argument("--batch-size", type=positive_int, default=16)
    group.add_argument("--learning-rate", type=positive_float, default=1e-3)
    group.add_argument("--weight-decay", type=non_negative_float, default=1e-4)
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--mixed-precision",
        choices=("no", "bf16", "fp16"),
        help="default: the Accelerate config's (`accelerate launch --config_file ...`), else no",
    )
    group.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        help="train-time augmentation of the training batches (default: on for tucker_av as in its paper, off "
        "for rmlstm)",
    )
    group.add_argument(
        "--modality-dropout",
        type=float,
        default=0.0,
        help="probability of replacing one modality's input per training clip by a missing stream's (default: 0)",
    )


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (a run with zero steps would write an untrained model)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (``nan`` and ``inf`` refused)."""
    value = _finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def check_json_files(folder: str | Path) -> None:
    """Parse every ``*.json`` of a local model folder, so a damaged one is named (transformers' own message
    does not always say which file it was)."""
    for file in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            json.loads(file.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(
                f"{file} is not valid JSON ({error}); restore it from the saved model (save_pretrained writes it)."
            ) from None


def input_folders(args: argparse.Namespace) -> list[str | None]:
    """Every folder a command reads (the output folder must be separate from all of them)."""
    names = ("data_dir", "features_dir", "cache_dir", "model_dir", "corpus_dir")
    folders = [getattr(args, name, None) for name in names]
    if hasattr(args, "model_type") and hasattr(args, "data_dir"):
        folders.append(default_cache_dir(args))
    return folders


def write_skipped(skipped: list[dict], output_dir: str | Path) -> dict[str, int]:
    """Write ``skipped.json`` (every clip left out of preparation and why) when there is any; returns
    ``{"skipped_files": count}`` for `metrics.json` and the card."""
    if skipped:
        (Path(output_dir) / "skipped.json").write_text(json.dumps(skipped, indent=1))
        print(f"warning: {len(skipped)} clips could not be read and were skipped (listed in skipped.json)")
    return {"skipped_files": len(skipped)}


def loop_arguments(args: argparse.Namespace, output_dir: str, **extra) -> LoopArguments:
    return LoopArguments(
        output_dir=str(output_dir),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        seed=args.seed,
        mixed_precision=args.mixed_precision,
        augment=args.augment,
        modality_dropout=args.modality_dropout,
        logging_steps=5,
        **extra,
    )


def load_experiment_from_args(args: argparse.Namespace) -> tuple:
    """`load_experiment` (hf_emotion.training.experiment) for the model and data arguments of `train` and
    `cross-validate`. Returns ``(config, processor, features, encoder, skipped)``, `skipped` listing the clips
    left out of preparation (for :func:`write_skipped`)."""
    from hf_emotion.training import parse_config_overrides
    from hf_emotion.training.experiment import load_experiment

    skipped: list[dict] = []
    loaded = load_experiment(
        args.model_type,
        args.preset,
        parse_config_overrides(args.config_overrides),
        corpus=args.corpus,
        data_dir=args.data_dir,
        features_dir=args.features_dir,
        cache_dir=default_cache_dir(args),
        frozen_backbone=args.frozen_backbone,
        seed=args.seed,
        strict=args.strict,
        skipped=skipped,
    )
    return (*loaded, skipped)


def default_cache_dir(args: argparse.Namespace) -> str | None:
    if args.cache_dir or not args.data_dir:
        return args.cache_dir
    return f"{args.data_dir.rstrip('/')}/.hf_emotion_cache/{args.model_type}_{args.preset}"


def format_summary(metrics: dict, title: str) -> str:
    """A short text report: headline metrics and a per-class table."""
    lines = [
        title,
        f"  accuracy (WA) {metrics['accuracy']:.3f}   UAR {metrics['uar']:.3f}   "
        f"macro-F1 {metrics['macro_f1']:.3f}   MCC {metrics['mcc']:.3f}   ({metrics['num_samples']} test clips, "
        f"chance {1 / len(metrics['labels']):.3f})",
        f"  {'class':<11} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>8}",
    ]
    for name, row in metrics["per_class"].items():
        lines.append(
            f"  {name:<11} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} {row['support']:>8d}"
        )
    return "\n".join(lines)
