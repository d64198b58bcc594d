"""Speed of the residual mogrifier LSTM (`rmlstm`) on CPU.

Part 1 — the recurrence, side by side in one run (T = 90, input 1,384 ≈ 1,400, hidden 256, 2 layers, batch 32):
    torch.nn.LSTM (fused oneDNN/cuDNN kernel) | RMLSTM fast path (TorchScript loops, hand-written backward, the
    per-step GEMM measured once on this machine: "auto", what a model runs unconfigured) | the same with each
    per-step GEMM forced (oneDNN packed, MKL packed, torch.mm) | the eager per-step RMLSTMCell loop (autograd
    through every step) | the GEMM-only floor (the products alone), forward (inference, no_grad) and forward +
    backward. Variants are interleaved round-robin and the minimum over repeats is reported (the machine may be
    shared), with the median beside it.
Part 2 — the paper's Table 5 (training time per epoch, test time per sample) for every `cell_type` on a synthetic
    feature dataset the size of SAVEE (480 clips, 80:20 split): MFCC 40 × 300, 30 frame features × 1280, TF-IDF 64.

Usage: python benchmarks/bench_rmlstm.py [--repeats 5] [--skip-table5] [--threads 1 --clock cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_pipeline import machine  # noqa: E402  (CPU model, flags, threads, load)

from hf_emotion.models import acceleration, mogrifier  # noqa: E402
from hf_emotion.models.configuration_rmlstm import RMLSTMConfig  # noqa: E402
from hf_emotion.models.modeling_rmlstm import RMLSTMEncoder, RMLSTMForEmotionRecognition  # noqa: E402


def use_gemm(packed_gemm: str = "auto") -> None:
    """Select the fast path's per-step GEMM (`mogrifier.PACKED_GEMM`)."""
    mogrifier.PACKED_GEMM = packed_gemm


CLOCK = time.perf_counter  # `--clock cpu` switches to process CPU time (robust when the machine is shared)


def timed(fn) -> float:
    start = CLOCK()
    fn()
    return CLOCK() - start


VARIANTS = {  # name: (module, per-step GEMM)
    "nn.LSTM": ("lstm", "auto"),
    "RMLSTM fast, auto (measured per-step GEMM)": ("rmlstm", "auto"),
    "RMLSTM fast, oneDNN packed GEMM forced": ("rmlstm", "onednn"),
    "RMLSTM fast, MKL packed GEMM forced": ("rmlstm", "mkl"),
    "RMLSTM fast, torch.mm forced": ("rmlstm", "none"),
    "RMLSTM eager per-step": ("eager", "auto"),
}
FAST = "RMLSTM fast, auto (measured per-step GEMM)"
FLOOR = "GEMM-only floor (the products alone)"


