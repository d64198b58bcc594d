"""`hf-emotion demo`: the whole flow on the synthetic corpus in a few minutes on a 2-core CPU.

Demo configuration: a synthetic corpus (additive scenario, the generator's default) of 24 actors (RAVDESS's
count) × 15 clips (one statement, one repetition; 360 clips of 3 s); `tucker_av` with the ``demo`` preset of
`hf_emotion.training.PRESETS`: 64 Mel bands × 128 frames; 4 video frames of 48 × 48 px through a ResNet-18
trained with the rest (random init: no ImageNet weights can be downloaded here); latent size 64, 16 aligned
steps, Tucker ranks 8 × 32 × 32, MFB 128 × 2; linear layers initialised at std 1/√64 (`UNIT_GAIN_INIT`, so
that the cross-attention can learn); AdamW (lr 2e-3, weight decay 1e-4), batch 16, 20 epochs, on the
speaker-independent split whose test side is actors 01-06 (fold 0 of 4). With 8 actors the face cue does not
generalise to unseen actors (the model then learns little beyond audio arousal: UAR 0.25-0.34); with 24 it
does. The summary and ``metrics.json`` give the cross-modal attention's KL divergence from uniform
(`hf_emotion.metrics.attention_kl_from_uniform`; 0 = flat). ``--preset cached`` trains on frame embeddings of a
frozen backbone computed once (8 frames of 64 px) instead: faster, but a frozen RANDOM ResNet-18 hardly sees
the synthetic faces' cue, so it learns mostly from audio. ``--tiny`` shrinks everything (2 actors, 2 epochs)
for tests.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from .common import format_summary, positive_int

# Linear layers start at std 1/√64 (unit gain at the demo's latent size 64) instead of the config's 0.02: at 0.02 the
# projected sequences enter the cross-attention at rms ~0.1 (audio) and ~0.015 (video), the attention logits
# (quadratic in that scale) differ by ~1e-3 and 20 epochs of AdamW leave the attention uniform (KL from uniform
# 0.001 nats at 8 actors, 0.02-0.06 at 24); at unit gain video→audio attention learns to pick the spoken steps.
UNIT_GAIN_INIT = {"initializer_range": 64**-0.5}
DEMO = {
    "n_actors": 24,
    "n_folds": 4,
    "epochs": 20,
    "batch_size": 16,
    "learning_rate": 2e-3,
    "overrides": UNIT_GAIN_INIT,
}
TINY = {
    "n_actors": 2,
    "n_folds": 2,
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 2e-3,
    "overrides": {
        **UNIT_GAIN_INIT,
        "num_frames": 2,
        "image_size": 32,
        "num_audio_frames": 64,
        "num_mel_bins": 32,
    },
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="make the synthetic corpus, train and evaluate a demo tucker_av, write everything to one folder",
        description=__doc__.split("\n\n")[0]
        + " Writes OUTPUT_DIR/model (save_pretrained + processor + model card), "
        "metrics.json, history.json and PNG figures, and prints a summary.",
    )
    parser.add_argument("--output-dir", default="demo_output")
    parser.add_argument(
        "--corpus-dir",
        default="demo_corpus",
        help="where the synthetic corpus is written (reused if present)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty OUTPUT_DIR")
    parser.add_argument("--epochs", type=positive_int, help="override the demo's 20 epochs")
    parser.add_argument(
        "--preset",
        choices=("demo", "cached"),
        default="demo",
        help="demo: backbone trained end to end; cached: frozen backbone",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run (2 actors, tiny sizes)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_emotion.training import LoopArguments, safe_output_dir

    settings = TINY if args.tiny else DEMO
    loop_args = LoopArguments(  # checked before any folder or data work
        output_dir=str(args.output_dir),
        num_train_epochs=settings["epochs"] if args.epochs is None else args.epochs,
        per_device_train_batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        seed=args.seed,
        logging_steps=5,
    )
    with safe_output_dir(args.output_dir, overwrite=args.overwrite, inputs=[args.corpus_dir]) as output_dir:
        loop_args.output_dir = str(output_dir)
        return _demo(args, output_dir, loop_args)


def _demo(args: argparse.Namespace, output_dir: Path, loop_args) -> int:
    from hf_emotion.data import load_synthetic, make_synthetic_corpus
    from hf_emotion.models.processing_emotion import EmotionProcessor
    from hf_emotion.training import build_config
    from hf_emotion.training.experiment import label_names, split_fold
    from hf_emotion.training.outputs import train_fold, write_run_outputs
    from hf_emotion.training.prepare import fit_processor, load_or_prepare

    started = time.perf_counter()
    settings = TINY if args.tiny else DEMO
    print(f"[1/4] synthetic corpus ({settings['n_actors']} actors) in {args.corpus_dir}")
    corpus = make_synthetic_corpus(
        args.corpus_dir, n_actors=settings["n_actors"], seed=args.seed, repetitions=1, statements=1
    )
    print(f"      {corpus.summary()}")
    dataset = load_synthetic(corpus.root)
    config = build_config("tucker_av", label_names(dataset), args.preset, settings["overrides"])
    video = "frozen ResNet-18 frame embeddings" if config.freeze_backbone else "video frames"
    print(f"[2/4] features: log-Mel + {video} ({config.num_frames} frames, {config.image_size} px), cached")
    cache = Path(args.corpus_dir) / ".hf_emotion_cache" / f"{'tiny_' if args.tiny else ''}{args.preset}"
    processor = EmotionProcessor.from_model_config(config)  # the run's one processor
    features, encoder = load_or_prepare(dataset, config, cache_dir=cache, seed=args.seed, processor=processor)
    splits = split_fold(features, "speaker", 0, settings["n_folds"], "synthetic", args.seed)
    test_speakers = sorted(set(splits["test"]["speaker"]))
    print(
        f"[3/4] training tucker_av ({args.preset} preset) on {len(splits['train'])} clips, testing on {len(splits['test'])} "
        f"clips of unseen actors {', '.join(test_speakers)}"
    )
    splits, config = fit_processor(processor, splits, config)
    model, result = train_fold(config, splits, loop_args, processor, encoder)
    print("[4/4] writing the model, metrics, figures and model card")
    protocol = (
        f"speaker-independent, test actors {', '.join(test_speakers)} (fold 0 of {settings['n_folds']})"
    )
    files = write_run_outputs(
        model,
        result,
        output_dir,
        splits["test"],
        extra={
            "protocol": protocol,
            "demo_settings": {k: v for k, v in settings.items() if k != "overrides"},
        },
        protocol=protocol,
    )
    print()
    print(format_summary(result.eval_metrics, f"Demo tucker_av on the synthetic corpus ({protocol}):"))
    flatness = json.loads(files["metrics"].read_text()).get("attention_kl_from_uniform")
    if flatness is not None:
        steps = config.num_time_steps
        print(
            f"  attention KL from uniform (nats; 0 = flat, {math.log(steps):.2f} = one-hot; mean over "
            f"{flatness['num_clips']} test clips): audio → video {flatness['audio_to_video']:.3f}, "
            f"video → audio {flatness['video_to_audio']:.3f}"
        )
    print()
    print(f"Outputs in {Path(args.output_dir).resolve()}:")
    for name, path in sorted(files.items()):
        if path is not None:
            print(
                f"  {name:<22} {Path(path).relative_to(output_dir.resolve()) if Path(path).is_absolute() else Path(path).relative_to(output_dir)}"
            )
    print(f"Done in {time.perf_counter() - started:.0f} s.")
    return 0
