"""Preprocessing throughput: decode + log-Mel (128 x 256) + 90 frames at 224 px, per 3-s clip, on CPU.

Two sources: the synthetic corpus (``make_synthetic_corpus`` defaults: 320 x 240, 30 fps, 16 kHz) and
RAVDESS-format clips written here (1280 x 720 H.264, 29.97 fps, 48 kHz stereo AAC, the real corpus's format).
Measured with 1 worker process and 2 worker processes (one torch thread each), with and without face cropping.
CPU seconds per clip (the worker's process time) are reported beside wall time: on a shared machine they are the
stable figure.

    python benchmarks/bench_preprocessing.py [--clips 8]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_ravdess_like_clip(path: Path, seed: int, seconds: float = 3.0) -> Path:
    """1280 x 720 H.264 at 29.97 fps with 48 kHz stereo AAC: a moving gradient and a noisy tone."""
    import av

    rng = np.random.default_rng(seed)
    container = av.open(str(path), mode="w")
    video = container.add_stream("libx264", rate=Fraction(30000, 1001))
    video.width, video.height, video.pix_fmt = 1280, 720, "yuv420p"
    audio = container.add_stream("aac", rate=48000)
    audio.layout = "stereo"
    base = np.linspace(0, 255, 1280, dtype=np.float32)[None, :, None]
    for index in range(int(seconds * 30000 / 1001)):
        frame = np.broadcast_to((base + index * 3) % 256, (720, 1280, 3)).astype(np.uint8).copy()
        frame[200:520, 480:800] = rng.integers(0, 255, 3)
        for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in video.encode():
        container.mux(packet)
    t = np.arange(int(seconds * 48000)) / 48000
    wave = (0.3 * np.sin(2 * np.pi * (150 + 50 * seed) * t) + 0.02 * rng.standard_normal(t.size)).astype(
        np.float32
    )
    planar = np.stack([wave, wave])
    for start in range(0, planar.shape[1], 1024):
        chunk = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planar[:, start : start + 1024]), format="fltp", layout="stereo"
        )
        chunk.sample_rate, chunk.pts = 48000, start
        for packet in audio.encode(chunk):
            container.mux(packet)
    for packet in audio.encode():
        container.mux(packet)
    container.close()
    return path


_PROCESSOR = None


def _init_worker(crop_faces: bool) -> None:
    import torch

    from hf_emotion.models.processing_emotion import EmotionProcessor
    from hf_emotion.models.video_processing_emotion import EmotionVideoProcessor

    global _PROCESSOR
    torch.set_num_threads(1)
    _PROCESSOR = EmotionProcessor(video_processor=EmotionVideoProcessor(crop_faces=crop_faces))


def _prepare(path: str) -> tuple[float, float]:
    """Prepare one clip; returns (wall seconds, CPU seconds of this worker process)."""
    start, cpu_start = time.perf_counter(), time.process_time()
    inputs = _PROCESSOR(videos=path, return_tensors="np")
    assert inputs["input_features"].shape == (1, 128, 256)
    assert inputs["pixel_values_videos"].shape == (1, 90, 3, 224, 224)
    return time.perf_counter() - start, time.process_time() - cpu_start


def measure(paths: list[str], processes: int, crop_faces: bool) -> tuple[float, float, float]:
    """Returns (clips per second over the run, median wall s per clip, median CPU s per clip)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(crop_faces,)) as pool:
        pool.map(_prepare, paths[:processes])  # warm-up: imports, first decoder
        start = time.perf_counter()
        timings = np.array(pool.map(_prepare, paths, chunksize=1))
        elapsed = time.perf_counter() - start
    return len(paths) / elapsed, float(np.median(timings[:, 0])), float(np.median(timings[:, 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="clips per source")
    args = parser.parse_args()
    sources: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            from hf_emotion.data import make_synthetic_corpus

            make_synthetic_corpus(Path(tmp) / "synthetic", n_actors=1, statements=1, num_workers=2)
            sources["synthetic corpus (320x240, 30 fps, 16 kHz)"] = sorted(
                str(p) for p in (Path(tmp) / "synthetic").rglob("*.mp4")
            )[: args.clips]
        except ImportError:
            print(
                "make_synthetic_corpus not available; benchmarking RAVDESS-format clips only", file=sys.stderr
            )
        sources["RAVDESS format (1280x720, 29.97 fps, 48 kHz AAC)"] = [
            str(write_ravdess_like_clip(Path(tmp) / f"clip{i}.mp4", seed=i)) for i in range(args.clips)
        ]
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; load average {os.getloadavg()}")
        print(
            "| source | face crop | processes | clips/s | wall s / clip | CPU s / clip | CPU real-time factor |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, paths in sources.items():
            for crop_faces in (False, True):
                for processes in (1, 2):
                    rate, wall, cpu = measure(paths, processes, crop_faces)
                    print(
                        f"| {name} | {'yes' if crop_faces else 'no'} | {processes} | {rate:.2f} | {wall:.2f} | "
                        f"{cpu:.2f} | {3.0 / cpu:.1f}x |",
                        flush=True,
                    )
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
