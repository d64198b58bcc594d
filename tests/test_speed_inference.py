"""The pipeline's fast inference path (`acceleration.inference_context`): inference copies with BatchNorm folded
into the convolutions, weights in the plan's dtype, frames in chunks. Checked against the model's own eager
float32 forward (the independent reference), for both models and both kinds of timm norm layer; and the user's
model is never touched nor served stale weights."""

import pytest
import torch
from conftest import tiny_config, tiny_inputs
from pipeline_fixtures import write_clip
from transformers import AutoModelForAudioClassification, pipeline

import hf_emotion  # noqa: F401  (registers the model types)
from hf_emotion.models import acceleration
from hf_emotion.models.pipeline_emotion import TASK, register_pipeline
from hf_emotion.models.processing_emotion import EmotionProcessor, register_processors

# Frame encoders with both norm layers timm uses: plain `BatchNorm2d` (resnet) and `BatchNormAct2d` (efficientnet).
FRAME_ENCODERS = ("test_resnet", "test_efficientnet")
FEATURE_DIMS = {"test_resnet": 96, "test_efficientnet": 256}


def _model(model_type: str, frame_encoder: str):
    """A tiny model whose BatchNorms hold random statistics and affine maps (freshly initialised ones are the
    identity, where a wrong fold would go unseen), its head scaled so the largest logit is 2, in eval mode."""
    config = tiny_config(
        model_type, frame_encoder=frame_encoder, frame_feature_dim=FEATURE_DIMS[frame_encoder], num_frames=5
    )
    model = AutoModelForAudioClassification.from_config(config)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.3)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.2)
    inputs = {k: v for k, v in tiny_inputs(config, batch_size=2).items() if k != "labels"}
    model.eval()
    with torch.no_grad():
        model.classifier.bias.zero_()
        model.classifier.weight.mul_(2.0 / model(**inputs).logits.abs().max())
    return model, inputs


def _norms(module) -> int:
    return sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _snapshot(model):
    return {name: (value.clone(), value.stride()) for name, value in model.state_dict().items()}


def _assert_unchanged(model, snapshot, skip=()):
    state = model.state_dict()
    assert set(state) == set(snapshot)
    for name, (value, stride) in snapshot.items():
        if any(part in name for part in skip):
            continue
        assert torch.equal(state[name], value) and state[name].stride() == stride, name


@pytest.mark.parametrize("frame_encoder", FRAME_ENCODERS)
@pytest.mark.parametrize("model_type", ["tucker_av", "rmlstm"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_inference_copies_match_the_float32_model(model_type, frame_encoder, dtype):
    model, inputs = _model(model_type, frame_encoder)
    snapshot = _snapshot(model)
    with torch.no_grad():
        expected = model(**inputs).logits
        with acceleration.inference_context(model, acceleration.inference_plan("cpu", dtype)) as path:
            got = model(**inputs).logits
    norms = _norms(acceleration.frame_encoders(model)[0])
    assert f"; {norms} of {norms} BatchNorms folded" in path  # every norm of the frame encoder
    if model_type == "tucker_av":
        norms = _norms(model.tucker_av.audio_encoder)
        assert f"audio CNN: {norms} of {norms} BatchNorms folded" in path
    assert expected.abs().max() > 1.5
    tolerance = acceleration.BF16_LOGIT_TOLERANCE if dtype == "bfloat16" else 1e-5
    torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)
    _assert_unchanged(model, snapshot)
    assert not any("forward" in vars(m) for m in model.modules())  # nothing left behind


def test_training_mode_and_gradients_run_the_model_itself():
    """BatchNorm on batch statistics (training mode) or gradients wanted: no copy stands in."""
    model, inputs = _model("tucker_av", "test_resnet")
    plan = acceleration.inference_plan("cpu", "bfloat16")
    model.train()
    with torch.no_grad(), acceleration.inference_context(model, plan) as path:
        model(**inputs)
    assert "nothing folded" in path and "BatchNorms folded" not in path
    model.eval()
    with acceleration.inference_context(model, plan) as path:
        logits = model(**inputs).logits
    assert "nothing folded" in path and logits.requires_grad


def test_pipeline_keeps_the_users_model_and_never_serves_stale_weights(tmp_path):
    register_pipeline()
    register_processors(type(tiny_config("tucker_av")))
    model, _ = _model("tucker_av", "test_resnet")
    processor = EmotionProcessor.from_model_config(model.config)
    clip = str(write_clip(tmp_path / "clip.mp4"))
    # float32 copies: folded values match the model to 1e-5, so any stale weight would show
    classifier = pipeline(TASK, model=model, processor=processor, device=-1, dtype="float32")
    assert "BatchNorms folded" in classifier.inference_path
    preprocessed = next(classifier.preprocess(clip))
    inputs = {k: v for k, v in preprocessed.items() if k in ("input_features", "pixel_values_videos")}

    def fast_logits():
        with torch.no_grad():
            return classifier._forward(dict(preprocessed))["logits"]

    def eager_logits():
        with torch.no_grad():
            return model(**inputs).logits

    snapshot = _snapshot(model)
    first = fast_logits()
    classifier(clip)
    _assert_unchanged(model, snapshot)
    assert not model.training
    # A model in training mode stays in it (and runs itself: batch statistics are not foldable).
    model.train()
    classifier(clip)
    assert model.training and "nothing folded" in classifier.inference_path
    _assert_unchanged(model, snapshot, skip=("running_", "num_batches"))  # BatchNorm's training-mode update
    # Fine-tuned after a pipeline call: an optimiser step, the BatchNorm statistics moved by training forwards
    # (neither shows in a tensor's version counter), then an edit through `.data`; each is seen at the next call.
    model.load_state_dict({k: v for k, (v, _) in snapshot.items()})
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    labels = torch.tensor([1])
    model(**inputs, labels=labels).loss.backward()
    optimizer.step()
    model.eval()
    stepped = fast_logits()
    assert (stepped - first).abs().max() > 1e-3
    torch.testing.assert_close(stepped, eager_logits(), rtol=0, atol=1e-5)
    norm = next(
        m for m in acceleration.frame_encoders(model)[0].modules() if isinstance(m, torch.nn.BatchNorm2d)
    )
    norm.running_var.data.mul_(9.0)
    conv = next(m for m in acceleration.frame_encoders(model)[0].modules() if isinstance(m, torch.nn.Conv2d))
    conv.weight.data.mul_(-1.0)
    edited = fast_logits()
    assert (edited - stepped).abs().max() > 1e-3
    torch.testing.assert_close(edited, eager_logits(), rtol=0, atol=1e-5)


def test_a_module_fx_cannot_trace_runs_unfolded_with_the_same_values():
    class Branching(torch.nn.Module):  # Python control flow on a tensor's value: fx cannot trace it
        def __init__(self):
            super().__init__()
            self.conv, self.norm = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)

        def forward(self, x):
            return self.norm(self.conv(x)) if x.sum() > 0 else x

    module = Branching().eval()
    with torch.no_grad():
        module.norm.running_mean.uniform_(-1, 1)
        copy = acceleration._inference_copy(module, torch.float32, channels_last=True)
        x = torch.rand(2, 3, 8, 8)
        assert copy.describe() == "0 of 1 BatchNorms folded" and copy.module is not module
        torch.testing.assert_close(copy.module(x), module(x))
