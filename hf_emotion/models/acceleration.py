"""What this machine can do, detected once: the inference path and the recurrence's GEMM, chosen per machine.

Two kinds of choice live here, one owner each:

- **Measured choices** ([`measured_choice`]): where the fastest of several equivalent implementations depends on
  the CPU (which packed GEMM runs the mogrifier recurrence's per-step products: oneDNN, MKL or `torch.mm`),
  each candidate is timed once on the real shapes and the winner is cached in a small JSON file per machine
  (``~/.cache/hf_emotion/acceleration-<machine>.json``; `HF_EMOTION_CACHE` moves it), keyed by the CPU model,
  its instruction-set flags and the torch version. Nothing is chosen by vendor name.
- **The inference plan** ([`inference_plan`], [`prepare_for_inference`], [`inference_context`]): the frame encoder
  (a CNN over every frame, the dominant cost of a clip) computes in bf16 where the device has bf16 arithmetic (a
  CPU with AVX512-BF16 or AMX, a CUDA GPU with bf16), in float32 elsewhere, channels-last. For inference (no
  gradients, eval mode) it runs on an *inference copy*: BatchNorm folded into the convolutions, weights cast once,
  frames in cache-sized chunks; the audio CNN likewise (folded, channels-last, its own dtype). The copies are
  never the user's modules, and are refreshed from the model's weights at every call, so training, loading or
  editing the model is always seen. The rest of the model (fusion, recurrence, head) runs as loaded. The bf16
  plan keeps the logits within `BF16_LOGIT_TOLERANCE` of float32 (tests on tiny models; the benchmarks at the
  paper configuration).

Private torch operators (oneDNN's and MKL's packed linear) are looked up through [`private_op`], which returns
`None` where the build lacks them or where they are switched off (`DISABLED_PRIVATE_OPS`, or the environment
variable `HF_EMOTION_DISABLE_PRIVATE_OPS="mkldnn._linear_pointwise,..."`, or `"all"`); every caller has a public
fallback that computes the same values.

This file travels to the Hub with the models: it imports only the standard library and torch.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import platform
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

import torch
import torch.fx

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


INFERENCE_FRAMES_PER_THREAD = 8
"""Frames per backbone call and per torch thread in the inference copies on CPU, at 224 px (scaled by the pixel
count for other sizes): the activations of a chunk stay in the cores' caches; all 90 frames of a clip at once
measured 1.5× slower on 2 threads (BENCHMARKS.md)."""

AUDIO_CNN_MODULES = ("TuckerAVAudioEncoder",)
"""Class names of the audio CNNs given an inference copy (BatchNorm folded, channels-last) by the plan."""


@dataclass(frozen=True)
class InferencePlan:
    """How a model runs for inference: its device, the frame encoder's compute dtype and memory format.

    `frame_encoder_dtype` is the compute dtype of the frame encoder (`torch.float32`: the model's own dtype).
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


# ----------------------------------------------------------------------------------------------------------
# Inference copies: BatchNorm folded into the convolutions, weights in the plan's dtype and layout
# ----------------------------------------------------------------------------------------------------------

_CONVOLUTIONS = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)
_BATCH_NORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


class _NormsAsLeaves(torch.fx.Tracer):
    """fx tracer that keeps every BatchNorm module (timm's norm + activation layers too) as one call."""

    def is_leaf_module(self, module: torch.nn.Module, qualified_name: str) -> bool:
        return isinstance(module, torch.nn.modules.batchnorm._BatchNorm) or super().is_leaf_module(
            module, qualified_name
        )


def _after_norm(norm: torch.nn.Module) -> Optional[torch.nn.Module]:
    """What is left of a BatchNorm layer once its affine map is folded away: nothing for torch's own; dropout then
    activation for timm's `BatchNormAct2d` (its forward: batch norm → `drop` → `act`); `None`: not foldable."""
    if type(norm) in _BATCH_NORMS:
        return torch.nn.Identity()
    if type(norm).__name__ == "BatchNormAct2d" and hasattr(norm, "drop") and hasattr(norm, "act"):
        return torch.nn.Sequential(norm.drop, norm.act)
    return None


def _fold_batch_norms(module: torch.fx.GraphModule) -> list[tuple[str, str]]:
    """Fold, in the traced `module`, every eval-mode BatchNorm whose input is a convolution used by nothing else
    into that convolution (the convolution gets a bias; the values follow at `_InferenceCopy.refresh`); returns
    the (convolution, norm) names folded."""
    modules = dict(module.named_modules())
    folded = []
    for node in list(module.graph.nodes):
        norm = modules.get(node.target) if node.op == "call_module" else None
        if not isinstance(norm, torch.nn.modules.batchnorm._BatchNorm) or norm.running_mean is None:
            continue
        source = node.args[0]
        conv = (
            modules.get(source.target)
            if isinstance(source, torch.fx.Node) and source.op == "call_module"
            else None
        )
        rest = _after_norm(norm)
        if type(conv) not in _CONVOLUTIONS or len(source.users) != 1 or rest is None:
            continue
        if conv.out_channels != norm.num_features:
            continue
        if conv.bias is None:
            conv.bias = torch.nn.Parameter(conv.weight.new_zeros(conv.out_channels))
        if isinstance(rest, torch.nn.Identity):
            node.replace_all_uses_with(source)
            module.graph.erase_node(node)
        else:
            module.add_submodule(node.target, rest)  # the norm's dropout and activation stay
        folded.append((source.target, node.target))
    module.graph.lint()
    module.delete_all_unused_submodules()
    module.recompile()
    return folded


