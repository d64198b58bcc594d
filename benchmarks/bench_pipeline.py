"""Inference speed of the audio-visual emotion pipeline on CPU (paper-size `tucker_av`, random init).

Measures, on a generated 3-s clip at RAVDESS resolution (1280×720, 30 fps, 16 kHz AAC):
- real-time factor (RTF = processing time ÷ clip duration) of ``pipeline(clip)``, decode included, in fp32 and
  under ``torch.autocast("cpu", dtype=torch.bfloat16)``, with the time split into decode + features and model;
- batch throughput (clips per second) at batch sizes 1 and 4;
- model-only latency, PyTorch vs ONNX Runtime (fp32, batch 1).

Usage: ``python benchmarks/bench_pipeline.py [--repeats 3] [--threads 2]``. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pipeline_fixtures import write_clip  # noqa: E402
from transformers import pipeline  # noqa: E402

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition  # noqa: E402
from hf_emotion.models.pipeline_emotion import TASK, register_pipeline  # noqa: E402
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors  # noqa: E402
from hf_emotion.onnx_export import export_onnx, run_onnx  # noqa: E402

CLIP_SECONDS = 3.0


def timed(function, repeats: int, label: str = "") -> float:
    """Median wall time of `repeats` calls after one warm-up call (progress goes to stderr)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    if label:
        print(
            f"[bench] {label}: {statistics.median(times):.3f} s (runs: {times})", file=sys.stderr, flush=True
        )
    return statistics.median(times)


def cpu_flags() -> str:
    flags = (
        Path("/proc/cpuinfo").read_text().split("flags", 1)[1].split("\n", 1)[0]
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    wanted = ("avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni")
    return ", ".join(f"{flag}={'yes' if f' {flag}' in flags else 'no'}" for flag in wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    register_pipeline()
    register_processors(TuckerAVConfig)
    config = TuckerAVConfig()  # the paper's sizes: 128×256 log-Mel, 90 frames at 224 px, ResNet-18
    model = TuckerAVForEmotionRecognition(config).eval()
    processor = EmotionProcessor.from_model_config(config)
    classifier = pipeline(TASK, model=model, processor=processor, device=-1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = str(write_clip(Path(tmp) / "clip.mp4", duration_s=CLIP_SECONDS, fps=30, size=(720, 1280)))

        features = timed(lambda: processor(videos=clip), args.repeats, "decode + features")
        inputs = dict(processor(videos=clip))
        with torch.no_grad():
            model_fp32 = timed(lambda: model(**inputs), args.repeats, "model fp32")
            with torch.autocast("cpu", dtype=torch.bfloat16):
                model_bf16 = timed(lambda: model(**inputs), args.repeats, "model bf16")
        total_fp32 = timed(lambda: classifier(clip), args.repeats, "pipeline fp32")

        def bf16_call():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                classifier(clip)

        total_bf16 = timed(bf16_call, args.repeats, "pipeline bf16")
        rows.append(("pipeline, fp32 (decode + features + model)", total_fp32, total_fp32 / CLIP_SECONDS))
        rows.append(("pipeline, bf16 autocast", total_bf16, total_bf16 / CLIP_SECONDS))
        rows.append(("  decode + features only", features, features / CLIP_SECONDS))
        rows.append(("  model only, fp32", model_fp32, model_fp32 / CLIP_SECONDS))
        rows.append(("  model only, bf16 autocast", model_bf16, model_bf16 / CLIP_SECONDS))

        throughput = {}
        for batch_size in (1, 4):
            seconds = timed(
                lambda b=batch_size: classifier([clip] * 4, batch_size=b), max(1, args.repeats - 1)
            )
            throughput[batch_size] = 4 / seconds

        onnx_path = export_onnx(model, Path(tmp) / "model.onnx", batch_size=1)
        single = {k: v[:1] for k, v in inputs.items()}
        onnx_seconds = timed(
            lambda: run_onnx(onnx_path, single, num_threads=args.threads), args.repeats, "ORT new session"
        )
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = args.threads
        session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        feed = {name: value.numpy() for name, value in single.items()}
        onnx_run = timed(lambda: session.run(["logits"], feed), args.repeats, "ORT session reused")

    print(f"torch {torch.__version__}, {args.threads} threads; CPU flags: {cpu_flags()}")
    print(f"3-s clip, 1280x720 @ 30 fps, AAC 16 kHz; median of {args.repeats} runs after a warm-up\n")
    print("| measurement | seconds | RTF |")
    print("|---|---|---|")
    for name, seconds, rtf in rows:
        print(f"| {name} | {seconds:.3f} | {rtf:.3f} |")
    print("\n| batch size | clips / s (4 clips, decode included) |")
    print("|---|---|")
    for batch_size, rate in throughput.items():
        print(f"| {batch_size} | {rate:.2f} |")
    print("\n| model-only latency, batch 1, fp32 | seconds |")
    print("|---|---|")
    print(f"| PyTorch | {model_fp32:.3f} |")
    print(f"| ONNX Runtime (session reused) | {onnx_run:.3f} |")
    print(f"| ONNX Runtime (new session per call) | {onnx_seconds:.3f} |")


if __name__ == "__main__":
    main()
