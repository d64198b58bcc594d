"""Tests of the per-machine speed choices (`acceleration.py`, the recurrence's GEMM), mixed precision for both
models, `torch.export` / `torch.compile`, the pipeline's inference path, and loading without a C++ compiler."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from pipeline_fixtures import TINY_CONFIG, write_clip
from torch import nn
from transformers import pipeline

from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition
from hf_emotion.models import acceleration, mogrifier
from hf_emotion.models.configuration_rmlstm import RMLSTMConfig
from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition
from hf_emotion.models.mogrifier import RMLSTMCell, mogrifier_lstm_sequence
from hf_emotion.models.pipeline_emotion import TASK, register_pipeline
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors

# |logit - float32 logit| for logits scaled to at most 2: bf16 keeps 8 significant bits, fp16 11
BF16_TOLERANCE = acceleration.BF16_LOGIT_TOLERANCE  # the pipeline's plan: the frame encoder alone in bf16
BF16_WHOLE_MODEL_TOLERANCE = 0.1  # every layer in bf16 (measured 0.012 rmlstm, 0.038 tucker_av)
FP16_TOLERANCE = 0.01  # measured 0.001 rmlstm, 0.003 tucker_av


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Measured choices go to a fresh cache directory and start from nothing in memory."""
    monkeypatch.setenv("HF_EMOTION_CACHE", str(tmp_path / "cache"))
    acceleration.clear_measured_choices()
    yield
    acceleration.clear_measured_choices()


# ----------------------------------------------------------------------------------------------------------
# Measured choices and the machine
# ----------------------------------------------------------------------------------------------------------


def test_measured_choice_takes_the_fastest_working_candidate_and_caches_it_per_machine():
    calls = []

    def slow():
        calls.append("slow")
        time.sleep(0.003)

    def broken():
        raise RuntimeError("not on this CPU")

    winner = acceleration.measured_choice("demo", {"slow": slow, "broken": broken, "fast": lambda: None})
    assert winner == "fast"
    assert len(calls) == 6  # one untimed run + 5 timed
    path = acceleration.cache_path()
    assert acceleration.machine_signature() in os.path.basename(path)
    with open(path) as handle:
        assert json.load(handle)["choices"] == {"demo": "fast"}
    acceleration.clear_measured_choices()  # a new process: read back from the file, nothing runs again
    never = {"slow": lambda: pytest.fail("re-measured"), "fast": lambda: pytest.fail("re-measured")}
    assert acceleration.measured_choice("demo", never) == "fast"


def test_bf16_arithmetic_is_read_from_the_cpu_flags(monkeypatch):
    monkeypatch.setattr(
        acceleration, "cpu_description", lambda: ("Some CPU", frozenset({"avx512f", "avx512_bf16"}))
    )
    assert acceleration.cpu_has_bf16_arithmetic()
    assert acceleration.inference_plan("cpu").frame_encoder_dtype == torch.bfloat16
    monkeypatch.setattr(
        acceleration, "cpu_description", lambda: ("Other CPU", frozenset({"avx512f", "avx2"}))
    )
    assert not acceleration.cpu_has_bf16_arithmetic()
    plan = acceleration.inference_plan("cpu")
    assert plan.frame_encoder_dtype == torch.float32 and plan.channels_last
    assert acceleration.inference_plan("cpu", "float16").frame_encoder_dtype == torch.float16
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        acceleration.inference_plan("cpu", "int8")


def _cell_and_inputs(rounds: int = 2):
    """A cell large enough that the per-step GEMM is measured (not the tiny-product shortcut)."""
    torch.manual_seed(0)
    cell = RMLSTMCell(48, 32, rounds)
    for gate in cell.mogrifier:
        nn.init.normal_(gate.weight, std=0.3)
    x = torch.randn(8, 6, 48, requires_grad=True)
    return cell, x


def _values_and_grads(fn, cell, x):
    out = fn(x)
    weight = torch.linspace(-1, 1, out.numel()).view_as(out)
    grads = torch.autograd.grad((out * weight).sum(), [x, *cell.parameters()])
    return [out.detach(), *grads]


