"""The residual mogrifier LSTM cell (SPEC §2, eqs. 8–11) and a fast recurrence over whole sequences.

One step of [`RMLSTMCell`] with `rounds` alternating gating rounds (round 1 gates h by x, round 2 gates x by h,
round 3 gates h again, ...; each round has its own weights):

    odd round k:   u = σ(W_k x + b_k);  h ← 2·h⊙u + h          (eqs. 8–9)
    even round k:  v = σ(W_k h + b_k);  x ← 2·x⊙v + x          (eqs. 10–11)
    then a standard LSTM step on (x', h'):  z = W_ih x' + W_hh h' + b,  c_t = f⊙c_{t−1} + i⊙g,  h_t = o⊙tanh(c_t)

[`RMLSTMCell.forward`] is the readable eager reference. [`mogrifier_lstm_sequence`] runs the same recurrence
over a whole sequence with a hand-written backward pass (`_MogrifierRecurrence`), because a mogrifier cell cannot
use the fused cuDNN/oneDNN LSTM kernels (its input is gated by the previous state):

- everything that does not depend on h leaves the time loop: round 1's gate σ(W_1 x_t + b_1) for all t in one
  matrix product; with fewer than 2 rounds x' = x, so the LSTM input projection W_ih x_t is hoisted too. (With 2+
  rounds W_ih x'_t needs x'_t, which depends on h; splitting W_ih x' = W_ih x + 2 W_ih (x⊙v) does not remove
  the per-step product, so it is not done.)
- products that share an operand are one product: with an even number of rounds the last round's W_R h' and the
  LSTM's W_hh h' + b ([W_R; W_hh] h'), and backward dz·[W_ih^T; W_hh^T] (a wider GEMM call costs less than two);
- the forward loop records no autograd graph; the backward loop keeps only the per-step products that the
  recurrence needs (dz·W_ih, dz·W_hh, the gates' input gradients) and computes every weight gradient after the
  loop as one large matrix product over all time steps (instead of T small rank-`batch` updates), transposing
  (copying) the narrower of its two operands; the input's gradient is computed only when the input needs one
  (features from a frozen encoder do not);
- the per-step products go through the GEMM measured fastest on this machine for their dtype, batch and shapes
  (`PACKED_GEMM`): oneDNN's linear with weights reordered once per sequence (float32, bf16), MKL's packed GEMM
  (float32), or `torch.mm`; measured once and cached per machine (`acceleration.measured_choice`), never chosen by
  vendor. The large products over all steps (round 1's gate, the residual projections, the weight gradients) go
  through oneDNN where that measured faster than `F.linear` ([`linear`]; the weight gradients whenever the per-step
  products use oneDNN). The private operators are feature-checked
  (`acceleration.private_op`) with `torch.mm`/`F.linear` as the public fallback;
- outputs and saved activations live in preallocated (time, batch, ·) buffers written by index, read in the loops
  through per-step views made once; the input is read time-major through a transposed view (no copy); the
  backward pass writes its factors and gradients over the saved buffers once it has read them, and finished
  buffers are reused by the next sequence of the same sizes (`WORKSPACE_CACHE_BYTES`): each fresh page costs a
  page fault on its first touch;
- the loops run compiled by TorchScript (plain Python if that is unavailable): nothing is compiled on the user's
  machine (C++ loops were measured and retired: after the changes above they were slower, BENCHMARKS.md);
- any dtype: the model's (float32, bf16, fp16, float64), or under autocast the autocast dtype (the weights cast
  once per sequence, their gradients flowing back in their own dtype); on any device (CUDA: `torch.mm` per step);
- under `torch.compile`, `torch.export` and tracing the fast path steps aside ([`acceleration.tracing`]) for the
  per-step eager loop, which the compiler records as plain operators (same values).
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from typing import Optional

import torch
from torch import nn

from .acceleration import measured_choice, private_op, tracing

logger = logging.getLogger(__name__)


class RMLSTMCell(nn.Module):
    """One mogrifier LSTM step (eager reference); the weights are shared with the fast sequence path.

    Args:
        input_size (`int`): size of x_t.
        hidden_size (`int`): size of h_t and c_t.
        mogrifier_rounds (`int`): alternating gating rounds (0 is a plain LSTM cell).

    Parameters: `mogrifier[k - 1]` is round k's `nn.Linear` (input_size → hidden_size for odd k, hidden_size →
    input_size for even k); `weight_ih` (4·hidden, input), `weight_hh` (4·hidden, hidden) and `bias` (4·hidden)
    hold the LSTM gates in PyTorch's order (input, forget, cell, output).
    """

    def __init__(self, input_size: int, hidden_size: int, mogrifier_rounds: int):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.mogrifier_rounds = mogrifier_rounds
        self.mogrifier = nn.ModuleList(
            nn.Linear(input_size, hidden_size) if k % 2 == 1 else nn.Linear(hidden_size, input_size)
            for k in range(1, mogrifier_rounds + 1)
        )
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """LSTM weights uniform in ±1/√hidden (PyTorch's default), bias zero with the forget gate at 1.

        The mogrifier gates are `nn.Linear` modules, initialised by the model's `_init_weights`.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)
        nn.init.zeros_(self.bias)
        if not getattr(self.bias, "_is_hf_initialized", False):  # a loaded bias is left alone
            with torch.no_grad():
                self.bias[self.hidden_size : 2 * self.hidden_size] = 1.0  # forget gate

    def mogrify(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The alternating gating rounds: returns (x'_t, h'_{t−1})."""
        for k, gate in enumerate(self.mogrifier, start=1):
            if k % 2 == 1:
                u = torch.sigmoid(gate(x))  # (batch, hidden), eq. 8
                h = 2 * h * u + h  # eq. 9
            else:
                v = torch.sigmoid(gate(h))  # (batch, input), eq. 10
                x = 2 * x * v + x  # eq. 11
        return x, h

    def forward(
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (batch, input), state (h_{t−1}, c_{t−1}) each (batch, hidden) → (h_t, c_t)."""
        h, c = state
        x, h = self.mogrify(x, h)
        gates = x @ self.weight_ih.t() + h @ self.weight_hh.t() + self.bias  # (batch, 4 * hidden)
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c

    def forward_sequence_eager(self, x: torch.Tensor) -> torch.Tensor:
        """The plain per-step loop over (batch, time, input) from zero state → (batch, time, hidden)."""
        batch = x.shape[0]
        h = x.new_zeros(batch, self.hidden_size)
        c = x.new_zeros(batch, self.hidden_size)
        outputs = []
        for t in range(x.shape[1]):
            h, c = self(x[:, t], (h, c))
            outputs.append(h)
        return torch.stack(outputs, dim=1)  # (batch, time, hidden)


PACKED_GEMM = "auto"
"""Which GEMM runs the per-step products on CPUs (float32, bfloat16): `"onednn"` (oneDNN's linear with its weights
reordered once per sequence), `"mkl"` (MKL's packed GEMM, float32), `"none"` (`torch.mm`), or `"auto"`: the
fastest of those available for the dtype, batch size, weight shapes and thread count, measured once per machine
and cached ([`acceleration.measured_choice`](acceleration.py)). Every choice computes the same products."""
NO_PACKING, MKL_PACKING, ONEDNN_PACKING = 0, 1, 2
_PACKING_CODES = {"none": NO_PACKING, "mkl": MKL_PACKING, "onednn": ONEDNN_PACKING}
# the private operators each packed GEMM needs; without them (or switched off) it is not a candidate
_PRIVATE_OPS = {
    ONEDNN_PACKING: ("mkldnn._reorder_linear_weight", "mkldnn._linear_pointwise"),
    MKL_PACKING: ("mkl._mkl_reorder_linear_weight", "mkl._mkl_linear"),
}
MEASURE_MIN_MACS = 1 << 20
"""Products smaller than this (multiply-adds per step, all weights) take `torch.mm` unmeasured: packing cannot
pay there, and tiny models then compute the same values in every process."""
_PACKED_DTYPES = {ONEDNN_PACKING: (torch.float32, torch.bfloat16), MKL_PACKING: (torch.float32,)}


def _available_packings(x: torch.Tensor) -> list[int]:
    """The GEMMs that can run products on `x` here: `NO_PACKING` always, the packed ones where their private
    operators exist (and are not switched off) for this dtype, on CPU, outside autocast and tracing."""
    if x.device.type != "cpu" or tracing() or torch.is_autocast_enabled("cpu"):
        return [NO_PACKING]
    backends = {
        ONEDNN_PACKING: torch.backends.mkldnn.is_available(),
        MKL_PACKING: torch.backends.mkl.is_available(),
    }
    return [NO_PACKING] + [
        packing
        for packing, ops in _PRIVATE_OPS.items()
        if backends[packing] and x.dtype in _PACKED_DTYPES[packing] and all(private_op(op) for op in ops)
    ]


def _trial(packing: int, rows: int, weights: list[torch.Tensor], prepacked: bool):
    """One timed trial for `measured_choice`: products of random (rows, in) inputs with each weight. Nothing is
    allocated or packed until it first runs (a cached choice never runs it)."""
    state: dict[str, list[torch.Tensor]] = {}

    def run():
        if not state:
            state["weights"] = [w.detach() for w in weights]
            state["inputs"] = [torch.randn(rows, w.shape[1], dtype=w.dtype) for w in weights]
            packed = _pack(state["weights"], rows, packing) if prepacked else []
            state["packed"] = packed or [w.new_empty(0) for w in state["weights"]]
        with torch.no_grad():
            for a, w, p in zip(state["inputs"], state["weights"], state["packed"]):
                if prepacked or packing == NO_PACKING:
                    _linear(a, w, p, None, packing)
                else:  # oneDNN reading the plain weight, as `linear` does
                    torch.ops.mkldnn._linear_pointwise(a, w, None, "none", [], "")

    return run


def _choose(kind: str, x: torch.Tensor, rows: int, weights: list[torch.Tensor], allowed: list[int]) -> int:
    """`PACKED_GEMM` if forced (and available), else the measured fastest of `allowed` for these shapes."""
    available = [p for p in _available_packings(x) if p in allowed]
    if PACKED_GEMM != "auto":
        wanted = _PACKING_CODES[PACKED_GEMM]
        return wanted if wanted in available else NO_PACKING
    macs = rows * sum(w.shape[0] * w.shape[1] for w in weights)
    if len(available) == 1 or macs < MEASURE_MIN_MACS:
        return NO_PACKING
    bucket = (
        1 << max(rows - 1, 0).bit_length()
    )  # rows rounded up to a power of two: a few measurements in all
    shapes = ",".join(f"{w.shape[0]}x{w.shape[1]}" for w in weights)
    key = f"mogrifier {kind}|{str(x.dtype).replace('torch.', '')}|rows {bucket}|{shapes}|threads {torch.get_num_threads()}"
    names = {code: name for name, code in _PACKING_CODES.items()}
    candidates = {names[p]: _trial(p, bucket, weights, kind == "step") for p in available}
    return _PACKING_CODES[measured_choice(key, candidates)]


def _packing(x: torch.Tensor, batch: int, weights: list[torch.Tensor]) -> int:
    """Which GEMM (`NO_PACKING`, `MKL_PACKING`, `ONEDNN_PACKING`) runs the per-step products of `batch` rows of
    `x`'s dtype with `weights` (see `PACKED_GEMM`)."""
    return _choose("step", x, batch, weights, [NO_PACKING, MKL_PACKING, ONEDNN_PACKING])


def _pack(weights: list[torch.Tensor], batch: int, packing: int) -> list[torch.Tensor]:
    """The packed copy of each (out, in) weight for products with `batch` rows (empty for `NO_PACKING`)."""
    if packing == ONEDNN_PACKING:
        return [torch.ops.mkldnn._reorder_linear_weight(w.detach().contiguous(), batch) for w in weights]
    if packing == MKL_PACKING:
        return [torch.ops.mkl._mkl_reorder_linear_weight(w.detach().contiguous(), batch) for w in weights]
    return []


def _linear(
    a: torch.Tensor, weight: torch.Tensor, packed: torch.Tensor, bias: Optional[torch.Tensor], packing: int
) -> torch.Tensor:
    """a @ weight.T (+ bias), through the packed GEMM `packing` with `packed` (from `_pack`), or torch.mm.

    A packed GEMM keeps the weight in the library's internal layout across the time loop instead of re-packing
    it on every call; for these small-batch products that is 2–3× faster than torch.mm on some CPUs.
    """
    if packing == 2:  # ONEDNN_PACKING (TorchScript reads no module constants)
        return torch.ops.mkldnn._linear_pointwise(a, packed, bias, "none", [], "")
    if packing == 1:  # MKL_PACKING
        return torch.ops.mkl._mkl_linear(a, packed, weight, bias, a.shape[0])
    if bias is None:
        return torch.mm(a, weight.t())
    return torch.addmm(bias, a, weight.t())


def _linear_add(
    base: torch.Tensor, a: torch.Tensor, weight: torch.Tensor, packed: torch.Tensor, packing: int
) -> torch.Tensor:
    """base + a @ weight.T (see `_linear`)."""
    if packing == 2:
        return torch.ops.mkldnn._linear_pointwise(a, base, packed, None, "add")  # the sum fused in oneDNN
    if packing == 1:
        return torch.ops.mkl._mkl_linear(a, packed, weight, None, a.shape[0]).add_(base)
    return torch.addmm(base, a, weight.t())


class _OneDNNLinear(torch.autograd.Function):
    """F.linear through oneDNN, forward and backward (CPU, float32/bfloat16); see `linear`."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        flat = x.reshape(-1, x.shape[-1])  # (rows, in)
        ctx.save_for_backward(flat, weight)
        ctx.has_bias = bias is not None
        ctx.input_shape = x.shape
        out = torch.ops.mkldnn._linear_pointwise(flat, weight, bias, "none", [], "")  # (rows, out)
        return out.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        flat, weight = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1])  # (rows, out)
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:  # grad @ W, oneDNN reading W^T as a strided view
            grad_x = torch.ops.mkldnn._linear_pointwise(grad, weight.t(), None, "none", [], "")
            grad_x = grad_x.view(ctx.input_shape)
        if ctx.needs_input_grad[1]:  # grad^T @ x over all rows
            grad_weight = torch.ops.mkldnn._linear_pointwise(grad.t(), flat.t(), None, "none", [], "")
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        return grad_x, grad_weight, grad_bias


def linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """`F.linear(x, weight, bias)` for the recurrence's large products over all time steps (round 1's gate, the
    hoisted input projection, the residual projections): through oneDNN where that measured faster than
    `F.linear` for these shapes on this machine (2× on some CPUs, BENCHMARKS.md), else `F.linear`. Both compute
    the same product; tracing, autocast and other devices always get `F.linear`."""
    rows = x.numel() // max(x.shape[-1], 1)
    if _choose("linear", x, rows, [weight], [NO_PACKING, ONEDNN_PACKING]) != ONEDNN_PACKING:
        return nn.functional.linear(x, weight, bias)
    return _OneDNNLinear.apply(x, weight, bias)


class RMLSTMProjection(nn.Linear):
    """`nn.Linear` (same parameters and state dict) whose product goes through [`linear`]: the encoder's residual
    projections, applied to every time step at once."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


# ----------------------------------------------------------------------------------------------------------
# Fast recurrence: time-major (time, batch, ·) loops with a hand-written backward pass.
# Round k ≥ 2 lives in `round_weights[k - 2]`; h-version j is h after odd round 2j − 1 (version 0 is h_{t−1}),
# x-version j is x after even round 2j (version 0 is x_t). Both loops are TorchScript-compatible.
# ----------------------------------------------------------------------------------------------------------


def _recurrence_forward(
    x: torch.Tensor,
    gate1: torch.Tensor,
    weight_ih: torch.Tensor,
    weight_hh: torch.Tensor,
    bias: torch.Tensor,
    round_weights: list[torch.Tensor],
    round_biases: list[torch.Tensor],
    packed: list[torch.Tensor],
    packing: int,
    hoisted: bool,
    save: bool,
    fused: bool,
    buffers: list[torch.Tensor],
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """x: (T, B, input), or (T, B, 4H) = W_ih x + b when `hoisted`; gate1: (T, B, H) σ(W_1 x + b_1) or empty.

    `packed`: [W_ih, W_hh, W_2, W_3, ...] packed for the GEMM `packing` (see `_linear`), or empty for torch.mm.
    `fused` (an even number of rounds, see `_run_forward`): the last round's weight is [W_R; W_hh] and its
    bias [b_R; b], so that W_R h' and W_hh h' + b are one product; W_hh and b are then not read.
    `buffers` (see `_forward_buffers`): [outputs, activations (σ(i), σ(f), tanh(g), σ(o)), cells, tanh(cells)] and,
    with `save`, the h-versions, the x-versions after the first and the gates of rounds ≥ 2; (T, B, ·), uninitialised.
    Returns the hidden states (T, B, H) and, with `save`, the activations the backward pass needs.
    """
    steps, batch, input_size = x.shape[0], x.shape[1], x.shape[2]
    hidden = weight_hh.shape[1]
    rounds = (1 + len(round_weights)) if gate1.numel() > 0 else 0
    outputs, activations, cells, tanh_cells = buffers[0], buffers[1], buffers[2], buffers[3]
    empty = x.new_empty(0)
    packed_ih = packed[0] if len(packed) > 0 else empty
    packed_hh = packed[1] if len(packed) > 0 else empty
    packed_rounds = packed[2:] if len(packed) > 0 else [empty for _ in round_weights]
    # h-version j: h after odd round 2j − 1 (version 0 = h_{t−1}, filled after the loop); x-version j: x after
    # even round 2j (version 0 = x_t); gate k: σ(...) of round k ≥ 2
    h_versions: list[torch.Tensor] = []
    x_versions: list[torch.Tensor] = []
    round_gates: list[torch.Tensor] = []
    if save:
        num_h = (rounds + 1) // 2 + 1
        h_versions = buffers[4 : 4 + num_h]
        x_versions = [x] + buffers[4 + num_h : 4 + num_h + rounds // 2]
        round_gates = buffers[4 + num_h + rounds // 2 :]
    # every (time, ·) buffer as a list of per-step views, made once: indexing a list in the loop costs less than a
    # tensor select (and two slices for a gate) per step
    x_steps = x.unbind(0)
    gate1_steps = gate1.unbind(0) if rounds >= 1 else x_steps
    act_steps = activations.unbind(0)
    i_steps = activations.narrow(2, 0, hidden).unbind(0)
    f_steps = activations.narrow(2, hidden, hidden).unbind(0)
    g_steps = activations.narrow(2, 2 * hidden, hidden).unbind(0)
    o_steps = activations.narrow(2, 3 * hidden, hidden).unbind(0)
    cell_steps = cells.unbind(0)
    tanh_steps = tanh_cells.unbind(0)
    out_steps = outputs.unbind(0)
    h_version_steps = [version.unbind(0) for version in h_versions]
    x_version_steps = [version.unbind(0) for version in x_versions]
    gate_steps = [gate.unbind(0) for gate in round_gates]
    h = x.new_zeros(batch, hidden)
    c = x.new_zeros(batch, hidden)
    for t in range(steps):
        xt = x_steps[t]
        hh = empty  # W_hh h' + b, when fused into the last round's product
        if rounds >= 1:  # round 1 (eqs. 8–9) with the gate hoisted: h' = h + 2·h⊙σ(W_1 x_t + b_1)
            h = (
                torch.addcmul(h, h, gate1_steps[t], value=2.0, out=h_version_steps[1][t])
                if save
                else torch.addcmul(h, h, gate1_steps[t], value=2.0)
            )
        for k in range(2, rounds + 1):
            if k % 2 == 0:
                pre = _linear(
                    h, round_weights[k - 2], packed_rounds[k - 2], round_biases[k - 2], packing
                )  # (B, input), or (B, input + 4H) when fused
                if fused and k == rounds:
                    hh = pre.narrow(1, input_size, 4 * hidden)
                    pre = pre.narrow(1, 0, input_size)
                if save:  # written straight into the saved buffers
                    gate = torch.sigmoid(pre, out=gate_steps[k - 2][t])
                    xt = torch.addcmul(xt, xt, gate, value=2.0, out=x_version_steps[k // 2][t])
                else:
                    xt = torch.addcmul(xt, xt, torch.sigmoid(pre), value=2.0)  # eqs. 10–11: x + 2·x⊙v
            else:
                pre = _linear(
                    xt, round_weights[k - 2], packed_rounds[k - 2], round_biases[k - 2], packing
                )  # (B, H)
                if save:
                    gate = torch.sigmoid(pre, out=gate_steps[k - 2][t])
                    h = torch.addcmul(h, h, gate, value=2.0, out=h_version_steps[(k + 1) // 2][t])
                else:
                    h = torch.addcmul(h, h, torch.sigmoid(pre), value=2.0)  # eqs. 8–9: h + 2·h⊙u
        if hoisted:
            z = _linear_add(xt, h, weight_hh, packed_hh, packing)  # (B, 4H)
        elif fused:
            z = _linear_add(hh, xt, weight_ih, packed_ih, packing)
        else:
            z = _linear_add(
                _linear(xt, weight_ih, packed_ih, bias, packing), h, weight_hh, packed_hh, packing
            )  # (B, 4H)
        torch.sigmoid(z, out=act_steps[t])
        g_t = torch.tanh(z.narrow(1, 2 * hidden, hidden), out=g_steps[t])
        c = torch.addcmul(f_steps[t] * c, i_steps[t], g_t, out=cell_steps[t])
        h = torch.mul(o_steps[t], torch.tanh(c, out=tanh_steps[t]), out=out_steps[t])
    saved: list[torch.Tensor] = []
    if save:
        h_versions[0][0].zero_()
        h_versions[0][1:] = outputs[:-1]  # h_{t−1}
        saved = h_versions + x_versions + round_gates + [activations, cells, tanh_cells]
    return outputs, saved


def _transposed(a: torch.Tensor, packing: int) -> torch.Tensor:
    """a^T for a (rows, m) matrix as `_matmul_tn` wants it: contiguous for oneDNN (which would copy a strided first
    operand on every call), a view for torch.mm."""
    return a.t().contiguous() if packing == 2 else a.t()


def _matmul_tn(a_t: torch.Tensor, b: torch.Tensor, packing: int) -> torch.Tensor:
    """a_t @ b for a_t = `_transposed(a)` and b (rows, n): a weight gradient, one product over all time steps,
    through oneDNN when the per-step products use it (2× `torch.mm` on CPUs where MKL takes its generic path)."""
    if packing == 2:  # ONEDNN_PACKING; oneDNN reads b^T as a strided view
        return torch.ops.mkldnn._linear_pointwise(a_t, b.t(), None, "none", [], "")
    return torch.mm(a_t, b)


def _recurrence_backward(
    grad_outputs: torch.Tensor,
    gate1: torch.Tensor,
    weight_ih_t: torch.Tensor,
    weight_hh_t: torch.Tensor,
    round_weights_t: list[torch.Tensor],
    packed: list[torch.Tensor],
    packing: int,
    saved: list[torch.Tensor],
    hoisted: bool,
    need_grad_x: bool,
    fused: bool,
    cell_to_z: torch.Tensor,
) -> list[torch.Tensor]:
    """Backpropagation through time. Returns [dx, dgate1, dW_ih, dW_hh, dbias] + dW_k + db_k (k ≥ 2); dx is
    empty when not `need_grad_x` (and not `hoisted`, where it is the gradient of W_ih x + b, always needed).
    `fused` (not `hoisted`): `weight_ih_t` is [W_ih^T; W_hh^T], so that dz·W_ih and dz·W_hh are one product.
    `cell_to_z`: an uninitialised (T, B, 3, H) buffer for ∂c_t/∂(z_i, z_f, z_g).

    The weights come transposed (W_ih^T, W_hh^T, W_k^T): the recurrence multiplies gradients by W, and
    `packed` holds their copies packed for the GEMM `packing` (or is empty for torch.mm).

    The LSTM gate derivatives (hidden-sized) are computed for all steps at once before the loop; the mogrifier
    rounds' factors are formed inside the step from the saved gates, where the (batch, input)-sized tensors are
    still in cache (precomputing them as (T, batch, input) tensors cost more memory traffic than it saved).
    """
    steps, batch, hidden = grad_outputs.shape[0], grad_outputs.shape[1], grad_outputs.shape[2]
    rounds = (1 + len(round_weights_t)) if gate1.numel() > 0 else 0
    num_h = (rounds + 1) // 2 + 1
    num_x = rounds // 2 + 1
    h_versions = saved[:num_h]
    x_versions = saved[num_h : num_h + num_x]
    round_gates = saved[num_h + num_x : num_h + num_x + len(round_weights_t)]
    activations, cells, tanh_cells = saved[-3], saved[-2], saved[-1]
    x = x_versions[0]
    input_size = x.shape[2]
    i = activations[:, :, :hidden]
    f = activations[:, :, hidden : 2 * hidden]
    g = activations[:, :, 2 * hidden : 3 * hidden]
    o = activations[:, :, 3 * hidden :]
    # The per-step factors, for all steps at once. The saved buffers are this backward's alone (it runs once), so
    # they are overwritten as soon as they are read: fewer fresh (time, batch, ·) buffers, fewer page faults.
    i_slope = torch.addcmul(i, i, i, value=-1.0, out=cell_to_z[:, :, 0])  # σ' = i − i²
    i_slope.mul_(g)
    f_slope = torch.addcmul(f[1:], f[1:], f[1:], value=-1.0, out=cell_to_z[1:, :, 1])
    f_slope.mul_(cells[:-1])  # c_{t−1} ⊙ σ'(z_f)
    cell_to_z[0, :, 1].zero_()  # c_{−1} = 0
    g_slope = torch.mul(g, g, out=cell_to_z[:, :, 2])
    torch.addcmul(i, i, g_slope, value=-1.0, out=g_slope)  # i ⊙ (1 − g²)
    out_to_z = torch.addcmul(o, o, o, value=-1.0, out=cells)  # ∂h_t/∂z_o = tanh(c_t) ⊙ σ'(z_o), in c's buffer
    out_to_z.mul_(tanh_cells)
    out_to_cell = tanh_cells.mul_(tanh_cells)  # ∂h_t/∂c_t = o ⊙ (1 − tanh²(c_t)), in tanh(c)'s buffer
    torch.addcmul(o, o, out_to_cell, value=-1.0, out=out_to_cell)
    grad_z = activations.view(steps, batch, 4, hidden)  # dz_t overwrites the activations of step t once read
    if hoisted:
        grad_x = grad_z.view(steps, batch, 4 * hidden)
    else:
        grad_x = x.new_empty(x.shape) if need_grad_x else grad_outputs.new_empty(0)
    grad_gate1 = grad_outputs.new_empty(gate1.shape)
    grad_pre = round_gates  # round k's ∂/∂pre overwrites its gate of step t once read
    empty = grad_outputs.new_empty(0)
    packed_ih = packed[0] if len(packed) > 0 else empty
    packed_hh = packed[1] if len(packed) > 0 else empty
    packed_rounds = packed[2:] if len(packed) > 0 else [empty for _ in round_weights_t]
    # per-step views, made once (see `_recurrence_forward`)
    grad_output_steps = grad_outputs.unbind(0)
    out_to_cell_steps = out_to_cell.unbind(0)
    out_to_z_steps = out_to_z.unbind(0)
    cell_to_z_steps = cell_to_z.unbind(0)
    f_steps = f.unbind(0)
    dz_steps = grad_z.view(steps, batch, 4 * hidden).unbind(0)
    dz_cell_steps = grad_z.narrow(2, 0, 3).unbind(0)  # (B, 3, H): dz_i, dz_f, dz_g
    dz_out_steps = grad_z.select(2, 3).unbind(0)  # (B, H): dz_o
    h_version_steps = [version.unbind(0) for version in h_versions]
    x_version_steps = [version.unbind(0) for version in x_versions]
    gate_steps = [gate.unbind(0) for gate in round_gates]
    grad_pre_steps = [pre.unbind(0) for pre in grad_pre]
    grad_x_steps = grad_x.unbind(0) if need_grad_x and not hoisted else grad_output_steps
    gate1_steps = gate1.unbind(0) if rounds >= 1 else grad_output_steps
    grad_gate1_steps = grad_gate1.unbind(0) if rounds >= 1 else grad_output_steps
    dh = grad_outputs.new_zeros(batch, hidden)
    dc = grad_outputs.new_zeros(batch, hidden)
    for t in range(steps - 1, -1, -1):
        dh = dh + grad_output_steps[t]
        dc = torch.addcmul(dc, dh, out_to_cell_steps[t])
        dc_next = dc * f_steps[t]  # read f_t before dz_t overwrites it
        torch.mul(dc.unsqueeze(1), cell_to_z_steps[t], out=dz_cell_steps[t])
        torch.mul(dh, out_to_z_steps[t], out=dz_out_steps[t])
        dc = dc_next
        dz_flat = dz_steps[t]  # (B, 4H)
        if fused:  # (B, input + H): the gradients of the last x- and h-versions
            both = _linear(dz_flat, weight_ih_t, packed_ih, None, packing)
            dx_version = both.narrow(1, 0, input_size)
            dh_version = both.narrow(1, input_size, hidden)
        else:
            dh_version = _linear(dz_flat, weight_hh_t, packed_hh, None, packing)  # (B, H)
            dx_version = (
                _linear(dz_flat, weight_ih_t, packed_ih, None, packing) if not hoisted else dz_flat
            )  # (B, input)
        for k in range(rounds, 1, -1):  # round k: new = old + 2·old⊙σ(pre), σ(pre) = gate
            gate = gate_steps[k - 2][t]
            if k % 2 == 0:  # x-rounds: old is an x-version, the incoming gradient dx_version
                old = x_version_steps[k // 2 - 1][t]
                upstream = dx_version
            else:  # h-rounds
                old = h_version_steps[(k - 1) // 2][t]
                upstream = dh_version
            if k == 2:  # ∂/∂old = upstream ⊙ (1 + 2·gate): the input gradient, only when asked for
                down = (
                    torch.addcmul(upstream, upstream, gate, value=2.0, out=grad_x_steps[t])
                    if need_grad_x
                    else upstream
                )
            else:
                down = torch.addcmul(upstream, upstream, gate, value=2.0)
            slope = torch.addcmul(gate, gate, gate, value=-2.0).add_(gate)  # 2·σ' = 2·(gate − gate²)
            # ∂/∂pre = upstream ⊙ old ⊙ 2σ'(pre), written over the gate (read above)
            pre = torch.mul(upstream, old, out=grad_pre_steps[k - 2][t])
            pre.mul_(slope)
            if k % 2 == 0:
                dx_version = down
                dh_version = _linear_add(
                    dh_version, pre, round_weights_t[k - 2], packed_rounds[k - 2], packing
                )
            else:
                dh_version = down
                dx_version = _linear_add(
                    dx_version, pre, round_weights_t[k - 2], packed_rounds[k - 2], packing
                )
        if rounds >= 1:  # round 1: h' = h ⊙ (1 + 2·gate1); ∂/∂gate1 = 2·h ⊙ dh' (the 2 after the loop)
            torch.mul(dh_version, h_version_steps[0][t], out=grad_gate1_steps[t])
            dh_version = torch.addcmul(dh_version, dh_version, gate1_steps[t], value=2.0)
        dh = dh_version
    if rounds >= 1:
        grad_gate1.mul_(2.0)
    # the weight gradients, each one product over all steps: a^T b with the narrower operand transposed (a copy)
    rows = steps * batch
    flat_grad_z = grad_z.view(rows, 4 * hidden)
    h_final_t = _transposed(h_versions[num_h - 1].reshape(rows, hidden), packing)  # (H, rows)
    grad_weight_hh = _matmul_tn(h_final_t, flat_grad_z, packing).t()  # (h'^T dz)^T: (4H, H)
    if hoisted:
        grad_weight_ih = empty
        grad_bias = empty
    else:
        final_x = x_versions[num_x - 1].reshape(rows, x.shape[2])
        if x.shape[2] < 4 * hidden:  # (x'^T dz)^T
            grad_weight_ih = _matmul_tn(_transposed(final_x, packing), flat_grad_z, packing).t()
        else:  # dz^T x'
            grad_weight_ih = _matmul_tn(_transposed(flat_grad_z, packing), final_x, packing)
        grad_bias = flat_grad_z.sum(0)
    grad_round_weights: list[torch.Tensor] = []
    grad_round_biases: list[torch.Tensor] = []
    for k in range(2, rounds + 1):
        pre = grad_pre[k - 2].reshape(rows, grad_pre[k - 2].shape[2])
        if k % 2 == 0:  # W_k (input, H) maps an h-version: (h^T pre)^T, the H-wide operand transposed
            source_t = (
                h_final_t
                if k // 2 == num_h - 1
                else _transposed(h_versions[k // 2].reshape(rows, hidden), packing)
            )
            grad_round_weights.append(_matmul_tn(source_t, pre, packing).t())
        else:  # W_k (H, input) maps an x-version: pre^T x, pre (H-wide) transposed
            source = x_versions[(k - 1) // 2].reshape(rows, x.shape[2])
            grad_round_weights.append(_matmul_tn(_transposed(pre, packing), source, packing))
        grad_round_biases.append(pre.sum(0))
    return (
        [grad_x, grad_gate1, grad_weight_ih, grad_weight_hh, grad_bias]
        + grad_round_weights
        + grad_round_biases
    )


LOOPS = "script"
"""Which implementation runs the two loops: `"script"` (TorchScript, falling back to Python where TorchScript is
unavailable) or `"python"`. Both compute the same values; set it to compare them."""

_COMPILED: dict[str, object] = {}


def _loops():
    """The forward and backward loops (see `LOOPS`); the same for every device and dtype."""
    if LOOPS == "python":
        return _recurrence_forward, _recurrence_backward
    if not _COMPILED:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _COMPILED["forward"] = torch.jit.script(_recurrence_forward)
                _COMPILED["backward"] = torch.jit.script(_recurrence_backward)
        except Exception as error:  # TorchScript is optional: the Python loops compute the same values
            logger.info("TorchScript unavailable for the mogrifier loops (%s); using Python loops.", error)
            _COMPILED["forward"] = _recurrence_forward
            _COMPILED["backward"] = _recurrence_backward
    return _COMPILED["forward"], _COMPILED["backward"]


WORKSPACE_CACHE_BYTES = 256 << 20
"""The most bytes of finished workspaces (see `_workspace`) each thread keeps for the next sequence of the same
sizes; 0 keeps none."""
_CACHE = threading.local()


def _workspace(like: torch.Tensor, shapes: list[tuple[int, ...]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Uninitialised tensors of `shapes` (like's dtype and device) as views of one flat allocation, returned with
    it. On CPU the allocation is a finished one of the same size from this thread's cache where there is one: a
    fresh buffer costs a page fault per 4 kB page on its first touch (tens of thousands per training step here,
    each microseconds in a virtual machine), a reused one none. Give it back with `_finished` once nothing reads
    it."""
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(sizes)
    flat = None
    cached = getattr(_CACHE, "free", [])
    for index, candidate in enumerate(cached):
        if candidate.numel() == total and candidate.dtype == like.dtype and candidate.device == like.device:
            flat = cached.pop(index)
            break
    if flat is None:
        flat = like.new_empty(total)
    views, start = [], 0
    for size, shape in zip(sizes, shapes):
        views.append(flat.narrow(0, start, size).view(shape))
        start += size
    return flat, views


def _finished(flat: Optional[torch.Tensor]) -> None:
    """Put a workspace nothing reads any more into this thread's cache (CPU only: CUDA's allocator caches), the
    oldest ones leaving it beyond `WORKSPACE_CACHE_BYTES`."""
    if flat is None or flat.device.type != "cpu" or WORKSPACE_CACHE_BYTES <= 0:
        return
    cached = _CACHE.__dict__.setdefault("free", [])
    cached.append(flat)
    while cached and sum(t.nbytes for t in cached) > WORKSPACE_CACHE_BYTES:
        cached.pop(0)


def _forward_buffers(
    x: torch.Tensor, hidden: int, rounds: int, save: bool
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The forward loop's (T, B, ·) buffers (see `_recurrence_forward`): the outputs on their own (the caller keeps
    them), the rest in one workspace, returned first."""
    steps, batch, input_size = x.shape[0], x.shape[1], x.shape[2]
    shapes = [(steps, batch, 4 * hidden), (steps, batch, hidden), (steps, batch, hidden)]
    if save:
        shapes += [(steps, batch, hidden)] * ((rounds + 1) // 2 + 1)  # h-versions
        shapes += [(steps, batch, input_size)] * (rounds // 2)  # x-versions after the first
        shapes += [(steps, batch, input_size if k % 2 == 0 else hidden) for k in range(2, rounds + 1)]
    flat, views = _workspace(x, shapes)
    return flat, [x.new_empty(steps, batch, hidden)] + views


def _packed_step_weights(
    like: torch.Tensor, weights: list[torch.Tensor], fused: bool
) -> tuple[int, list[torch.Tensor]]:
    """The per-step GEMM (`_packing`) and packed copies (`_pack`) of the loops' weights [first, W_hh, rounds...]
    for `like`'s (T, B, ·) rows; `fused`: W_hh is only multiplied inside the fused product, so it is neither
    measured nor packed (an empty placeholder keeps the loops' indices)."""
    products = weights[:1] + weights[2:] if fused else weights
    batch = like.shape[1]
    packing = _packing(like, batch, products)
    packed = _pack(products, batch, packing)
    if fused and packed:
        packed.insert(1, like.new_empty(0))
    return packing, packed


def _run_forward(
    x, gate1, weight_ih, weight_hh, bias, round_weights, round_biases, hoisted: bool, save: bool
):
    """The forward loop with its per-step products packed (and fused, see `_recurrence_forward`): with an even
    number of rounds the last round's W_R h' and the LSTM's W_hh h' + b are one product with [W_R; W_hh] (one
    call of a wider GEMM is faster than two)."""
    forward_loop, _ = _loops()
    fused = not hoisted and len(round_weights) % 2 == 1  # rounds = 1 + len(round_weights), even
    if fused:
        round_weights = round_weights[:-1] + [torch.cat([round_weights[-1], weight_hh])]
        round_biases = round_biases[:-1] + [torch.cat([round_biases[-1], bias])]
    packing, packed = _packed_step_weights(x, [weight_ih, weight_hh, *round_weights], fused)
    rounds = (1 + len(round_weights)) if gate1.numel() > 0 else 0
    flat, buffers = _forward_buffers(x, weight_hh.shape[1], rounds, save)
    outputs, saved = forward_loop(
        x,
        gate1,
        weight_ih,
        weight_hh,
        bias,
        round_weights,
        round_biases,
        packed,
        packing,
        hoisted,
        save,
        fused,
        buffers,
    )
    return outputs, saved, flat


class _MogrifierRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hoisted: bool, num_extra: int, x, gate1, weight_ih, weight_hh, bias, *round_params):
        round_weights = list(round_params[:num_extra])
        round_biases = list(round_params[num_extra:])
        outputs, saved, workspace = _run_forward(
            x, gate1, weight_ih, weight_hh, bias, round_weights, round_biases, hoisted, True
        )
        # reusable after the backward pass, unless its activations become the input's gradient (hoisted)
        ctx.workspace = None if hoisted else workspace
        ctx.hoisted = hoisted
        ctx.num_extra = num_extra
        ctx.buffers = saved  # intermediates of the loop, not inputs or outputs
        ctx.save_for_backward(gate1, weight_ih, weight_hh, *round_weights)
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_outputs):
        gate1, weight_ih, weight_hh, *round_weights = ctx.saved_tensors
        grad_outputs = grad_outputs.contiguous().to(weight_hh.dtype)
        _, backward_loop = _loops()
        fused = not ctx.hoisted  # dz·W_ih and dz·W_hh as one product with [W_ih^T; W_hh^T]
        transposed = [weight_ih.t(), weight_hh.t()] + [w.t() for w in round_weights]
        if fused:
            transposed[0] = torch.cat([transposed[0], transposed[1]])  # (input + H, 4H)
        packing, packed = _packed_step_weights(grad_outputs, transposed, fused)
        if packing != NO_PACKING:
            transposed = [w.contiguous() for w in transposed]
        steps, batch, hidden = grad_outputs.shape
        cell_to_z_workspace, (cell_to_z,) = _workspace(grad_outputs, [(steps, batch, 3, hidden)])
        grads = backward_loop(
            grad_outputs,
            gate1,
            transposed[0],
            transposed[1],
            transposed[2:],
            packed,
            packing,
            ctx.buffers,
            ctx.hoisted,
            ctx.needs_input_grad[2],
            fused,
            cell_to_z,
        )
        ctx.buffers = None
        _finished(cell_to_z_workspace)
        _finished(ctx.workspace)
        ctx.workspace = None
        grad_x, grad_gate1, grad_weight_ih, grad_weight_hh, grad_bias = grads[:5]
        if ctx.hoisted:
            grad_weight_ih = grad_bias = None
        if not ctx.needs_input_grad[2]:
            grad_x = None
        if gate1.numel() == 0:
            grad_gate1 = None
        return (None, None, grad_x, grad_gate1, grad_weight_ih, grad_weight_hh, grad_bias, *grads[5:])


def mogrifier_lstm_sequence(cell: RMLSTMCell, x: torch.Tensor) -> torch.Tensor:
    """Run `cell` over a (batch, time, input) sequence from zero state → (batch, time, hidden), fast path.

    Equal (up to float rounding) to `cell.forward_sequence_eager(x)`, forward and backward. Runs in `x`'s dtype
    (the weights are cast to it when they differ); under autocast, in the autocast dtype (bf16/fp16), with the
    gradients flowing back to the weights in their own dtype.
    """
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        dtype = torch.get_autocast_dtype(device_type)
        with torch.autocast(device_type, enabled=False):  # the loops run in one dtype
            return _sequence(cell, x.to(dtype))
    return _sequence(cell, x)


def _sequence(cell: RMLSTMCell, x: torch.Tensor) -> torch.Tensor:
    dtype = x.dtype
    x = x.contiguous()
    rounds = cell.mogrifier_rounds
    weight_ih, weight_hh, bias = (p.to(dtype) for p in (cell.weight_ih, cell.weight_hh, cell.bias))
    gate1 = x.new_empty(0)
    if rounds >= 1:  # computed batch-first, read time-major through a transposed view (no copy)
        first = cell.mogrifier[0]
        gate1 = torch.sigmoid(linear(x, first.weight.to(dtype), first.bias.to(dtype))).transpose(0, 1)
    hoisted = rounds <= 1  # x' = x: the input projection leaves the loop
    if hoisted:  # (time, batch, 4 * hidden), contiguous: its step slices feed oneDNN's fused sum
        x_time = linear(x, weight_ih, bias).transpose(0, 1).contiguous()
    else:  # (time, batch, input) as a view: the loops read x_t only element-wise (x' = x + 2·x⊙v is contiguous)
        x_time = x.transpose(0, 1)
    round_weights = [gate.weight.to(dtype) for gate in cell.mogrifier[1:]]
    round_biases = [gate.bias.to(dtype) for gate in cell.mogrifier[1:]]
    tensors = [x_time, gate1, weight_ih, weight_hh, bias, *round_weights, *round_biases]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        outputs = _MogrifierRecurrence.apply(hoisted, len(round_weights), *tensors)
    else:
        outputs, _, workspace = _run_forward(
            x_time, gate1, weight_ih, weight_hh, bias, round_weights, round_biases, hoisted, False
        )
        _finished(workspace)
    return outputs.transpose(0, 1)  # (batch, time, hidden)


class RMLSTMLayer(nn.Module):
    """One (optionally bidirectional) mogrifier LSTM layer over a (batch, time, input) sequence.

    `fast_recurrence` (default `True`) selects [`mogrifier_lstm_sequence`]; `False` runs the eager per-step
    reference [`RMLSTMCell.forward_sequence_eager`] (same values, much slower), which is also what tracing (ONNX
    export, `torch.export`) and `torch.compile` record.
    """

    def __init__(self, input_size: int, hidden_size: int, mogrifier_rounds: int, bidirectional: bool = False):
        super().__init__()
        self.cells = nn.ModuleList(
            RMLSTMCell(input_size, hidden_size, mogrifier_rounds) for _ in range(2 if bidirectional else 1)
        )
        self.fast_recurrence = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for direction, cell in enumerate(self.cells):
            sequence = x if direction == 0 else x.flip(1)  # the backward direction reads time reversed
            # tracing (ONNX export, torch.export, torch.compile) records the per-step loop as plain operators
            if self.fast_recurrence and not tracing():
                hidden = mogrifier_lstm_sequence(cell, sequence)
            else:
                hidden = cell.forward_sequence_eager(sequence)
            outputs.append(hidden if direction == 0 else hidden.flip(1))
        return torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]  # (batch, time, dirs * hidden)


__all__ = ["RMLSTMCell", "RMLSTMLayer", "RMLSTMProjection", "linear", "mogrifier_lstm_sequence"]
