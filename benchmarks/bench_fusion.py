"""Benchmark of the tucker_av fusion stage and the model's forward time per clip (issue 2).

1. Fusion (Tucker core + factorized bilinear pooling) at the paper's sizes, batch 32, forward + backward on CPU:
   the factorised implementation (`TuckerAVFusion`) against the naive reference that materialises the
   N × 60 × 256 × 256 outer-product tensor and the core (tests/tucker_reference.py). Each variant runs in its own
   subprocess so that its peak resident memory (ru_maxrss above the process's RSS after a batch-1 warm-up)
   is its own.
2. Forward time per clip of the paper-config model, fp32 and bf16 autocast, with `frame_features` and with
   `pixel_values_videos`.

Usage: python benchmarks/bench_fusion.py [--batch 32] [--repeats 3] [--skip-model]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_fusion_variant(variant: str, batch: int, repeats: int) -> dict:
    """Run in a child process: time forward+backward of one fusion variant, report peak memory above baseline."""
    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from tucker_reference import naive_fusion

    from hf_emotion.models.fusion_tucker import TuckerAVFusion

    torch.manual_seed(0)
    fusion = TuckerAVFusion(60, 256, time_rank=30, audio_rank=128, video_rank=128, output_size=512, factor=4)

    def step(n: int) -> float:
        audio = torch.randn(n, 60, 256, requires_grad=True)
        video = torch.randn(n, 60, 256, requires_grad=True)
        start = time.perf_counter()
        if variant == "factorised":
            fused = fusion(audio, video)
        else:
            fused = naive_fusion(fusion, audio, video, bilinear_readout=False)
        fused.sum().backward()
        return time.perf_counter() - start

    step(1)  # warm-up at batch 1: loads kernels and thread pools, so the baseline below excludes them
    baseline = _peak_rss_mb()
    times = [step(batch) for _ in range(repeats)]
    return {"variant": variant, "seconds": min(times), "peak_extra_mb": max(_peak_rss_mb() - baseline, 0.0)}


def fusion_benchmark(batch: int, repeats: int) -> list[dict]:
    results = []
    for variant in ("factorised", "naive"):
        code = (
            f"import json, sys; sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import bench_fusion as b; "
            f"print(json.dumps(b.run_fusion_variant({variant!r}, {batch}, {repeats})))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return results


def model_benchmark(repeats: int) -> list[dict]:
    import torch

    from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition

    torch.manual_seed(0)
    model = TuckerAVForEmotionRecognition(TuckerAVConfig()).eval()
    audio = torch.randn(1, 128, 256)
    inputs = {
        "frame_features": {"input_features": audio, "frame_features": torch.randn(1, 90, 512)},
        "pixel_values_videos": {
            "input_features": audio,
            "pixel_values_videos": torch.randn(1, 90, 3, 224, 224),
        },
    }
    rows = []
    for name, batch in inputs.items():
        for dtype in ("fp32", "bf16"):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
                model(**batch)  # warm-up
                times = []
                for _ in range(repeats if name == "frame_features" else 1):
                    start = time.perf_counter()
                    model(**batch)
                    times.append(time.perf_counter() - start)
            rows.append({"input": name, "dtype": dtype, "seconds_per_clip": min(times)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-model", action="store_true")
    args = parser.parse_args()
    import torch

    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    fast, naive = fusion_benchmark(args.batch, args.repeats)
    print(
        f"\nFusion stage, batch {args.batch}, forward + backward, paper sizes (60×256 → core 30×128×128 → 512):"
    )
    print("| variant | time (s) | peak extra memory (MB) |\n|---|---|---|")
    for row in (fast, naive):
        print(f"| {row['variant']} | {row['seconds']:.3f} | {row['peak_extra_mb']:.0f} |")
    print(
        f"speed-up ×{naive['seconds'] / fast['seconds']:.1f}, memory ×"
        f"{naive['peak_extra_mb'] / max(fast['peak_extra_mb'], 1.0):.1f} (peak RSS above the RSS after a batch-1 warm-up)"
    )
    if not args.skip_model:
        print("\nModel forward time per clip (batch 1), paper config:")
        print("| input | dtype | s / clip |\n|---|---|---|")
        for row in model_benchmark(args.repeats):
            print(f"| {row['input']} | {row['dtype']} | {row['seconds_per_clip']:.3f} |")


if __name__ == "__main__":
    main()
