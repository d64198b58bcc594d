"""`hf-emotion robustness`: evaluate a saved model with one modality corrupted at test time."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import add_saved_model_arguments


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "robustness",
        help="evaluate a saved model with one modality corrupted (noise, muted, occluded, frozen, missing)",
        description="Decode the test clips of a fold, corrupt one modality of each (hf_emotion.training.robustness), "
        "run them through the model's own processor and report accuracy / UAR / macro-F1 per corruption.",
    )
    add_saved_model_arguments(parser, ("test", "all"))
    parser.add_argument(
        "--corruptions",
        nargs="+",
        help="clean audio_snr20 audio_snr10 audio_snr0 audio_muted video_occluded video_frozen video_missing "
        "(default: all)",
    )
    parser.add_argument("--output", help="write the metrics to this JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seeds the noise")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from transformers import AutoConfig

    from hf_emotion.models.processing_emotion import EmotionProcessor
    from hf_emotion.training.experiment import load_labelled_corpus, split_fold
    from hf_emotion.training.factory import _model_classes, check_model_type
    from hf_emotion.training.robustness import (
        CORRUPTIONS,
        check_corruptions,
        decode_clips,
        evaluate_robustness,
    )

    corruptions = check_corruptions(args.corruptions or CORRUPTIONS)

    model_dir = Path(args.model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} is not a saved model folder (no config.json).")
    config = AutoConfig.from_pretrained(model_dir)
    if "text" in getattr(config, "modalities", []):
        raise ValueError(
            "robustness covers audio and video; this model also reads text, which is not supported."
        )
    if not args.data_dir:
        raise ValueError("Give --data-dir: the corpus folder whose clips are decoded and corrupted.")
    model = _model_classes()[check_model_type(config.model_type)][1].from_pretrained(model_dir)
    processor = EmotionProcessor.from_pretrained(model_dir)
    dataset = load_labelled_corpus(args.corpus, args.data_dir)
    if args.split == "test":
        dataset = split_fold(dataset, args.protocol, args.fold, args.n_folds, args.corpus, args.seed)["test"]
    clips = decode_clips(dataset["path"], processor)
    results = evaluate_robustness(
        model,
        processor,
        clips,
        dataset["label"],
        corruptions,
        processor.feature_extractor.sampling_rate,
        seed=args.seed,
    )
    print(f"{len(clips)} clips ({args.split} side of fold {args.fold}), {model_dir}:")
    print("| corruption | accuracy (WA) | UAR | macro-F1 |")
    print("|---|---|---|---|")
    for name, metrics in results.items():
        print(f"| {name} | {metrics['accuracy']:.3f} | {metrics['uar']:.3f} | {metrics['macro_f1']:.3f} |")
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=1, default=str))
        print(f"written: {args.output}")
    return 0