@pytest.mark.parametrize(
    "disabled",
    [
        "mkldnn._linear_pointwise",
        "mkldnn._reorder_linear_weight",
        "mkl._mkl_linear",
        "mkl._mkl_reorder_linear_weight",
        "all",
    ],
)
@pytest.mark.parametrize("gemm", ["auto", "onednn", "mkl"])
def test_each_private_op_switched_off_falls_back_to_the_same_values(disabled, gemm, monkeypatch):
    monkeypatch.setattr(mogrifier, "MEASURE_MIN_MACS", 0)
    monkeypatch.setattr(mogrifier, "PACKED_GEMM", gemm)
    monkeypatch.setattr(mogrifier, "LOOPS", "script")
    cell, x = _cell_and_inputs()
    expected = _values_and_grads(cell.forward_sequence_eager, cell, x)
    monkeypatch.setattr(acceleration, "DISABLED_PRIVATE_OPS", {disabled})
    packings = []
    original = mogrifier._pack
    monkeypatch.setattr(mogrifier, "_pack", lambda w, b, p: packings.append(p) or original(w, b, p))
    got = _values_and_grads(lambda x: mogrifier_lstm_sequence(cell, x), cell, x)
    needs = {mogrifier.ONEDNN_PACKING: "mkldnn.", mogrifier.MKL_PACKING: "mkl."}
    used = {needs[p] for p in packings if p in needs}
    assert not any(disabled.startswith(prefix) or disabled == "all" for prefix in used), (disabled, packings)
    for got_tensor, expected_tensor in zip(got, expected):
        torch.testing.assert_close(got_tensor, expected_tensor, rtol=1e-4, atol=1e-5)


def test_per_step_gemm_is_measured_once_per_shape_and_reused(monkeypatch):
    monkeypatch.setattr(mogrifier, "MEASURE_MIN_MACS", 0)
    measured = []
    original = acceleration.measured_choice

    def recording(key, candidates, repeats=5):
        measured.append((key, sorted(candidates)))
        return original(key, candidates, repeats)

    monkeypatch.setattr(mogrifier, "measured_choice", recording)
    cell, x = _cell_and_inputs()
    with torch.no_grad():
        mogrifier_lstm_sequence(cell, x)
        mogrifier_lstm_sequence(cell, x)
    steps = [key for key, _ in measured if key.startswith("mogrifier step")]
    assert steps and all("float32" in key and "rows 8" in key for key in steps)
    with open(acceleration.cache_path()) as handle:
        cached = json.load(handle)["choices"]
    assert set(steps) <= set(cached) and all(cached[k] in ("none", "mkl", "onednn") for k in steps)


# ----------------------------------------------------------------------------------------------------------
# Mixed precision: both models, bf16 and fp16, autocast and model dtype, forward and backward (CPU)
# ----------------------------------------------------------------------------------------------------------


def _tiny_rmlstm():
    config = RMLSTMConfig(
        num_mfcc=5,
        num_frames=4,
        frame_encoder="test_resnet",  # timm's tiny test network: fp16 convolutions on CPU are slow
        frame_feature_dim=96,
        image_size=32,
        text_feature_dim=6,
        num_time_steps=7,
        hidden_size=16,
        num_layers=2,
        mogrifier_rounds=2,
        id2label={0: "a", 1: "b", 2: "c"},
    )
    inputs = {
        "input_features": torch.randn(3, 5, 20),
        "pixel_values_videos": torch.rand(3, 4, 3, 32, 32),
        "text_features": torch.rand(3, 6),
    }
    return RMLSTMForEmotionRecognition(config), inputs


def _tiny_tucker():
    inputs = {"input_features": torch.randn(2, 16, 32), "pixel_values_videos": torch.rand(2, 4, 3, 32, 32)}
    config = TuckerAVConfig(**{**TINY_CONFIG, "frame_encoder": "test_resnet", "frame_feature_dim": 96})
    return TuckerAVForEmotionRecognition(config), inputs


MODELS = {"rmlstm": _tiny_rmlstm, "tucker_av": _tiny_tucker}


def _scaled(model, inputs):
    """The head scaled so the largest logit is 2 (a freshly initialised head gives ~0.05, where any tolerance
    would pass)."""
    model.eval()
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.weight.mul_(2.0 / model(**inputs).logits.abs().max())
    return model