def bench_recurrence(repeats: int, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    config = RMLSTMConfig(frame_encoder=None, num_time_steps=steps, dropout=0.0)
    size = config.fused_feature_size
    x = torch.randn(batch, steps, size)
    lstm = nn.LSTM(size, config.hidden_size, num_layers=config.num_layers, batch_first=True)
    rmlstm = RMLSTMEncoder(config)
    eager = RMLSTMEncoder(config)
    eager.load_state_dict(rmlstm.state_dict())
    for layer in eager.layers:
        layer.fast_recurrence = False

    def forward(module):
        def run():
            with torch.no_grad():
                out = module(x)
            return out

        return run

    def forward_backward(module):
        def run():
            out = module(x)
            out = out[0] if isinstance(module, nn.LSTM) else out[-1]
            out.sum().backward()
            module.zero_grad(set_to_none=True)

        return run

    floor_forward, floor_backward, _ = gemm_floor(batch, steps)

    def floor_forward_backward():
        floor_forward()
        floor_backward()

    modules = {"lstm": lstm, "rmlstm": rmlstm, "eager": eager}
    runs = {  # name: (per-step GEMM, forward, forward+backward)
        name: (packed, forward(modules[key]), forward_backward(modules[key]))
        for name, (key, packed) in VARIANTS.items()
    }
    runs[FLOOR] = ("auto", floor_forward, floor_forward_backward)
    times = {(name, mode): [] for name in runs for mode in ("forward", "forward+backward")}
    for (
        packed,
        run_forward,
        run_forward_backward,
    ) in runs.values():  # warm-up (TorchScript profiles first runs)
        use_gemm(packed)
        for _ in range(2):
            run_forward()
            run_forward_backward()
    for repeat in range(repeats):  # round-robin: every variant, the floor included, once per round
        for name, (packed, run_forward, run_forward_backward) in runs.items():
            use_gemm(packed)
            with torch.no_grad() if name == FLOOR else contextlib.nullcontext():
                times[(name, "forward")].append(timed(run_forward))
                times[(name, "forward+backward")].append(timed(run_forward_backward))
        print(f"  repeat {repeat + 1}/{repeats} done", file=sys.stderr)
    use_gemm("auto")
    return times


def gemm_floor(batch: int, steps: int):
    """Time of the matrix products alone that any exact 2-round RMLSTM encoder must do, on ready-made random
    inputs, through the fast path's GEMMs (its per-step packed GEMM, `mogrifier.linear` for the rest) and, like it,
    with the products that share an operand fused: per step [W_v; W_hh] h' and W_ih x' (backward: dz [W_ih^T;
    W_hh^T] and W_v^T); over all steps at once round 1's W_u x, the residual
    projection, the weight gradients and the second layer's input gradients. No element-wise work at all: the floor
    under the fast path's forward and forward+backward times. Returns (forward, backward, per-step GEMM); run them
    under `torch.no_grad()`."""
    config = RMLSTMConfig(frame_encoder=None, num_time_steps=steps)
    hidden = config.hidden_size
    sizes = [config.fused_feature_size] + [hidden] * (config.num_layers - 1)
    # the per-step GEMM the auto path measured for the first layer's weights (same shapes, same cache key)
    first = [torch.zeros(4 * hidden, sizes[0]), torch.zeros(sizes[0] + 4 * hidden, hidden)]
    packing = mogrifier._packing(torch.zeros(1), batch, first)
    rows = steps * batch

    def product(a, weight):  # a @ weight.T through the fast path's per-step GEMM
        return mogrifier._linear(a, weight, weight_cache.get(id(weight), a), None, packing)

    big = mogrifier.linear  # a @ b.T over all time steps; a weight gradient A^T B is big(A^T, B^T)

    layers, weight_cache = [], {}
    for size in sizes:
        weights = {
            "ih": torch.randn(4 * hidden, size),
            "hh": torch.randn(4 * hidden, hidden),
            "v": torch.randn(size, hidden),
            "u": torch.randn(hidden, size),
            "residual": torch.randn(hidden, size) if size != hidden else None,
        }
        weights.update({f"{name}_t": weights[name].t().contiguous() for name in ("ih", "hh", "v")})
        # the products the fast path fuses: [W_v; W_hh] h' forward, dz [W_ih^T; W_hh^T] backward
        weights["v_hh"] = torch.cat([weights["v"], weights["hh"]])
        weights["ih_hh_t"] = torch.cat([weights["ih_t"], weights["hh_t"]])
        for name, w in weights.items():
            if packing != mogrifier.NO_PACKING and name in ("ih", "v_hh", "ih_hh_t", "v_t"):
                weight_cache[id(w)] = mogrifier._pack([w], batch, packing)[0]
        layers.append((size, weights))

    data = {  # inputs made outside the timed functions; the *_t ones are (width, rows) transposes
        size: {
            "h": torch.randn(batch, hidden),
            "x": torch.randn(batch, size),
            "dz": torch.randn(batch, 4 * hidden),
            "flat_x": torch.randn(rows, size),
            "flat_h": torch.randn(rows, hidden),
            "flat_x_t": torch.randn(size, rows),
            "flat_h_t": torch.randn(hidden, rows),
            "flat_dz_t": torch.randn(4 * hidden, rows),
        }
        for size in set(sizes)
    }

    def forward():
        for size, w in layers:
            d = data[size]
            big(d["flat_x"], w["u"])  # round 1, hoisted
            if w["residual"] is not None:
                big(d["flat_x"], w["residual"])
            for _ in range(steps):
                product(d["h"], w["v_hh"]), product(d["x"], w["ih"])

    def backward():
        for index, (size, w) in enumerate(layers):
            d = data[size]
            for _ in range(steps):
                product(d["dz"], w["ih_hh_t"]), product(d["x"], w["v_t"])
            big(d["flat_dz_t"], d["flat_x"].t()), big(d["flat_dz_t"], d["flat_h"].t())  # dW_ih, dW_hh
            big(d["flat_x_t"], d["flat_h"].t())  # dW_v
            big(d["flat_h_t"], d["flat_x"].t())  # round 1's dW_u
            if w["residual"] is not None:
                big(d["flat_h_t"], d["flat_x"].t())  # the residual projection's weight gradient
            if index > 0:  # the input gradient through round 1 (the per-step x gradient is in the loop)
                big(d["flat_h"], w["u"].t())

    return forward, backward, packing


def synthetic_features(count: int, config: RMLSTMConfig, generator: torch.Generator) -> dict:
    labels = torch.randint(0, config.num_labels, (count,), generator=generator)
    cue = labels.float()[:, None, None] / config.num_labels
    return {
        "input_features": torch.randn(count, config.num_mfcc, 300, generator=generator) + cue,
        "frame_features": torch.randn(count, config.num_frames, config.frame_feature_dim, generator=generator)
        + cue,
        "text_features": torch.rand(count, config.text_feature_dim, generator=generator),
        "labels": labels,
    }


def bench_table5(batch: int = 32) -> dict:
    results = {}
    generator = torch.Generator().manual_seed(0)
    base = RMLSTMConfig(frame_encoder=None)
    train = synthetic_features(384, base, generator)
    test = synthetic_features(96, base, generator)
    for cell_type in ("mlp", "gru", "lstm", "mlstm", "rmlstm"):
        torch.manual_seed(0)
        model = RMLSTMForEmotionRecognition(RMLSTMConfig(frame_encoder=None, cell_type=cell_type))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()
        warm = {
            key: value[:batch] for key, value in train.items()
        }  # untimed: TorchScript profiles first runs
        model(**warm).loss.backward()
        model.zero_grad(set_to_none=True)
        with torch.no_grad():
            model.eval()(**{key: value[:1] for key, value in test.items() if key != "labels"})
        model.train()
        start = CLOCK()
        for first in range(0, 384, batch):
            inputs = {key: value[first : first + batch] for key, value in train.items()}
            loss = model(**inputs).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        epoch = CLOCK() - start
        model.eval()
        with torch.no_grad():
            start = CLOCK()
            for index in range(96):
                model(**{key: value[index : index + 1] for key, value in test.items() if key != "labels"})
            per_sample = (CLOCK() - start) / 96
            start = CLOCK()
            model(**{key: value for key, value in test.items() if key != "labels"})
            batched = (CLOCK() - start) / 96
        results[cell_type] = (epoch, per_sample, batched)
        print(f"  {cell_type} done", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=90)
    parser.add_argument("--skip-table5", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall-clock time, or process CPU time (use with --threads 1 on a shared machine)",
    )
    args = parser.parse_args()
    global CLOCK
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.clock == "cpu":
        CLOCK = time.process_time
    print(f"Clock: {args.clock}")
    print(f"Machine: {machine()}\n")
    times = bench_recurrence(args.repeats, args.batch, args.steps)
    result = {key: (min(values), statistics.median(values)) for key, values in times.items()}
    packing = gemm_floor(args.batch, args.steps)[2]

    def paired(name: str, base: str, mode: str) -> float:
        """The median over rounds of name's time ÷ base's time in the same round (robust to a machine whose
        speed drifts between rounds)."""
        return statistics.median(a / b for a, b in zip(times[(name, mode)], times[(base, mode)]))

    print(
        f"Recurrence: batch {args.batch}, T = {args.steps}, input {RMLSTMConfig().fused_feature_size}, hidden 256, "
        f"2 layers, 2 mogrifier rounds; ms, min over {args.repeats} round-robin rounds (median); ratios: min ÷ min "
        f"[median over rounds of the ratio within a round]\n"
    )
    print("| variant | forward | forward+backward | fwd vs nn.LSTM | fwd+bwd vs nn.LSTM |")
    print("|---|---|---|---|---|")
    base_f = result[("nn.LSTM", "forward")][0]
    base_fb = result[("nn.LSTM", "forward+backward")][0]
    for name in [*VARIANTS, FLOOR]:
        (f_min, f_med), (fb_min, fb_med) = result[(name, "forward")], result[(name, "forward+backward")]
        print(
            f"| {name} | {f_min * 1e3:.0f} ({f_med * 1e3:.0f}) | {fb_min * 1e3:.0f} ({fb_med * 1e3:.0f}) | "
            f"{f_min / base_f:.2f}× [{paired(name, 'nn.LSTM', 'forward'):.2f}×] | "
            f"{fb_min / base_fb:.2f}× [{paired(name, 'nn.LSTM', 'forward+backward'):.2f}×] |"
        )
    floor_f, floor_fb = result[(FLOOR, "forward")][0], result[(FLOOR, "forward+backward")][0]
    fast_f = result[(FAST, "forward")][0]
    fast_fb = result[(FAST, "forward+backward")][0]
    names = {code: name for name, code in mogrifier._PACKING_CODES.items()}
    print(
        f"\nMeasured per-step GEMM on this machine (cached in {acceleration.cache_path()}): {names[packing]}"
    )
    print(
        f"Auto path vs nn.LSTM: forward {fast_f / base_f:.2f}×, forward+backward {fast_fb / base_fb:.2f}× "
        f"[{paired(FAST, 'nn.LSTM', 'forward+backward'):.2f}×] (target ≤ 1.5× fwd+bwd); vs the GEMM-only floor: "
        f"{fast_fb / floor_fb:.2f}× [{paired(FAST, FLOOR, 'forward+backward'):.2f}×] (target ≤ 1.25×)."
    )
    eager_f = result[("RMLSTM eager per-step", "forward")][0]
    eager_fb = result[("RMLSTM eager per-step", "forward+backward")][0]
    print(
        f"RMLSTM fast speed-up over the eager loop: forward {eager_f / fast_f:.2f}×, forward+backward "
        f"{eager_fb / fast_fb:.2f}× (target ≥ 3×)"
    )
    print(
        f"Largest speed-up over the eager loop any implementation of these products could reach: forward "
        f"{eager_f / floor_f:.2f}×, forward+backward {eager_fb / floor_fb:.2f}× (fast path at "
        f"{fast_f / floor_f:.2f}× / {fast_fb / floor_fb:.2f}× the floor)"
    )
    if args.skip_table5:
        return
    table = bench_table5()
    print(
        "\nTable 5 style: synthetic SAVEE-sized feature set (384 train / 96 test clips; MFCC 40×300, 30 frame "
        "features × 1280, TF-IDF 64; T = 30), default configs, frame_encoder=None (precomputed features)\n"
    )
    print(
        "| cell_type | training time per epoch (s) | test time per sample, batch 1 (ms) | batched (ms/sample) |"
    )
    print("|---|---|---|---|")
    for cell_type, (epoch, per_sample, batched) in table.items():
        print(f"| {cell_type} | {epoch:.2f} | {per_sample * 1e3:.2f} | {batched * 1e3:.2f} |")
    print(f"\nMachine at the end: {machine()}")


if __name__ == "__main__":
    main()
