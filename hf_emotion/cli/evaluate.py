"""`hf-emotion evaluate`: evaluate a saved model on a corpus (one fold's test side, or every clip)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_saved_model_arguments, format_summary


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a saved model on a corpus or fold",
        description="Load a model saved by `hf-emotion train`/`demo` (its model/ folder), prepare the corpus with the "
        "model's own processor settings and frozen backbone, and report the metrics.",
    )
    add_saved_model_arguments(parser, ("test", "train", "all"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", help="write the metrics to this JSON file")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoConfig

    from hf_emotion.models.modeling_common import EmotionFrameEncoder
    from hf_emotion.models.processing_emotion import EmotionProcessor
    from hf_emotion.training import check_dataset_labels, evaluate_model
    from hf_emotion.training.experiment import load_labelled_corpus, load_prepared_dir, split_fold
    from hf_emotion.training.factory import _model_classes, check_model_type
    from hf_emotion.training.prepare import add_processor_features, load_or_prepare, normalize_prepared
    from hf_emotion.training.run_folder import atomic_write_text, check_separate_from_inputs

    if args.output:  # checked before any work: a file outside the corpus, in a writable folder
        check_separate_from_inputs(args.output, [args.data_dir, args.features_dir, args.cache_dir])
        if Path(args.output).is_dir():
            raise ValueError(f"--output {args.output} is a folder; give a JSON file name.")
    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved model folder (no config.json).")
    config = AutoConfig.from_pretrained(model_dir)
    model = _model_classes()[check_model_type(config.model_type)][1].from_pretrained(model_dir)
    if not (model_dir / "processor_config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir} has no saved processor (processor_config.json): the features must be made by the "
            "processor the model was trained with; save it beside the model (`processor.save_pretrained`)."
        )
    # The model's own fitted processor: its saved state (frame count, statistics, TF-IDF...) makes the features.
    processor = EmotionProcessor.from_pretrained(model_dir)
    if args.features_dir:
        features, _ = load_prepared_dir(args.features_dir)
        features = normalize_prepared(features, processor)  # prepared raw; the saved statistics standardise
    else:
        if not args.data_dir:
            raise ValueError("Give --data-dir (a corpus folder) or --features-dir (prepared features).")
        dataset = load_labelled_corpus(args.corpus, args.data_dir)
        check_dataset_labels(dataset, config, "corpus")
        encoder = next((m for m in model.modules() if isinstance(m, EmotionFrameEncoder)), None)
        encoder = encoder if getattr(config, "freeze_backbone", False) else None
        # frame features come from the model's own (frozen) backbone, so they match what it was trained on
        skipped: list[dict] = []
        features, _ = load_or_prepare(
            dataset,
            config,
            frozen_backbone=encoder is not None,
            frame_encoder=encoder,
            processor=processor,
            strict=args.strict,
            skipped=skipped,
        )
        for entry in skipped:
            print(f"warning: skipped {entry['path']}: {entry['reason']}", file=sys.stderr)
    features = add_processor_features(features, processor)  # text features from the saved TF-IDF
    data = (
        features
        if args.split == "all"
        else split_fold(features, args.protocol, args.fold, args.n_folds, args.corpus, args.seed)[args.split]
    )
    check_dataset_labels(data, config, args.split)
    metrics = evaluate_model(model, data, args.batch_size, progress=True)
    print(
        format_summary(
            metrics, f"{model_dir} on {args.corpus} ({args.split} side, {args.protocol} fold {args.fold}):"
        )
    )
    if args.output:
        atomic_write_text(args.output, json.dumps(metrics, indent=1))
        print(f"metrics written to {args.output}")
    return 0
