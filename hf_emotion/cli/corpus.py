"""`hf-emotion make-corpus`: write the synthetic audio-visual corpus (RAVDESS layout)."""

from __future__ import annotations

import argparse

from .common import positive_float


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "make-corpus",
        help="write the synthetic audio-visual emotion corpus",
        description="Write the synthetic RAVDESS-layout corpus (8 emotions; audio carries arousal, video the face group).",
    )
    parser.add_argument("--output-dir", required=True, help="folder to write (Actor_XX/*.mp4)")
    parser.add_argument("--n-actors", type=int, default=24, help="actors (default 24, RAVDESS's count)")
    parser.add_argument("--repetitions", type=int, default=1, choices=(1, 2))
    parser.add_argument(
        "--scenario",
        default="additive",
        choices=("additive", "interaction", "timing", "degraded"),
        help="cue design (hf_emotion.data.synthetic_scenarios): additive (default), interaction, timing, degraded",
    )
    parser.add_argument("--statements", type=int, default=2, choices=(1, 2))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--duration", type=positive_float, default=3.0, help="clip length in seconds (default 3, as RAVDESS)"
    )
    parser.add_argument("--workers", type=int, help="parallel processes (default: CPU count)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hf_emotion.data import make_synthetic_corpus

    result = make_synthetic_corpus(
        args.output_dir,
        n_actors=args.n_actors,
        seed=args.seed,
        repetitions=args.repetitions,
        statements=args.statements,
        duration=args.duration,
        num_workers=args.workers,
        overwrite=args.overwrite,
        scenario=args.scenario,
    )
    print(result.summary())
    return 0
