"""What this machine can do, detected once: the inference path and the recurrence's GEMM, chosen per machine.

Two kinds of choice live here, one owner each:

- **Measured choices** ([`measured_choice`]): where the fastest of several equivalent implementations depends on
  the CPU (which packed GEMM runs the mogrifier recurrence's per-step products: oneDNN, MKL or `torch.mm`),
  each candidate is timed once on the real shapes and the winner is cached in a small JSON file per machine
  (``~/.cache/hf_emotion/acceleration-<machine>.json``; `HF_EMOTION_CACHE` moves it), keyed by the CPU model,
  its instruction-set flags and the torch version. Nothing is chosen by vendor name.
- **The inference plan** ([`inference_plan`], [`prepare_for_inference`], [`inference_context`]): the frame encoder (a CNN over every
  frame, the dominant cost of a clip) runs under bf16 autocast with channels-last weights where the device has
  bf16 arithmetic (a CPU with AVX512-BF16 or AMX, a CUDA GPU with bf16), channels-last in float32 elsewhere. The
  rest of the model (audio encoder, fusion, recurrence, head) stays in the model's dtype. The bf16 plan keeps the
  logits within `BF16_LOGIT_TOLERANCE` of float32 (tests check it on tiny models; the benchmarks on the paper
  configuration).

Private torch operators (oneDNN's and MKL's packed linear) are looked up through [`private_op`], which returns
`None` where the build lacks them or where they are switched off (`DISABLED_PRIVATE_OPS`, or the environment
variable `HF_EMOTION_DISABLE_PRIVATE_OPS="mkldnn._linear_pointwise,..."`, or `"all"`); every caller has a public
fallback that computes the same values.

This file travels to the Hub with the models: it imports only the standard library and torch.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch

logger = logging.getLogger(__name__)

BF16_LOGIT_TOLERANCE = 0.05
"""Largest |logit − float32 logit| accepted for the bf16 frame-encoder plan (logits of O(1); tests/benchmarks)."""

DISABLED_PRIVATE_OPS: set[str] = {
    name.strip() for name in os.environ.get("HF_EMOTION_DISABLE_PRIVATE_OPS", "").split(",") if name.strip()
}
"""Qualified names (``"mkldnn._linear_pointwise"``) of private operators not to use, or ``"all"``."""


def private_op(qualified_name: str) -> Optional[Callable]:
    """`torch.ops.<namespace>.<name>` if this torch build has it and it is not switched off, else `None`."""
    if "all" in DISABLED_PRIVATE_OPS or qualified_name in DISABLED_PRIVATE_OPS:
        return None
    namespace, name = qualified_name.split(".", 1)
    try:
        return getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return None


def tracing() -> bool:
    """Whether the model is being recorded (`torch.jit.trace`, `torch.compile`, `torch.export`): data-dependent
    checks and the fast paths' hand-written autograd, packed weights and private operators step aside for plain
    tensor operations."""
    compiler = getattr(torch, "compiler", None)
    compiling = compiler is not None and (
        compiler.is_compiling() or (hasattr(compiler, "is_exporting") and compiler.is_exporting())
    )
    return torch.jit.is_tracing() or bool(compiling)


# ----------------------------------------------------------------------------------------------------------
# The machine
# ----------------------------------------------------------------------------------------------------------


@functools.cache
def cpu_description() -> tuple[str, frozenset[str]]:
    """The CPU's model name and instruction-set flags (from /proc/cpuinfo on Linux; the platform elsewhere)."""
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:  # x86 / ARM
                    flags = frozenset(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_has_bf16_arithmetic() -> bool:
    """Whether the CPU computes in bf16 natively (AVX512-BF16 or AMX on x86, the bf16 extension on ARM).

    Without it PyTorch still runs bf16, through conversions that are slower than float32.
    """
    _, flags = cpu_description()
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


@functools.cache
def machine_signature() -> str:
    """A short digest of what decides which implementation is fastest: CPU model and flags, torch version."""
    model, flags = cpu_description()
    text = "|".join([model, " ".join(sorted(flags)), torch.__version__, platform.machine()])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def cache_root() -> str:
    """hf_emotion's per-user cache directory: `HF_EMOTION_CACHE`, else ``$XDG_CACHE_HOME/hf_emotion`` or
    ``~/.cache/hf_emotion``."""
    return os.environ.get("HF_EMOTION_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "hf_emotion"
    )


def cache_path() -> str:
    """The JSON file holding this machine's measured choices."""
    return os.path.join(cache_root(), f"acceleration-{machine_signature()}.json")


_CHOICES: dict[str, str] = {}  # this process's copy of the cache file


def _read_cache() -> dict[str, str]:
    try:
        with open(cache_path()) as handle:
            data = json.load(handle)
        return {str(k): str(v) for k, v in data.get("choices", {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_cache(choices: dict[str, str]) -> None:
    """Write the choices atomically; a read-only or missing home only costs a re-measurement next time."""
    path = cache_path()
    model, _ = cpu_description()
    record = {"cpu": model, "torch": torch.__version__, "choices": choices}
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump(record, out, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except OSError as error:
        logger.debug("Could not write %s (%s); the choice is kept in memory only.", path, error)


def measured_choice(key: str, candidates: dict[str, Callable[[], object]], repeats: int = 5) -> str:
    """The fastest of `candidates` (name → a call running that implementation once), measured once per machine.

    Each candidate runs once untimed (a candidate that raises is left out), then all run `repeats` times in turn
    (interleaved, so a burst of load from elsewhere hits them alike); the lowest time wins and is cached under
    `key`, in memory and in [`cache_path`] (delete that file to measure again, e.g. after a measurement on a busy
    machine). The first candidate is the answer when every candidate fails or only one is given.
    """
    if key in _CHOICES and _CHOICES[key] in candidates:
        return _CHOICES[key]
    stored = _read_cache()
    if stored.get(key) in candidates:
        _CHOICES[key] = stored[key]
        return _CHOICES[key]
    names = list(candidates)
    working = {}
    if len(names) > 1:
        for name, run in candidates.items():
            try:
                run()
                working[name] = run
            except Exception as error:  # an operator this build or CPU lacks for these dtypes
                logger.debug("Candidate %s for %s failed (%s); left out.", name, key, error)
    timings = {name: float("inf") for name in working}
    for _ in range(repeats):
        for name, run in working.items():
            start = time.perf_counter()
            run()
            timings[name] = min(timings[name], time.perf_counter() - start)
    winner = min(timings, key=timings.__getitem__) if timings else names[0]
    logger.info(
        "Measured %s: %s (%s).", key, winner, ", ".join(f"{n} {t * 1e6:.0f} µs" for n, t in timings.items())
    )
    _CHOICES[key] = winner
    _write_cache({**stored, key: winner})
    return winner


def clear_measured_choices() -> None:
    """Forget this process's measured choices (the next call reads the cache file again, or re-measures)."""
    _CHOICES.clear()


# ----------------------------------------------------------------------------------------------------------
# Inference plan
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InferencePlan:
    """How a model runs for inference: its device, the frame encoder's compute dtype and memory format.

    `frame_encoder_dtype` is the autocast dtype of the frame encoder (`torch.float32`: no autocast).
    """

    device: torch.device
    frame_encoder_dtype: torch.dtype
    channels_last: bool

    def describe(self) -> str:
        dtype = str(self.frame_encoder_dtype).replace("torch.", "")
        layout = "channels-last" if self.channels_last else "contiguous"
        return f"{self.device.type}: frame encoder {dtype}, {layout}"


def device_has_bf16_arithmetic(device: torch.device) -> bool:
    """bf16 arithmetic on `device`: the CPU's flags, or the CUDA device's support."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_bf16_arithmetic()
    return False


_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def inference_plan(
    device: torch.device | str = "cpu", dtype: torch.dtype | str | None = None
) -> InferencePlan:
    """The plan for `device`: `dtype` as asked (``"bfloat16"``, ``torch.float16``, ...), or with `None` the
    fastest one within `BF16_LOGIT_TOLERANCE` of float32: bf16 where the device has bf16 arithmetic, else
    float32. Channels-last on CPU and CUDA (a 1.3–5× faster CNN on the CPUs measured, BENCHMARKS.md)."""
    device = torch.device(device)
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"`dtype` must be one of {sorted(_DTYPES)} or a torch dtype, got {dtype!r}.")
        dtype = _DTYPES[dtype]
    if dtype is None:
        dtype = torch.bfloat16 if device_has_bf16_arithmetic(device) else torch.float32
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(f"`dtype` must be float32, bfloat16 or float16, got {dtype}.")
    return InferencePlan(device, dtype, channels_last=device.type in ("cpu", "cuda"))


def frame_encoders(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's frame encoders (`EmotionFrameEncoder`, also when loaded as remote code, matched by name)."""
    return [module for module in model.modules() if type(module).__name__ == "EmotionFrameEncoder"]


class _AutocastForward:
    """A module's forward run under autocast to `dtype`, its output cast back to the dtype of its input."""

    def __init__(self, forward: Callable, device_type: str, dtype: torch.dtype):
        self.forward, self.device_type, self.dtype = forward, device_type, dtype

    def __call__(self, pixel_values: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.forward(pixel_values, *args, **kwargs)
        return out.to(pixel_values.dtype)


def prepare_for_inference(model: torch.nn.Module, plan: InferencePlan) -> str:
    """Put `model` on the plan's device and its frame encoders' 4-D weights in the plan's memory layout; returns
    `plan.describe()`. Values, dtypes, `state_dict()` and saving are unaffected (a layout is not a value)."""
    if getattr(model, "hf_device_map", None) is None:  # a model placed by `device_map` stays where it is
        model.to(plan.device)
    layout = torch.channels_last if plan.channels_last else torch.contiguous_format
    for encoder in frame_encoders(model):
        for param in encoder.parameters():
            if param.dim() == 4:
                param.data = param.data.contiguous(memory_format=layout)
    return plan.describe()


@contextlib.contextmanager
def inference_context(model: torch.nn.Module, plan: Optional[InferencePlan]):
    """Within the block, `model`'s frame encoders compute in `plan.frame_encoder_dtype` (autocast; their outputs
    come back in the input dtype, so the rest of the model runs as loaded). `None`: the model as it is."""
    encoders = [] if plan is None or plan.frame_encoder_dtype == torch.float32 else frame_encoders(model)
    for encoder in encoders:
        encoder.forward = _AutocastForward(encoder.forward, plan.device.type, plan.frame_encoder_dtype)
    try:
        yield
    finally:
        for encoder in encoders:
            encoder.__dict__.pop("forward", None)


__all__ = [
    "BF16_LOGIT_TOLERANCE",
    "DISABLED_PRIVATE_OPS",
    "InferencePlan",
    "cache_path",
    "cache_root",
    "clear_measured_choices",
    "cpu_description",
    "cpu_has_bf16_arithmetic",
    "device_has_bf16_arithmetic",
    "frame_encoders",
    "inference_context",
    "inference_plan",
    "machine_signature",
    "measured_choice",
    "prepare_for_inference",
    "private_op",
    "tracing",
]
