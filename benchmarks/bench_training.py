"""Training throughput (clips/s) of `tucker_av` at the paper's sizes on CPU.

1. end to end: 90 frames × 3 × 224 × 224 pixels through ResNet-18 + BiGRU + cross-attention + Tucker/MFB,
   forward + backward + Adam step;
2. frozen backbone: the same model on cached `frame_features` (90 × 512) — what `--frozen_backbone` trains on;
3. the cached path with 1 and with 2 processes (torchrun, gloo DDP; each process uses the same per-process batch).

Random inputs of the paper's shapes (the throughput does not depend on the values).

    python benchmarks/bench_training.py [--steps 4] [--batch 16] [--e2e-batch 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def make_model(frozen: bool):
    from hf_emotion.models.configuration_tucker_av import TuckerAVConfig
    from hf_emotion.models.modeling_tucker_av import TuckerAVForEmotionRecognition

    config = TuckerAVConfig(frame_encoder=None if frozen else "resnet18")
    return TuckerAVForEmotionRecognition(config)


def batch_of(size: int, frozen: bool) -> dict[str, torch.Tensor]:
    batch = {"input_features": torch.randn(size, 128, 256), "labels": torch.randint(0, 8, (size,))}
    if frozen:
        batch["frame_features"] = torch.randn(size, 90, 512)
    else:
        batch["pixel_values_videos"] = torch.randn(size, 90, 3, 224, 224)
    return batch


def clips_per_second(model, batch: dict, steps: int, accelerator=None) -> float:
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=1e-4
    )
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
    model.train()

    def step():
        loss = model(**batch).loss
        (accelerator.backward(loss) if accelerator is not None else loss.backward())
        optimizer.step()
        optimizer.zero_grad()

    step()  # warm-up
    started = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - started
    return steps * batch["labels"].shape[0] / elapsed


def worker(args) -> None:
    """One process of the 1-vs-2-process comparison (run under torchrun)."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    rate = clips_per_second(make_model(frozen=True), batch_of(args.batch, True), args.steps, accelerator)
    total = accelerator.reduce(torch.tensor([rate]), reduction="sum").item()
    if accelerator.is_main_process:
        Path(args.result).write_text(
            json.dumps({"processes": accelerator.num_processes, "clips_per_s": total})
        )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_processes(n: int, args) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        command = [
            str(Path(sys.executable).with_name("torchrun")),
            f"--nproc_per_node={n}",
            f"--master_port={free_port()}",
            __file__,
            "--worker",
            "--steps",
            str(args.steps),
            "--batch",
            str(args.batch),
            "--result",
            str(result),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 2) // n))}
        completed = subprocess.run(command, env=env, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"torchrun with {n} processes failed:\n{completed.stderr[-2000:]}")
        return json.loads(result.read_text())["clips_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16, help="per-process batch of the cached path")
    parser.add_argument("--e2e-batch", type=int, default=2, help="batch of the end-to-end path")
    parser.add_argument("--e2e-steps", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    torch.manual_seed(0)
    cached = clips_per_second(make_model(frozen=True), batch_of(args.batch, True), args.steps)
    print(f"frozen backbone, cached frame features (batch {args.batch}): {cached:.2f} clips/s")
    end_to_end = clips_per_second(make_model(frozen=False), batch_of(args.e2e_batch, False), args.e2e_steps)
    print(
        f"end to end, 90 × 224 px frames through ResNet-18 (batch {args.e2e_batch}): {end_to_end:.3f} clips/s"
    )
    print(f"speed-up of the cached path: {cached / end_to_end:.0f}×")
    for n in (1, 2):
        print(f"cached path, {n} process(es) (torchrun, gloo): {run_processes(n, args):.2f} clips/s")
    print(f"load average during the run: {os.getloadavg()}")


if __name__ == "__main__":
    main()