@pytest.mark.parametrize("mode", ["autocast", "model dtype"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", list(MODELS))
def test_mixed_precision_forward_backward_within_tolerance_of_float32(name, dtype, mode):
    model, inputs = MODELS[name]()
    model = _scaled(model, inputs)
    labels = torch.arange(next(iter(inputs.values())).shape[0]) % model.config.num_labels
    reference = model(**inputs, labels=labels)
    reference.loss.backward()
    reference_grad = model.classifier.weight.grad.clone()
    model.zero_grad()
    assert reference.logits.abs().max() > 0.5
    if mode == "autocast":
        with torch.autocast("cpu", dtype=dtype):
            out = model(**inputs, labels=labels)
        grad_model = model
    else:
        grad_model = type(model)(model.config)
        grad_model.load_state_dict(model.state_dict())
        grad_model = grad_model.eval().to(dtype)
        out = grad_model(**{k: v.to(dtype) for k, v in inputs.items()}, labels=labels)
        assert out.logits.dtype == dtype
    out.loss.backward()
    tolerance = BF16_WHOLE_MODEL_TOLERANCE if dtype == torch.bfloat16 else FP16_TOLERANCE
    torch.testing.assert_close(out.logits.float(), reference.logits, rtol=0, atol=tolerance)
    grads = [p.grad for p in grad_model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    head = grad_model.classifier.weight.grad.float()
    assert torch.nn.functional.cosine_similarity(head.flatten(), reference_grad.flatten(), dim=0) > 0.99


# ----------------------------------------------------------------------------------------------------------
# torch.export and torch.compile
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_export_of_both_models_matches_eager(name):
    model, inputs = MODELS[name]()
    model = _scaled(model, inputs)
    with torch.no_grad():
        expected = model(**inputs).logits
    exported = torch.export.export(model, (), kwargs=inputs)
    with torch.no_grad():
        got = exported.module()(**inputs).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_torch_compile_of_rmlstm_matches_eager_forward_and_backward():
    """Dynamo captures the whole model in one graph (the fast recurrence steps aside for the per-step loop) and
    AOTAutograd derives its backward; `aot_eager` skips Inductor's C++ code generation (slow to compile; checked
    by hand: same values, BENCHMARKS.md)."""
    torch._dynamo.reset()
    model, inputs = _tiny_rmlstm()
    inputs.pop("pixel_values_videos")
    model.config.frame_encoder = None
    inputs["frame_features"] = torch.randn(3, 4, 96)
    model = _scaled(RMLSTMForEmotionRecognition(model.config), inputs)
    labels = torch.tensor([0, 1, 2])
    expected = model(**inputs, labels=labels)
    expected_grads = torch.autograd.grad(expected.loss, list(model.parameters()))
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    got = compiled(**inputs, labels=labels)
    got_grads = torch.autograd.grad(got.loss, list(model.parameters()))
    torch.testing.assert_close(got.logits, expected.logits, rtol=1e-5, atol=1e-6)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-6)


def test_nan_inputs_are_still_rejected_in_eager_mode():
    model, inputs = _tiny_tucker()
    inputs["input_features"][0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.eval()(**inputs)


# ----------------------------------------------------------------------------------------------------------
# The pipeline's inference path
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["auto", "bfloat16", "float32"])
def test_pipeline_inference_path_within_tolerance_of_float32(dtype, tmp_path):
    register_pipeline()
    register_processors(TuckerAVConfig)
    model, _ = _tiny_tucker()
    processor = EmotionProcessor.from_model_config(model.config)
    clip = str(write_clip(tmp_path / "clip.mp4"))
    reference = pipeline(TASK, model=model, processor=processor, device=-1, optimize=False)
    inputs = next(reference.preprocess(clip))
    model = _scaled(
        model, {k: v for k, v in inputs.items() if k in ("input_features", "pixel_values_videos")}
    )
    fast = pipeline(TASK, model=model, processor=processor, device=-1, dtype=dtype)
    assert reference.inference_path == "cpu: as loaded (torch.float32)"
    expected_dtype = {"auto": acceleration.inference_plan("cpu").frame_encoder_dtype}.get(dtype, dtype)
    assert fast.inference_path.startswith(
        f"cpu: frame encoder {str(expected_dtype).replace('torch.', '')}, channels-last; "
    )
    assert "BatchNorms folded" in fast.inference_path  # on inference copies (tests/test_speed_inference.py)
    assert all(p.is_contiguous() for p in model.parameters())  # the model itself untouched
    with torch.no_grad():
        expected = reference._forward(dict(inputs))["logits"]
        got = fast._forward(dict(inputs))["logits"]
    assert expected.abs().max() > 0.5
    tolerance = BF16_TOLERANCE if "bfloat16" in fast.inference_path else 1e-5
    torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)
    assert not any("forward" in vars(m) for m in acceleration.frame_encoders(model))  # nothing left behind
    assert fast(clip, top_k=1)[0]["label"] in model.config.id2label.values()


# ----------------------------------------------------------------------------------------------------------
# Installation: a model loads and predicts with no C++ compiler on PATH
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_installed_package_loads_remote_code_rmlstm_and_predicts_without_a_compiler(tmp_path):
    """A fresh venv with the package installed from a copy of this tree (its dependencies from the running
    environment through a .pth file), PATH without any compiler or ninja, an empty cache: `trust_remote_code`
    loads an rmlstm and predicts what the model predicts here."""
    config = RMLSTMConfig(
        num_mfcc=5, num_frames=4, frame_encoder=None, frame_feature_dim=12, text_feature_dim=6, num_time_steps=30,
        hidden_size=64, num_layers=2, id2label={0: "a", 1: "b"},
    )  # fmt: skip
    model = RMLSTMForEmotionRecognition(config).eval()
    model.save_pretrained(tmp_path / "model")
    inputs = {"input_features": torch.randn(4, 5, 20), "frame_features": torch.randn(4, 4, 12),
              "text_features": torch.rand(4, 6)}  # fmt: skip
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, tmp_path / "expected.pt")
    source = tmp_path / "source"  # a copy: building in the checkout would leave build/ and egg-info behind
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(root, name), source / name)
    shutil.copytree(os.path.join(root, "hf_emotion"), source / "hf_emotion",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    main_site = next(p for p in sys.path if p.endswith("site-packages") and os.path.isdir(p))
    (site / "main_env.pth").write_text(main_site + "\n")  # a plain path: its own .pth files are not run
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(source)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    bin_dir = str(venv / "bin")  # the only PATH entry: python, no cc, c++, g++, ninja
    assert not any(shutil.which(tool, path=bin_dir) for tool in ("cc", "c++", "g++", "gcc", "ninja"))
    script = textwrap.dedent(
        f"""
        import importlib.metadata, importlib.util, sys, torch, transformers
        path = {str(tmp_path)!r}
        assert importlib.util.find_spec("hf_emotion").origin.startswith({str(venv)!r})  # installed here
        inputs = torch.load(path + "/inputs.pt", weights_only=True)
        expected = torch.load(path + "/expected.pt", weights_only=True)
        # hf_emotion not imported: the model's own files run (remote code)
        model = transformers.AutoModelForAudioClassification.from_pretrained(path + "/model", trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        assert "hf_emotion" not in sys.modules
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(**inputs).logits, expected, rtol=1e-5, atol=1e-6)
        import hf_emotion  # and through the installed package
        assert hf_emotion.__version__ == importlib.metadata.version("hf_emotion")
        model = transformers.AutoModelForAudioClassification.from_pretrained(path + "/model")
        assert type(model).__module__ == "hf_emotion.models.modeling_rmlstm", type(model).__module__
        with torch.no_grad():
            torch.testing.assert_close(model.eval()(**inputs).logits, expected, rtol=1e-5, atol=1e-6)
        print("OK")
        """
    )
    env = {
        "PATH": bin_dir,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp_path / "hf_home"),
        "HF_EMOTION_CACHE": str(tmp_path / "empty_cache"),
        "HOME": str(tmp_path),
    }
    result = subprocess.run([python, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]
    assert not (tmp_path / "empty_cache" / "kernels").exists()  # nothing was built


def test_gpu_benchmark_skips_cleanly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the script runs for real (benchmarks/bench_gpu.py)")
    script = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "bench_gpu.py"
    )
    result = subprocess.run([sys.executable, script], capture_output=True, text=True)
    assert result.returncode == 0 and "skipped" in result.stdout, result.stderr[-2000:]
