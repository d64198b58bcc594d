"""`hf-emotion train`: train a model on one fold of a corpus and write the model, metrics and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import (
    add_data_arguments,
    add_loop_arguments,
    add_model_arguments,
    format_summary,
    input_folders,
    load_experiment_from_args,
    loop_arguments,
    write_skipped,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a model on one fold",
        description="Prepare features (cached), train on one fold's training side, evaluate on its test side, and "
        "write OUTPUT_DIR/model (save_pretrained + processor + card), metrics.json, history.json and PNG figures.",
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--fold", type=int, default=0, help="which speaker-independent fold is the test side")
    add_loop_arguments(parser)
    parser.add_argument("--checkpointing-steps", type=int, help="save a resumable checkpoint every N steps")
    parser.add_argument(
        "--save-total-limit", type=int, help="keep only the newest N checkpoints (default: all)"
    )
    parser.add_argument("--resume", action="store_true", help="resume the last checkpoint in OUTPUT_DIR")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_emotion.training import safe_output_dir

    loop_arguments(args, args.output_dir)  # checks the training settings before any folder or data work
    with safe_output_dir(
        args.output_dir, overwrite=args.overwrite, resume=args.resume, inputs=input_folders(args)
    ) as output_dir:
        return _train(args, output_dir)


def _train(args: argparse.Namespace, output_dir: Path) -> int:
    from hf_emotion.training.experiment import split_fold
    from hf_emotion.training.outputs import train_fold, write_run_outputs
    from hf_emotion.training.prepare import fit_processor

    config, processor, features, encoder, skipped = load_experiment_from_args(args)
    splits = split_fold(features, args.protocol, args.fold, args.n_folds, args.corpus, args.seed)
    loop_args = loop_arguments(
        args,
        output_dir,
        checkpointing_steps=args.checkpointing_steps,
        save_total_limit=args.save_total_limit,
        resume_from_checkpoint="latest" if args.resume else None,
    )
    splits, config = fit_processor(processor, splits, config)  # the run's one processor, fitted on "train"
    model, result = train_fold(config, splits, loop_args, processor, encoder)
    protocol = f"{args.protocol} fold {args.fold}"
    files = write_run_outputs(
        model,
        result,
        output_dir,
        splits["test"],
        extra={"protocol": protocol, **write_skipped(skipped, output_dir)},
        dataset_names=(args.corpus,),
        protocol=protocol,
    )
    print(format_summary(result.eval_metrics, f"{args.model_type} on {args.corpus}, {protocol}:"))
    print(
        f"outputs in {Path(args.output_dir).resolve()}: {', '.join(sorted(p.name for p in files.values() if p))}"
    )
    return 0