def _copy_key(source: torch.nn.Module, dtype: torch.dtype, channels_last: bool) -> tuple:
    """What an inference copy of `source` is built for: its dtype, layout and `source`'s device."""
    reference = next(iter(source.parameters()), None)
    return dtype, channels_last, None if reference is None else reference.device


class _InferenceCopy:
    """An inference-only copy of a module (never the user's): BatchNorm folded into the convolutions before it,
    weights in `dtype` and, with `channels_last`, 4-D weights channels-last (what makes a convolution's output
    channels-last when its input is not). [`refresh`] recomputes every weight from the source module's current
    values, so the copy is never stale (a training step, `load_state_dict`, BatchNorm statistics moved by training
    forwards, an edit through `.data`: version counters miss the last two, a refresh sees them all)."""

    def __init__(self, source: torch.nn.Module, dtype: torch.dtype, channels_last: bool):
        self.key = _copy_key(source, dtype, channels_last)
        module = copy.deepcopy(source)
        self.folded: list[tuple[str, str]] = []
        try:
            module = torch.fx.GraphModule(module, _NormsAsLeaves().trace(module))
            self.folded = _fold_batch_norms(module)
        except Exception as error:  # a module fx cannot trace (data-dependent Python): copied as it is
            logger.info("BatchNorm not folded in %s (%s).", type(source).__name__, error)
        self.norms = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in source.modules())
        module.to(dtype).eval().requires_grad_(False)
        if channels_last:
            for tensor in (*module.parameters(), *module.buffers()):
                if tensor.dim() == 4:
                    tensor.data = tensor.data.contiguous(memory_format=torch.channels_last)
        self.module = module
        derived = {f"{conv}.{name}" for conv, _ in self.folded for name in ("weight", "bias")}
        self.copied = [name for name in self._tensors(module) if name not in derived]

    @staticmethod
    def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {**dict(module.named_parameters()), **dict(module.named_buffers())}

    @torch.no_grad()
    def refresh(self, source: torch.nn.Module) -> None:
        """Recompute the copy's weights from `source`'s current ones (folded, cast, in the copy's layout)."""
        mine, theirs = self._tensors(self.module), self._tensors(source)
        for conv_name, norm_name in self.folded:
            conv, norm = source.get_submodule(conv_name), source.get_submodule(norm_name)
            scale = torch.rsqrt(norm.running_var.float() + norm.eps)
            if norm.weight is not None:
                scale = scale * norm.weight.float()
            shift = -norm.running_mean.float() * scale
            if norm.bias is not None:
                shift = shift + norm.bias.float()
            if conv.bias is not None:
                shift = shift + conv.bias.float() * scale
            shape = (-1,) + (1,) * (conv.weight.dim() - 1)
            torch.mul(conv.weight, scale.view(shape).to(conv.weight.dtype), out=mine[f"{conv_name}.weight"])
            mine[f"{conv_name}.bias"].copy_(shift)
        for name in self.copied:
            mine[name].copy_(theirs[name])

    def describe(self) -> str:
        return f"{len(self.folded)} of {self.norms} BatchNorms folded"


_COPIES: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple, _InferenceCopy]] = weakref.WeakKeyDictionary()


def _inference_copy(source: torch.nn.Module, dtype: torch.dtype, channels_last: bool) -> _InferenceCopy:
    """The inference copy of `source` for this dtype, layout and `source`'s device (built on first use, kept while
    `source` lives), refreshed from `source`'s current weights."""
    with torch.inference_mode(False):  # the copy's tensors stay ordinary tensors, refreshable anywhere
        key = _copy_key(source, dtype, channels_last)
        copies = _COPIES.setdefault(source, {})
        if key not in copies:
            copies[key] = _InferenceCopy(source, dtype, channels_last)
        copies[key].refresh(source)
    return copies[key]


def inference_frame_chunk(image_size: int, device: torch.device) -> Optional[int]:
    """Frames per backbone call for the inference copies: `INFERENCE_FRAMES_PER_THREAD` per torch thread at 224 px
    on CPU (scaled by the pixel count), `None` (the encoder's own chunking) elsewhere."""
    if device.type != "cpu":
        return None
    frames = INFERENCE_FRAMES_PER_THREAD * torch.get_num_threads() * (224 / max(1, image_size)) ** 2
    return max(1, round(frames))


