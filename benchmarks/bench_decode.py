"""Decode + features of one clip at the paper config (90 frames, 224 px, 3 s log-Mel): time and peak memory,
before (full-size frames, file probed and opened 4 times) and after (`decode_window`: opened once, frames shrunk
chunk by chunk while decoding).

    python benchmarks/bench_decode.py                 # 3-s 1280x720 and 3840x2160 H.264 + AAC clips (ffmpeg CLI)
    python benchmarks/bench_decode.py --sizes 1280x720 --repeats 5

Each (size, mode) runs in a fresh subprocess, so the peak resident memory (`ru_maxrss`) is that mode's alone;
the figure printed is the peak minus the resident memory after imports and a warm-up on a tiny clip.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_clip(directory: Path, size: str) -> Path:
    path = directory / f"clip_{size}.mp4"
    if not path.exists():
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-f", "lavfi",
             "-i", "sine=f=440:r=48000", "-filter_complex", "[1]pan=stereo|c0=c0|c1=0.5*c0[a]", "-map", "0:v",
             "-map", "[a]", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a",
             "aac", str(path)],
            check=True,
        )  # fmt: skip
    return path


def before(processor, path: str):
    """The pre-`decode_window` route: probe (2 opens), 90 full-size frames in one call, audio decoded apart."""
    import numpy as np
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    VideoDecoder(path, seek_mode="approximate").metadata, AudioDecoder(path).metadata  # probe_media
    decoder = VideoDecoder(path, dimension_order="NHWC")
    meta = decoder.metadata
    times = meta.begin_stream_seconds + (np.arange(90) + 0.5) * meta.duration_seconds / 90
    frames = decoder.get_frames_played_at(seconds=times.tolist()).data.numpy()  # (90, H, W, 3) full size
    samples = AudioDecoder(path, sample_rate=16000).get_all_samples().data.mean(0).numpy()
    return processor(videos=frames, audio=samples, sampling_rate=16000)


def after(processor, path: str):
    return processor(videos=path)


def child(mode: str, path: str, repeats: int, warmup: str) -> None:
    import torch

    from hf_emotion.models.processing_emotion import EmotionProcessor

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    processor = EmotionProcessor()
    run = before if mode == "before" else after
    run(processor, warmup)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        inputs = run(processor, path)
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert tuple(inputs["pixel_values_videos"].shape) == (1, 90, 3, 224, 224)
    print(json.dumps({"ms": 1000 * min(times), "peak_mib": (peak - baseline) / 1024, "rss_mib": peak / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "3840x2160"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, path, repeats, warmup = args.child
        child(mode, path, int(repeats), warmup)
        return
    directory = Path(tempfile.mkdtemp(prefix="bench_decode_"))
    warmup = make_clip(directory, "64x48")
    print(f"{'clip':>10} {'mode':>7} {'decode+features ms':>19} {'peak MiB over baseline':>23}")
    for size in args.sizes:
        path = make_clip(directory, size)
        for mode in ("before", "after"):
            output = subprocess.run(
                [sys.executable, __file__, "--child", mode, str(path), str(args.repeats), str(warmup)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            print(f"{size:>10} {mode:>7} {result['ms']:>19.0f} {result['peak_mib']:>23.0f}")


if __name__ == "__main__":
    main()
