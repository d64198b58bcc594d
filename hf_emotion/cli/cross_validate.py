"""`hf-emotion cross-validate`: every fold of a protocol → per-fold table and mean ± std (Markdown + JSON)."""

from __future__ import annotations

import argparse

from .common import (
    add_data_arguments,
    add_loop_arguments,
    add_model_arguments,
    input_folders,
    load_experiment_from_args,
    loop_arguments,
    write_skipped,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "cross-validate",
        help="train and evaluate on every fold",
        description="Prepare features once, then train a fresh model on each fold and write "
        "OUTPUT_DIR/cross_validation.md and .json (per-fold metrics, mean ± std over folds).",
    )
    add_model_arguments(parser)
    add_data_arguments(parser)
    parser.add_argument("--folds", type=int, nargs="+", help="only these folds (default: all)")
    add_loop_arguments(parser)
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR")
    parser.add_argument("--title", help="title of the Markdown table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_emotion.training import safe_output_dir

    loop_arguments(args, args.output_dir)  # checks the training settings before any folder or data work
    with safe_output_dir(args.output_dir, overwrite=args.overwrite, inputs=input_folders(args)) as output_dir:
        return _cross_validate(args, output_dir)


def _cross_validate(args: argparse.Namespace, output_dir) -> int:
    from hf_emotion.training.cross_validation import format_markdown, run_cross_validation, write_report

    config, processor, features, encoder, skipped = load_experiment_from_args(args)
    skipped_count = write_skipped(skipped, output_dir)
    report = run_cross_validation(
        config,
        features,
        loop_arguments(args, output_dir, eval_every_epoch=False),
        encoder,
        protocol=args.protocol,
        n_folds=args.n_folds,
        folds=args.folds,
        corpus=args.corpus,
        processor=processor,
    )
    report.update(skipped_count)  # {"skipped_files": N}: in cross_validation.json/.md
    title = (
        args.title
        or f"{args.model_type} ({args.config_overrides or args.preset}) on {args.corpus}, {args.protocol} folds"
    )
    markdown, data = write_report(report, output_dir, title)
    print(format_markdown(report, title))
    print(f"written: {args.output_dir}/{markdown.name}, {args.output_dir}/{data.name}")
    return 0
