"""`hf-emotion predict`, `hf-emotion push` and `hf-emotion export-onnx`.

`register(subparsers)` adds the three subcommands to the main CLI's argparse sub-parsers; each sets
``func=<handler>``, a function of the parsed arguments that prints its result and returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .common import check_json_files, positive_float, positive_int


def _predict(args: argparse.Namespace) -> int:
    """Print a result for every video that can be read; list the others on stderr (exit status 1)."""
    from transformers import pipeline

    import hf_emotion  # noqa: F401  (registers the model types and the task)
    from hf_emotion.data.loading import check_exists
    from hf_emotion.models.pipeline_emotion import TASK, AudioVisualEmotionPipeline, register_pipeline

    looks_like_path = args.model.startswith((".", "/", "~")) or args.model.count("/") > 1
    if os.path.lexists(args.model) or looks_like_path:  # a local folder (else a Hub id "user/name")
        check_exists(args.model, "model folder", "pass a folder written by save_pretrained, or a Hub id")
        check_json_files(os.path.expanduser(args.model))
    register_pipeline()
    # The installed package's pipeline unless the code saved with the model is trusted.
    pipeline_class = None if args.trust_remote_code else AudioVisualEmotionPipeline
    classifier = pipeline(
        TASK, model=args.model, trust_remote_code=args.trust_remote_code, pipeline_class=pipeline_class, device=-1
    )
    kwargs = {"top_k": args.top_k}
    if args.transcript is not None:
        kwargs["transcript"] = args.transcript
    if args.chunk_length_s is not None:
        kwargs.update(chunk_length_s=args.chunk_length_s, stride_length_s=args.stride_length_s)
    failed: dict[str, str] = {}
    videos = []
    for video in args.videos:
        try:
            videos.append(str(check_exists(video, "video", "check the path")))
        except OSError as error:
            failed[video] = str(error)
    results: dict[str, list] = {}
    try:
        results = dict(zip(videos, classifier(videos, batch_size=args.batch_size, **kwargs))) if videos else {}
    except (ValueError, RuntimeError, OSError):  # one bad file fails the batch: find it, keep the others
        for video in videos:
            try:
                results[video] = classifier(video, **kwargs)
            except (ValueError, RuntimeError, OSError) as error:
                failed[video] = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
    for video in args.videos:
        if video not in results and str(Path(video).expanduser()) not in results:
            continue
        _print_prediction(args, video, results.get(video, results.get(str(Path(video).expanduser()))))
    for video, reason in failed.items():
        print(f"error: {video}: {reason}", file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} of {len(args.videos)} videos could not be read", file=sys.stderr)
        return 1
    return 0


def _print_prediction(args: argparse.Namespace, video: str, result) -> None:
    if args.json:
        print(json.dumps({"video": video, "predictions": result}))
    elif args.chunk_length_s is not None:
        print(video)
        for segment in result:
            print(
                f"  {segment['start']:8.2f}-{segment['end']:8.2f} s  {segment['label']:<12} {segment['score']:.3f}"
            )
    else:
        print(f"{video}: " + ", ".join(f"{p['label']} {p['score']:.3f}" for p in result))


def _push(args: argparse.Namespace) -> int:
    from hf_emotion.hub import push_to_hub

    card = {}
    if args.eval_results is not None:
        card["eval_results"] = args.eval_results
    if args.datasets:
        card["dataset_names"] = args.datasets
    if args.protocol is not None:
        card["protocol"] = args.protocol
    info = push_to_hub(args.model_dir, args.repo_id, private=args.private, token=args.token, **card)
    print(f"Pushed {args.model_dir} to {args.repo_id}: {info.commit_url}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from hf_emotion.onnx_export import example_inputs, export_onnx, run_onnx

    path = export_onnx(args.model_dir, args.output, opset_version=args.opset)
    if args.check:
        import torch
        from transformers import AutoModelForAudioClassification

        model = AutoModelForAudioClassification.from_pretrained(args.model_dir).eval()
        inputs = example_inputs(model, batch_size=3)
        with torch.no_grad():
            difference = abs(run_onnx(path, inputs) - model(**inputs).logits.numpy()).max()
        print(f"ONNX Runtime vs PyTorch, batch 3: max |logit difference| = {difference:.2e}")
    print(f"Wrote {path}")
    if args.int8:
        from transformers import AutoModelForAudioClassification

        from hf_emotion.onnx_export import calibration_inputs, onnx_input_names, quantize_onnx

        videos = (".mp4", ".avi", ".flv", ".mov", ".mkv")
        clips = sorted(p for p in Path(args.int8).rglob("*") if p.suffix.lower() in videos)
        if not clips:
            print(f"error: --int8 {args.int8} holds no video files to calibrate on", file=sys.stderr)
            return 2
        model = AutoModelForAudioClassification.from_pretrained(args.model_dir)
        if model.processor is None:
            print(f"error: {args.model_dir} has no saved processor to calibrate with", file=sys.stderr)
            return 2
        calibration = calibration_inputs(model.processor, clips[: args.calibration_clips], onnx_input_names(model))
        int8_path = quantize_onnx(path, Path(path).with_suffix(".int8.onnx"), calibration)
        print(f"Wrote {int8_path} (int8, calibrated on {len(calibration)} clips of {args.int8})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `predict`, `push` and `export-onnx` to the main parser's sub-parsers."""
    predict = subparsers.add_parser(
        "predict", help="Recognise emotions in video files (optionally as a timeline)."
    )
    predict.add_argument("videos", nargs="+", help="video files")
    predict.add_argument("--model", required=True, help="saved model directory or Hub id")
    predict.add_argument("--top-k", type=positive_int, default=3)
    predict.add_argument("--batch-size", type=positive_int, default=1)
    predict.add_argument("--transcript", help="transcript, for models that use text")
    predict.add_argument(
        "--chunk-length-s", type=positive_float, help="window length for a timeline over long videos"
    )
    predict.add_argument(
        "--stride-length-s", type=positive_float, help="step between windows (default: the window length)"
    )
    predict.add_argument(
        "--trust-remote-code", action="store_true", help="run the code stored with the model"
    )
    predict.add_argument("--json", action="store_true", help="print one JSON object per video")
    predict.set_defaults(func=_predict)

    push = subparsers.add_parser(
        "push", help="Upload a saved model with its code, processor, pipeline and card."
    )
    push.add_argument("model_dir", help="saved model directory")
    push.add_argument("repo_id", help="'user/name' on the Hub (HF_ENDPOINT selects another Hub)")
    push.add_argument("--eval-results", help="JSON file of evaluation metrics for the model card")
    push.add_argument(
        "--datasets", nargs="+", help="training corpora, e.g. ravdess crema-d (licences go in the card)"
    )
    push.add_argument("--protocol", help="evaluation protocol, e.g. 'speaker-independent 6-fold'")
    push.add_argument("--private", action="store_true")
    push.add_argument("--token", help="write token (default: the logged-in token or HF_TOKEN)")
    push.set_defaults(func=_push)

    export = subparsers.add_parser(
        "export-onnx", help="Write an ONNX graph (dynamic batch) of a saved model."
    )
    export.add_argument("model_dir", help="saved model directory")
    export.add_argument("output", help="output .onnx file")
    export.add_argument("--opset", type=int, default=17)
    export.add_argument(
        "--check", action="store_true", help="compare ONNX Runtime with PyTorch on random inputs"
    )
    export.add_argument(
        "--int8",
        metavar="CLIPS_DIR",
        help="also write <output>.int8.onnx, static int8 calibrated on the video files of this folder",
    )
    export.add_argument("--calibration-clips", type=positive_int, default=16)
    export.set_defaults(func=_export_onnx)