class _CopiedFrameEncoderForward:
    """A frame encoder's forward on its inference copy: frames in chunks, cast to the copy's dtype and layout,
    features back in the input's dtype."""

    def __init__(self, encoder: torch.nn.Module, prepared: _InferenceCopy, plan: InferencePlan):
        self.backbone, self.device, self.channels_last = prepared.module, plan.device, plan.channels_last
        self.dtype = prepared.key[0]
        self.default_chunk = encoder.chunk_size

    def __call__(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        batch, frames = pixel_values_videos.shape[:2]
        flat = pixel_values_videos.flatten(0, 1)  # (batch * frames, 3, height, width)
        chunk = inference_frame_chunk(flat.shape[-1], self.device) or self.default_chunk
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        pieces = [self.backbone(part.to(self.dtype, memory_format=layout)) for part in flat.split(chunk)]
        return (
            torch.cat(pieces).to(pixel_values_videos.dtype).view(batch, frames, -1)
        )  # (batch, frames, features)


class _AutocastForward:
    """A module's forward run under autocast to `dtype`, its output cast back to the dtype of its input."""

    def __init__(self, forward: Callable, device_type: str, dtype: torch.dtype):
        self.forward, self.device_type, self.dtype = forward, device_type, dtype

    def __call__(self, pixel_values: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            out = self.forward(pixel_values, *args, **kwargs)
        return out.to(pixel_values.dtype)


def _copy_applies(model: torch.nn.Module, module: torch.nn.Module) -> bool:
    """An inference copy stands in only where it computes what `module` would: no gradients wanted, every layer
    of `module` in eval mode (BatchNorm on its running statistics), the model not dispatched by `device_map`."""
    if torch.is_grad_enabled() or getattr(model, "hf_device_map", None) is not None:
        return False
    return not any(layer.training for layer in module.modules())


def prepare_for_inference(model: torch.nn.Module, plan: InferencePlan) -> str:
    """Put `model` on the plan's device and build its inference copies ahead of the first call; returns what
    [`inference_context`] runs for a model in eval mode. The model's own weights, layout and mode are untouched."""
    if getattr(model, "hf_device_map", None) is None:  # a model placed by `device_map` stays where it is
        model.to(plan.device)
    with torch.no_grad(), inference_context(model, plan) as path:
        return path


@contextlib.contextmanager
def inference_context(model: torch.nn.Module, plan: Optional[InferencePlan]):
    """Within the block, `model` runs on the plan; yields a description of what runs.

    With no gradients and the model in eval mode, its frame encoders run on inference copies (BatchNorm folded,
    weights in `plan.frame_encoder_dtype` and channels-last, frames in chunks of `inference_frame_chunk`) and its
    audio CNN (`AUDIO_CNN_MODULES`) on a folded channels-last copy in the model's dtype; the copies are refreshed
    from the model's weights on entry. Otherwise (training mode, gradients) the frame encoders compute under
    autocast to `plan.frame_encoder_dtype`. Outputs come back in the input dtype, so the rest of the model runs as
    loaded. `None`: the model as it is.
    """
    if plan is None:
        yield f"{next(model.parameters()).device.type}: as loaded ({model.dtype})"
        return
    patched, parts = [], [plan.describe()]
    for encoder in frame_encoders(model):
        if _copy_applies(model, encoder.backbone):
            dtype = plan.frame_encoder_dtype
            if dtype == torch.float32:  # float32 asks for no lower precision: the encoder's own dtype
                dtype = next(encoder.parameters()).dtype
            # contiguous weights: the frames are made channels-last, which sets the layout (a cheaper refresh)
            prepared = _inference_copy(encoder.backbone, dtype, channels_last=False)
            encoder.forward = _CopiedFrameEncoderForward(encoder, prepared, plan)
            chunk = inference_frame_chunk(getattr(model.config, "image_size", 224), plan.device)
            parts.append(prepared.describe() + (f", {chunk} frames per call" if chunk else ""))
        else:
            parts.append("nothing folded (training mode or gradients)")
            if plan.frame_encoder_dtype == torch.float32:
                continue
            encoder.forward = _AutocastForward(encoder.forward, plan.device.type, plan.frame_encoder_dtype)
            parts[-1] += ", autocast"
        patched.append(encoder)
    for module in model.modules():
        if type(module).__name__ in AUDIO_CNN_MODULES and _copy_applies(model, module):
            prepared = _inference_copy(module, next(module.parameters()).dtype, plan.channels_last)
            module.forward = prepared.module.forward
            parts.append(f"audio CNN: {prepared.describe()}")
            patched.append(module)
    try:
        yield "; ".join(parts)
    finally:
        for module in patched:
            module.__dict__.pop("forward", None)


__all__ = [
    "AUDIO_CNN_MODULES",
    "BF16_LOGIT_TOLERANCE",
    "DISABLED_PRIVATE_OPS",
    "INFERENCE_FRAMES_PER_THREAD",
    "InferencePlan",
    "cache_path",
    "cache_root",
    "clear_measured_choices",
    "cpu_description",
    "cpu_has_bf16_arithmetic",
    "device_has_bf16_arithmetic",
    "frame_encoders",
    "inference_context",
    "inference_frame_chunk",
    "inference_plan",
    "machine_signature",
    "measured_choice",
    "prepare_for_inference",
    "private_op",
    "tracing",
]
