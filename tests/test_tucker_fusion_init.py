"""The Tucker fusion's initialisation (SPEC §1) and the two extensions beyond the paper (additive path, temporal
position encoding in the cross-attention), checked against the naive materialising reference."""

import pytest
import torch
from conftest import TINY_CONFIGS
from tucker_reference import naive_fusion

from hf_emotion import TuckerAVConfig, TuckerAVModel
from hf_emotion.models.fusion_tucker import TuckerAVFusion
from hf_emotion.models.modeling_tucker_av import TuckerAVCrossAttention, sinusoidal_positions

SMALL = {**TINY_CONFIGS["tucker_av"], "frame_encoder": None, "frame_feature_dim": 12}
SMALL.update(attention_dropout=0.0, fbp_dropout=0.0)


def _constant_inputs(batch: int, steps: int, hidden: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio and video that do not change in time: the interaction is the same at every step."""
    audio = torch.randn(batch, 1, hidden, dtype=torch.float64).expand(batch, steps, hidden)
    video = torch.randn(batch, 1, hidden, dtype=torch.float64).expand(batch, steps, hidden)
    return audio, video


@pytest.mark.parametrize("seed", range(5))
def test_time_factor_is_orthonormal_with_positive_column_sums(seed):
    torch.manual_seed(seed)
    fusion = TuckerAVFusion(60, 16, 30, 8, 8, 12, 2)
    u = fusion.time_factor.detach().double()
    torch.testing.assert_close(u.T @ u, torch.eye(30, dtype=torch.float64), atol=1e-5, rtol=0)
    assert (u.sum(dim=0) > 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_constant_interaction_keeps_a_unit_norm_fused_vector_at_initialisation(seed):
    torch.manual_seed(seed)
    fusion = TuckerAVFusion(60, 16, 30, 8, 8, 12, 2).double()
    audio, video = _constant_inputs(4, 60, 16)
    fused = fusion(audio, video)
    # the naive reference (materialised X, G and every Pᵀ G_k Q) agrees with the fast path
    torch.testing.assert_close(naive_fusion(fusion, audio, video), fused)
    # every slice is c_k · g with c_k > 0: after the per-slice normalisation all slices agree, norm 1
    torch.testing.assert_close(fused.norm(dim=-1), torch.ones(4, dtype=torch.float64), atol=1e-4, rtol=0)

    # the paper's plain orthogonal U_T (random column signs) cancels most of it: norm = |mean_k sign(c_k)|
    signs = torch.where(torch.rand(30) < 0.5, -1.0, 1.0).double()
    with torch.no_grad():
        fusion.time_factor.mul_(signs)
    naive = naive_fusion(fusion, audio, video)
    expected = (signs.sum() / 30).abs()
    torch.testing.assert_close(naive.norm(dim=-1), expected.expand(4), atol=1e-4, rtol=0)


def _model(**overrides) -> TuckerAVModel:
    torch.manual_seed(0)
    return TuckerAVModel(TuckerAVConfig(**{**SMALL, **overrides})).eval()


def _inputs(config: TuckerAVConfig, batch: int = 3) -> dict:
    generator = torch.Generator().manual_seed(1)
    return {
        "input_features": torch.randn(
            batch, config.num_mel_bins, config.num_audio_frames, generator=generator
        ),
        "frame_features": torch.randn(
            batch, config.num_frames, config.frame_feature_dim, generator=generator
        ),
    }


def test_additive_path_adds_a_linear_map_of_the_time_means():
    plain, extended = _model(), _model(fusion_additive_path=True)
    missing, unexpected = extended.load_state_dict(plain.state_dict(), strict=False)
    assert sorted(missing) == ["additive_projection.bias", "additive_projection.weight"] and not unexpected
    inputs = _inputs(plain.config)
    hidden = plain(**inputs, output_hidden_states=True)
    # reference: LayerNorm(fusion(a, v) + W [mean_t a; mean_t v] + b), computed by hand from the refined sequences
    audio, video = hidden.audio_hidden_states, hidden.video_hidden_states
    means = torch.cat([audio.mean(1), video.mean(1)], dim=-1)
    weight, bias = extended.additive_projection.weight, extended.additive_projection.bias
    expected = extended.fused_norm(extended.fusion(audio, video) + means @ weight.T + bias)
    torch.testing.assert_close(extended(**inputs).fused_embeds, expected)
    assert not torch.allclose(expected, hidden.fused_embeds, atol=1e-3)
    with torch.no_grad():  # a zero additive projection gives back the paper's model exactly
        weight.zero_(), bias.zero_()
    torch.testing.assert_close(extended(**inputs).fused_embeds, hidden.fused_embeds)


def test_additive_path_needs_tucker_fusion():
    with pytest.raises(ValueError, match="fusion_additive_path"):
        TuckerAVConfig(**{**SMALL, "fusion_type": "concat", "fusion_additive_path": True})
    with pytest.raises(ValueError, match="cross_attention_position_encoding"):
        TuckerAVConfig(**{**SMALL, "cross_attention_position_encoding": "yes"})


def test_sinusoidal_positions_match_the_formula():
    encoding = sinusoidal_positions(5, 6, dtype=torch.float64)
    for t in range(5):
        for i in range(3):
            angle = torch.tensor(t / 10000 ** (2 * i / 6), dtype=torch.float64)
            torch.testing.assert_close(encoding[t, 2 * i], torch.sin(angle))
            torch.testing.assert_close(encoding[t, 2 * i + 1], torch.cos(angle))


@pytest.mark.parametrize("position_encoding", [False, True])
def test_position_encoding_breaks_time_permutation_equivariance(position_encoding):
    config = TuckerAVConfig(**{**SMALL, "cross_attention_position_encoding": position_encoding})
    torch.manual_seed(0)
    attention = TuckerAVCrossAttention(config).eval()
    audio, video = torch.randn(2, 6, 8), torch.randn(2, 6, 8)
    order = torch.tensor([3, 0, 5, 1, 4, 2])
    refined = attention(audio, video, output_attentions=True)
    permuted = attention(audio[:, order], video[:, order], output_attentions=True)
    same = torch.allclose(refined[0][:, order], permuted[0], atol=1e-5) and torch.allclose(
        refined[1][:, order], permuted[1], atol=1e-5
    )
    # without positions attention is blind to order (permuting both streams permutes the outputs);
    # with them, where a step sits in the clip changes what it attends to
    assert same is (not position_encoding)
    # a constant input: without positions every weight is 1/T, with them attention prefers some steps
    constant = torch.ones(1, 6, 8)
    weights = attention(constant, constant, output_attentions=True)[2]
    assert torch.allclose(weights, torch.full_like(weights, 1 / 6), atol=1e-6) is (not position_encoding)


def test_extensions_round_trip_and_get_gradients(tmp_path):
    model = _model(fusion_additive_path=True, cross_attention_position_encoding=True)
    model.save_pretrained(tmp_path)
    loaded = TuckerAVModel.from_pretrained(tmp_path).eval()
    inputs = _inputs(model.config)
    torch.testing.assert_close(loaded(**inputs).fused_embeds, model(**inputs).fused_embeds)
    model.train()
    model(**inputs).fused_embeds.pow(2).sum().backward()
    assert model.additive_projection.weight.grad.abs().sum() > 0


def test_timm_backbone_keeps_its_zero_initialised_last_batchnorm():
    config = TuckerAVConfig(
        **{**SMALL, "frame_encoder": "resnet18", "frame_feature_dim": 512, "image_size": 32}
    )
    backbone = TuckerAVModel(config).video_encoder.frame_encoder.backbone
    last = [block.bn2.weight for layer in (backbone.layer1, backbone.layer4) for block in layer]
    assert all(float(w.detach().abs().max()) == 0.0 for w in last)
    assert float(backbone.bn1.weight.detach().min()) == 1.0  # the other BatchNorms start at 1
