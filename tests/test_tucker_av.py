"""Tests of the `tucker_av` model: shapes, the fusion against a naive reference, gradients, save/load, errors."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
import transformers
from safetensors.torch import save_file
from tucker_reference import naive_fusion, naive_tucker_core

import hf_emotion
from hf_emotion import TuckerAVConfig, TuckerAVForEmotionRecognition, TuckerAVModel
from hf_emotion.models.fusion_tucker import TuckerAVFusion


class TuckerAVModelTester:
    """Tiny configs and matching random inputs."""

    batch_size = 3

    def get_config(self, **overrides) -> TuckerAVConfig:
        kwargs = dict(
            num_mel_bins=16,
            num_audio_frames=32,
            audio_conv_channels=[4, 8],
            audio_temporal_kernel=3,
            num_frames=6,
            frame_encoder=None,
            frame_feature_dim=12,
            gru_hidden_size=6,
            hidden_size=8,
            num_attention_heads=2,
            num_time_steps=6,
            tucker_time_rank=3,
            tucker_audio_rank=4,
            tucker_video_rank=5,
            fbp_output_size=10,
            fbp_factor=2,
            id2label={0: "a", 1: "b", 2: "c"},
        )
        kwargs.update(overrides)
        return TuckerAVConfig(**kwargs)

    def get_inputs(self, config: TuckerAVConfig, batch_size: int | None = None) -> dict:
        n = batch_size or self.batch_size
        inputs = {"input_features": torch.randn(n, config.num_mel_bins, config.num_audio_frames)}
        if config.frame_encoder is None:
            inputs["frame_features"] = torch.randn(n, config.num_frames, config.frame_feature_dim)
        else:
            inputs["pixel_values_videos"] = torch.randn(
                n, config.num_frames, 3, config.image_size, config.image_size
            )
        return inputs


tester = TuckerAVModelTester()


def test_default_config_reproduces_paper_shapes():
    config = TuckerAVConfig(frame_encoder=None)  # frame encoder shapes are checked separately below
    model = TuckerAVForEmotionRecognition(config).eval()
    n = 2
    audio = torch.randn(n, 128, 256)
    frames = torch.randn(n, 90, 512)
    inner = model.tucker_av
    with torch.no_grad():
        assert inner.audio_encoder(audio).shape == (n, 60, 128)
        video = inner.video_encoder(None, frames)
        assert video.shape == (n, 90, 512)
        assert inner.video_projection(video).shape == (n, 90, 256)
        out = model(audio, frame_features=frames, output_attentions=True, output_hidden_states=True)
    assert out.audio_hidden_states.shape == (n, 60, 256)
    assert out.video_hidden_states.shape == (n, 60, 256)
    assert out.audio_to_video_attentions.shape == (n, 4, 60, 60)
    assert out.video_to_audio_attentions.shape == (n, 4, 60, 60)
    assert out.tucker_core.shape == (n, 30, 128, 128)
    assert out.fused_embeds.shape == (n, 512)
    assert out.logits.shape == (n, 8)
    assert model.config.id2label[0] == "neutral" and model.config.num_labels == 8
    assert inner.fusion.time_factor.shape == (60, 30)
    assert inner.fusion.audio_factor.shape == (256, 128) and inner.fusion.video_factor.shape == (256, 128)


def test_default_frame_encoder_is_resnet18_with_512_features():
    config = TuckerAVConfig()
    model = TuckerAVModel(config).eval()
    encoder = model.video_encoder.frame_encoder
    assert encoder.backbone.default_cfg["architecture"] == "resnet18"
    with torch.no_grad():
        assert encoder(torch.randn(1, 2, 3, 224, 224)).shape == (1, 2, 512)


def test_tucker_core_matches_naive_materialising_reference():
    fusion = TuckerAVFusion(7, 9, time_rank=3, audio_rank=4, video_rank=5, output_size=6, factor=3).double()
    audio, video = torch.randn(2, 7, 9).double(), torch.randn(2, 7, 9).double()
    expected = naive_tucker_core(audio, video, fusion.time_factor, fusion.audio_factor, fusion.video_factor)
    torch.testing.assert_close(fusion.core(audio, video), expected)


def test_fbp_matches_naive_reference_and_gradients_agree():
    fusion = TuckerAVFusion(7, 9, time_rank=3, audio_rank=4, video_rank=5, output_size=6, factor=3).double()
    audio = torch.randn(2, 7, 9, dtype=torch.double, requires_grad=True)
    video = torch.randn(2, 7, 9, dtype=torch.double, requires_grad=True)
    fast = fusion(audio, video)
    slow = naive_fusion(fusion, audio, video)
    torch.testing.assert_close(fast, slow)
    torch.testing.assert_close(naive_fusion(fusion, audio, video, bilinear_readout=False), slow)
    grads_fast = torch.autograd.grad(
        fast.square().sum(), [audio, video, fusion.time_factor, fusion.audio_pool]
    )
    grads_slow = torch.autograd.grad(
        slow.square().sum(), [audio, video, fusion.time_factor, fusion.audio_pool]
    )
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b)


def test_every_mode_of_the_core_matters():
    """Changing the temporal factor alone changes the fused vector (the read-out is not linear in G)."""
    fusion = TuckerAVFusion(6, 8, time_rank=3, audio_rank=4, video_rank=4, output_size=5, factor=2).double()
    audio, video = torch.randn(2, 6, 8).double(), torch.randn(2, 6, 8).double()
    before = fusion(audio, video)
    with torch.no_grad():
        fusion.time_factor[:, 0] *= -3.0
    assert not torch.allclose(before, fusion(audio, video))


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"modalities": ["audio"]},
        {"modalities": ["video"]},
        {"fusion_type": "concat"},
    ],
)
def test_every_parameter_gets_a_gradient(overrides):
    config = tester.get_config(**overrides)
    model = TuckerAVForEmotionRecognition(config).train()
    inputs = tester.get_inputs(config)
    out = model(**inputs, labels=torch.tensor([0, 1, 2]))
    out.loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


def test_pixel_path_with_timm_backbone_gets_gradients_and_freezing_works():
    config = tester.get_config(frame_encoder="resnet18", frame_feature_dim=512, image_size=32, num_frames=2)
    model = TuckerAVForEmotionRecognition(config).train()
    out = model(**tester.get_inputs(config, batch_size=2), labels=torch.tensor([0, 1]))
    out.loss.backward()
    backbone = model.tucker_av.video_encoder.frame_encoder.backbone
    assert all(p.grad is not None for p in backbone.parameters())

    frozen = TuckerAVForEmotionRecognition(
        tester.get_config(
            frame_encoder="resnet18", frame_feature_dim=512, image_size=32, num_frames=2, freeze_backbone=True
        )
    ).train()
    frozen(**tester.get_inputs(frozen.config, batch_size=2), labels=torch.tensor([0, 1])).loss.backward()
    encoder = frozen.tucker_av.video_encoder.frame_encoder
    assert all(p.grad is None for p in encoder.parameters())
    assert not encoder.backbone.training  # BatchNorm statistics stay fixed


def test_backbone_weights_load_from_a_local_checkpoint_file(tmp_path):
    import timm

    reference = timm.create_model("resnet18", num_classes=0)
    checkpoint = tmp_path / "resnet18_imagenet.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(checkpoint))
    config = tester.get_config(
        frame_encoder="resnet18",
        frame_feature_dim=512,
        image_size=32,
        backbone_checkpoint_path=str(checkpoint),
    )
    model = TuckerAVModel(config)
    loaded = model.video_encoder.frame_encoder.backbone.state_dict()
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(loaded[name], value, msg=name)  # not re-initialised by post_init

    model.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["backbone_checkpoint_path"] is None and saved["backbone_pretrained"] is False
    assert model.config.backbone_checkpoint_path == str(checkpoint)  # the live config is untouched


def test_missing_backbone_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="backbone_checkpoint_path"):
        TuckerAVModel(
            tester.get_config(
                frame_encoder="resnet18",
                frame_feature_dim=512,
                backbone_checkpoint_path=str(tmp_path / "nope.safetensors"),
            )
        )


def test_save_and_load_round_trip_gives_identical_logits(tmp_path):
    config = tester.get_config()
    model = TuckerAVForEmotionRecognition(config).eval()
    inputs = tester.get_inputs(config)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    config_json = json.loads((tmp_path / "config.json").read_text())
    assert config_json["auto_map"]["AutoModelForAudioClassification"].endswith(
        "TuckerAVForEmotionRecognition"
    )
    reloaded = transformers.AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, reloaded(**inputs).logits, rtol=0, atol=0)


def test_trust_remote_code_round_trip_without_hf_emotion(tmp_path):
    config = tester.get_config()
    model = TuckerAVForEmotionRecognition(config).eval()
    inputs = tester.get_inputs(config)
    model.save_pretrained(tmp_path / "model")
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, tmp_path / "expected.pt")
    script = textwrap.dedent(
        f"""
        import sys
        sys.modules["hf_emotion"] = None  # the package must not be importable here
        import torch, transformers
        path = {str(tmp_path)!r}
        model = transformers.AutoModelForAudioClassification.from_pretrained(path + "/model", trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        inputs = torch.load(path + "/inputs.pt", weights_only=True)
        with torch.no_grad():
            logits = model.eval()(**inputs).logits
        torch.testing.assert_close(logits, torch.load(path + "/expected.pt", weights_only=True), rtol=0, atol=0)
        print("OK")
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


def test_auto_classes_are_registered():
    config = transformers.AutoConfig.for_model("tucker_av", frame_encoder=None)
    assert isinstance(transformers.AutoModel.from_config(config), TuckerAVModel)
    assert isinstance(
        transformers.AutoModelForAudioClassification.from_config(config), TuckerAVForEmotionRecognition
    )
    assert hf_emotion.TuckerAVConfig is TuckerAVConfig


def test_tiny_model_learns():
    torch.manual_seed(0)
    config = tester.get_config(classifier_dropout=0.0, attention_dropout=0.0, fbp_dropout=0.0)
    model = TuckerAVForEmotionRecognition(config).train()
    inputs = tester.get_inputs(config, batch_size=12)
    labels = torch.arange(12) % 3
    inputs["input_features"] += labels[:, None, None].float()  # a learnable cue
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"num_attention_heads": 3}, "num_attention_heads"),
        ({"tucker_time_rank": 7}, "tucker_time_rank"),
        ({"tucker_audio_rank": 9}, "tucker_audio_rank"),
        ({"tucker_video_rank": 9}, "tucker_video_rank"),
        ({"modalities": ["audio", "text"]}, "modalities"),
        ({"fusion_type": "sum"}, "fusion_type"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"classifier_dropout": 1.5}, "classifier_dropout"),
        ({"audio_temporal_kernel": 40}, "audio_temporal_kernel"),
    ],
)
def test_config_rejects_sizes_that_cannot_fit(overrides, match):
    with pytest.raises(ValueError, match=match):
        tester.get_config(**overrides)


def test_bad_inputs_give_clear_errors():
    config = tester.get_config()
    model = TuckerAVForEmotionRecognition(config).eval()
    good = tester.get_inputs(config)
    cases = [
        ({**good, "input_features": good["input_features"][0]}, "input_features.*3 dimensions"),
        ({**good, "input_features": torch.randn(3, 5, 32)}, r"input_features.*dimension 1 is 5, expected 16"),
        ({**good, "frame_features": good["frame_features"][:2]}, "batch size 2"),
        ({**good, "frame_features": torch.randn(3, 6, 4)}, "frame_features"),
        ({"input_features": good["input_features"]}, "frame_features"),
        ({**good, "input_features": good["input_features"].clone().fill_(float("nan"))}, "NaN"),
    ]
    for inputs, match in cases:
        with pytest.raises(ValueError, match=match):
            model(**inputs)
    with pytest.raises(ValueError, match="labels"):
        model(**good, labels=torch.tensor([0, 1, 7]))
