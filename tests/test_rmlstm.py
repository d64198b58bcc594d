"""Tests of the `rmlstm` model: the cell against eqs. (8)–(11), the fast recurrence against the eager loop and
nn.LSTM, gradients, every cell type and modality subset, save/load and remote-code round trips, errors."""

import itertools
import json
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
import transformers
from torch import nn

import hf_emotion
from hf_emotion.models import mogrifier
from hf_emotion.models.configuration_rmlstm import RMLSTMConfig
from hf_emotion.models.modeling_rmlstm import RMLSTMForEmotionRecognition, RMLSTMModel, resample_time
from hf_emotion.models.mogrifier import RMLSTMCell, RMLSTMLayer, mogrifier_lstm_sequence

MODALITY_SUBSETS = [
    list(subset) for size in (1, 2, 3) for subset in itertools.combinations(("audio", "video", "text"), size)
]


class RMLSTMModelTester:
    """Tiny configs (no frame encoder: precomputed frame features) and matching random inputs."""

    batch_size = 3

    def get_config(self, **overrides) -> RMLSTMConfig:
        kwargs = dict(
            num_mfcc=5,
            num_frames=4,
            frame_encoder=None,
            frame_feature_dim=12,
            text_feature_dim=6,
            num_time_steps=7,
            hidden_size=8,
            num_layers=2,
            mogrifier_rounds=2,
            id2label={0: "a", 1: "b", 2: "c"},
        )
        kwargs.update(overrides)
        return RMLSTMConfig(**kwargs)

    def get_inputs(self, config: RMLSTMConfig, batch_size: int | None = None) -> dict:
        n = batch_size or self.batch_size
        inputs = {
            "input_features": torch.randn(n, config.num_mfcc, 20),
            "text_features": torch.rand(n, config.text_feature_dim),
        }
        if config.frame_encoder is None:
            inputs["frame_features"] = torch.randn(n, config.num_frames, config.frame_feature_dim)
        else:
            inputs["pixel_values_videos"] = torch.rand(
                n, config.num_frames, 3, config.image_size, config.image_size
            )
        return inputs


tester = RMLSTMModelTester()


def reference_cell_step(cell: RMLSTMCell, x, h, c):
    """Eqs. (8)–(11) written out by hand from the raw weights (alternating rounds, then an LSTM step)."""
    for k, gate in enumerate(cell.mogrifier, start=1):
        if k % 2 == 1:  # eqs. 8–9: h'_{t-1} = 2 h_{t-1} ⊙ u_t + h_{t-1}, u_t = σ(W_u x_t + b_u)
            u = 1 / (1 + torch.exp(-(x @ gate.weight.T + gate.bias)))
            h = 2 * h * u + h
        else:  # eqs. 10–11: x'_t = 2 x_t ⊙ v_t + x_t, v_t = σ(W_v h'_{t-1} + b_v)
            v = 1 / (1 + torch.exp(-(h @ gate.weight.T + gate.bias)))
            x = 2 * x * v + x
    hidden = h.shape[1]
    z = x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias
    sig = lambda a: 1 / (1 + torch.exp(-a))  # noqa: E731
    i, f = sig(z[:, :hidden]), sig(z[:, hidden : 2 * hidden])
    g, o = torch.tanh(z[:, 2 * hidden : 3 * hidden]), sig(z[:, 3 * hidden :])
    c = f * c + i * g
    return o * torch.tanh(c), c


@pytest.mark.parametrize("rounds", [1, 2, 3, 5])
def test_cell_matches_hand_written_equations(rounds):
    cell = RMLSTMCell(5, 4, rounds).double()
    for gate in cell.mogrifier:  # non-trivial gate weights (the default init is small)
        nn.init.normal_(gate.weight, std=0.5)
        nn.init.normal_(gate.bias, std=0.5)
    x, h, c = torch.randn(3, 5).double(), torch.randn(3, 4).double(), torch.randn(3, 4).double()
    h_ref, c_ref = reference_cell_step(cell, x, h, c)
    h_new, c_new = cell(x, (h, c))
    torch.testing.assert_close(h_new, h_ref, rtol=0, atol=1e-14)
    torch.testing.assert_close(c_new, c_ref, rtol=0, atol=1e-14)


def test_round_one_gates_hidden_state_by_input_and_round_two_gates_input_by_state():
    cell = RMLSTMCell(3, 2, 2).double()
    assert tuple(cell.mogrifier[0].weight.shape) == (2, 3)  # round 1: W_u maps x → hidden
    assert tuple(cell.mogrifier[1].weight.shape) == (3, 2)  # round 2: W_v maps h' → input
    x, h = torch.randn(1, 3).double(), torch.randn(1, 2).double()
    nn.init.zeros_(cell.mogrifier[0].weight)
    nn.init.zeros_(cell.mogrifier[0].bias)
    x_new, h_new = cell.mogrify(x, h)
    torch.testing.assert_close(h_new, 2 * h * 0.5 + h)  # σ(0) = 0.5 → h' = 2h


@pytest.mark.parametrize("fast", [True, False])
def test_zero_rounds_without_residual_equals_nn_lstm(fast):
    config = tester.get_config(cell_type="mlstm", mogrifier_rounds=0, dropout=0.0, modalities=["video"])
    model = RMLSTMModel(config).eval()
    lstm = nn.LSTM(config.frame_feature_dim, config.hidden_size, num_layers=2, batch_first=True)
    with torch.no_grad():
        for index, layer in enumerate(model.encoder.layers):
            cell = layer.cells[0]
            layer.fast_recurrence = fast
            getattr(lstm, f"weight_ih_l{index}").copy_(cell.weight_ih)
            getattr(lstm, f"weight_hh_l{index}").copy_(cell.weight_hh)
            getattr(lstm, f"bias_ih_l{index}").copy_(cell.bias)
            getattr(lstm, f"bias_hh_l{index}").zero_()
    features = torch.randn(3, config.num_time_steps, config.frame_feature_dim)
    with torch.no_grad():
        expected, _ = lstm(features)
        got = model(frame_features=features).last_hidden_state
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(params=["script", "python"])
def loops(request, monkeypatch):
    """Each implementation of the fast path's two loops: TorchScript and plain Python."""
    monkeypatch.setattr(mogrifier, "LOOPS", request.param)
    return request.param


@pytest.mark.parametrize("rounds", [0, 1, 2, 3, 4, 5])  # even rounds: the last round and W_hh fused
def test_fast_recurrence_matches_eager_loop_forward_and_backward(rounds, loops):
    cell = RMLSTMCell(6, 4, rounds).double()
    for gate in cell.mogrifier:
        nn.init.normal_(gate.weight, std=0.5)
    x = torch.randn(2, 5, 6, dtype=torch.double, requires_grad=True)
    weight = torch.randn(2, 5, 4, dtype=torch.double)
    params = [x, *cell.parameters()]
    expected = cell.forward_sequence_eager(x)
    expected_grads = torch.autograd.grad((expected * weight).sum(), params)
    got = mogrifier_lstm_sequence(cell, x)
    got_grads = torch.autograd.grad((got * weight).sum(), params)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=0, atol=1e-12)
    with torch.no_grad():  # the inference path (no saved activations)
        torch.testing.assert_close(mogrifier_lstm_sequence(cell, x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rounds", [2, 3])
def test_fast_recurrence_without_input_gradient_matches_eager_loop(rounds, loops):
    """An input that needs no gradient (features from a frozen encoder): the backward skips the input gradient and
    the weights' gradients still match the eager loop's; the input is read time-major through a view, not copied."""
    cell = RMLSTMCell(6, 4, rounds).double()
    for gate in cell.mogrifier:
        nn.init.normal_(gate.weight, std=0.5)
    x = torch.randn(5, 2, 6, dtype=torch.double).transpose(0, 1)  # (batch, time, input), not contiguous
    weight = torch.randn(2, 5, 4, dtype=torch.double)
    params = list(cell.parameters())
    expected_grads = torch.autograd.grad((cell.forward_sequence_eager(x) * weight).sum(), params)
    got = mogrifier_lstm_sequence(cell, x)
    got_grads = torch.autograd.grad((got * weight).sum(), params)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cache_bytes", [mogrifier.WORKSPACE_CACHE_BYTES, 0])
@pytest.mark.parametrize("rounds", [1, 2, 3])
def test_reused_workspaces_never_change_a_result_still_in_use(rounds, cache_bytes, loops, monkeypatch):
    """The recurrence reuses its finished buffers on the next sequence of the same sizes. Two graphs alive at once
    (backward in reverse order), a gradient kept across later calls, an inference output kept across a training
    step: each still equals the eager loop's value afterwards."""
    monkeypatch.setattr(mogrifier, "WORKSPACE_CACHE_BYTES", cache_bytes)
    monkeypatch.setattr(mogrifier, "_CACHE", threading.local())
    cell = RMLSTMCell(6, 4, rounds).double()
    for gate in cell.mogrifier:
        nn.init.normal_(gate.weight, std=0.5)
    params = list(cell.parameters())

    def reference(x):  # the eager loop's output and gradients (input first)
        out = cell.forward_sequence_eager(x)
        return out.detach(), torch.autograd.grad(out.sum(), [x, *params])

    inputs = [torch.randn(2, 5, 6, dtype=torch.double, requires_grad=True) for _ in range(3)]
    expected = [reference(x) for x in inputs]
    first, second = (mogrifier_lstm_sequence(cell, x) for x in inputs[:2])  # both graphs alive
    second_grads = torch.autograd.grad(second.sum(), [inputs[1], *params])
    first_grads = torch.autograd.grad(first.sum(), [inputs[0], *params])
    with torch.no_grad():
        inference = mogrifier_lstm_sequence(cell, inputs[2])
    third_grads = torch.autograd.grad(mogrifier_lstm_sequence(cell, inputs[2]).sum(), [inputs[2], *params])
    with torch.no_grad():
        mogrifier_lstm_sequence(cell, inputs[0])  # reuses whatever is cached
    for got, grads, (want, want_grads) in zip(
        (first, second, inference), (first_grads, second_grads, third_grads), expected
    ):
        torch.testing.assert_close(got.detach(), want, rtol=0, atol=1e-12)
        for got_grad, want_grad in zip(grads, want_grads):
            torch.testing.assert_close(got_grad, want_grad, rtol=0, atol=1e-12)
    cached = getattr(mogrifier._CACHE, "free", [])
    assert (len(cached) > 0) == (cache_bytes > 0)  # the cache was really used (or, at 0, never)


PACKINGS = {"onednn": mogrifier.ONEDNN_PACKING, "mkl": mogrifier.MKL_PACKING}


@pytest.mark.parametrize("gemm", ["onednn", "mkl"])
@pytest.mark.parametrize("rounds", [1, 2, 3, 4])
def test_packed_gemm_paths_match_eager_loop_in_float32(rounds, gemm, loops, monkeypatch):
    monkeypatch.setattr(mogrifier, "PACKED_GEMM", gemm)
    if mogrifier._packing(torch.zeros(1), 4, [torch.zeros(8, 20)]) != PACKINGS[gemm]:
        pytest.skip(f"no {gemm} packed GEMM in this PyTorch build")
    torch.manual_seed(0)
    cell = RMLSTMCell(20, 8, rounds)
    for gate in cell.mogrifier:
        nn.init.normal_(gate.weight, std=0.5)
    x = torch.randn(4, 7, 20, requires_grad=True)  # batch 4: MKL packs from MKL_PACKING_MIN_BATCH on
    weight = torch.randn(4, 7, 8)
    params = [x, *cell.parameters()]
    expected = cell.forward_sequence_eager(x)
    expected_grads = torch.autograd.grad((expected * weight).sum(), params)
    packs = []
    original = mogrifier._pack
    # record that the packed path really ran
    monkeypatch.setattr(
        mogrifier, "_pack", lambda w, batch, packing: packs.append(packing) or original(w, batch, packing)
    )
    got = mogrifier_lstm_sequence(cell, x)
    got_grads = torch.autograd.grad((got * weight).sum(), params)
    with torch.no_grad():
        inference = mogrifier_lstm_sequence(cell, x)
    assert packs == [PACKINGS[gemm]] * 3  # forward with saving, backward, inference
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(inference, expected, rtol=1e-5, atol=1e-6)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("gemm", ["onednn", "none"])
def test_linear_matches_functional_linear_forward_and_backward(gemm, monkeypatch):
    """`mogrifier.linear` (oneDNN for many rows) against `F.linear`, values and every gradient."""
    monkeypatch.setattr(mogrifier, "PACKED_GEMM", gemm)
    torch.manual_seed(0)
    x = torch.randn(6, 5, 11, requires_grad=True)
    weight = torch.randn(7, 11, requires_grad=True)
    bias = torch.randn(7, requires_grad=True)
    upstream = torch.randn(6, 5, 7)
    expected = nn.functional.linear(x, weight, bias)
    expected_grads = torch.autograd.grad((expected * upstream).sum(), [x, weight, bias])
    got = mogrifier.linear(x, weight, bias)
    got_grads = torch.autograd.grad((got * upstream).sum(), [x, weight, bias])
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    for got_grad, expected_grad in zip(got_grads, expected_grads):
        torch.testing.assert_close(got_grad, expected_grad, rtol=1e-5, atol=1e-5)
    projection = mogrifier.RMLSTMProjection(11, 7)  # an nn.Linear: same parameters, same state dict
    assert set(projection.state_dict()) == {"weight", "bias"}
    torch.testing.assert_close(
        projection(x), nn.functional.linear(x, projection.weight, projection.bias), rtol=1e-5, atol=1e-5
    )


def test_bidirectional_layer_reads_time_reversed():
    layer = RMLSTMLayer(6, 4, 2, bidirectional=True).double()
    x = torch.randn(2, 5, 6, dtype=torch.double)
    with torch.no_grad():
        out = layer(x)
        forward = layer.cells[0].forward_sequence_eager(x)
        backward = layer.cells[1].forward_sequence_eager(x.flip(1)).flip(1)
    torch.testing.assert_close(out, torch.cat([forward, backward], dim=-1), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "cell_type, bidirectional",
    [(cell, bi) for cell in ("rmlstm", "mlstm", "lstm", "gru") for bi in (False, True)] + [("mlp", False)],
)
def test_every_parameter_gets_a_gradient(cell_type, bidirectional):
    config = tester.get_config(cell_type=cell_type, bidirectional=bidirectional)
    model = RMLSTMForEmotionRecognition(config).train()
    inputs = tester.get_inputs(config)
    out = model(**inputs, labels=torch.tensor([0, 1, 2]), output_hidden_states=True)
    out.loss.backward()
    no_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not no_grad, no_grad
    encoder_size = config.hidden_size * (2 if bidirectional else 1)
    assert out.logits.shape == (3, 3) and out.fused_embeds.shape == (3, encoder_size)
    assert out.hidden_states[0].shape == (3, config.num_time_steps, config.fused_feature_size)
    assert len(out.hidden_states) == config.num_layers + 1
    if cell_type == "mlp":
        assert out.last_hidden_state is None
    else:
        assert out.last_hidden_state.shape == (3, config.num_time_steps, encoder_size)


def test_residual_connections_follow_cell_type():
    residual = RMLSTMModel(tester.get_config(cell_type="rmlstm")).encoder.residuals
    assert isinstance(residual[0], nn.Linear) and isinstance(residual[1], nn.Identity)
    assert RMLSTMModel(tester.get_config(cell_type="mlstm")).encoder.residuals is None
    assert RMLSTMModel(tester.get_config(cell_type="lstm")).encoder.residuals is None
    assert RMLSTMModel(tester.get_config(cell_type="gru", residual=True)).encoder.residuals is not None


def test_residual_adds_the_layer_input():
    config = tester.get_config(cell_type="rmlstm", dropout=0.0, num_layers=1, modalities=["video"])
    model = RMLSTMModel(config).eval()
    features = torch.randn(2, config.num_time_steps, config.frame_feature_dim)
    with torch.no_grad():
        out = model(frame_features=features).last_hidden_state
        layer = model.encoder.layers[0].cells[0].forward_sequence_eager(features)
        projection = model.encoder.residuals[0](features)
    torch.testing.assert_close(out, layer + projection, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("modalities", MODALITY_SUBSETS, ids=lambda m: "+".join(m))
def test_every_modality_subset_runs_and_ignores_the_others(modalities):
    config = tester.get_config(modalities=modalities)
    model = RMLSTMForEmotionRecognition(config).eval()
    inputs = tester.get_inputs(config)
    sizes = {"audio": 5, "video": 12, "text": 6}
    assert config.fused_feature_size == sum(sizes[m] for m in modalities)
    with torch.no_grad():
        logits = model(**inputs).logits
        names = {"audio": "input_features", "video": "frame_features", "text": "text_features"}
        only_selected = {names[m]: inputs[names[m]] for m in modalities}
        torch.testing.assert_close(model(**only_selected).logits, logits, rtol=0, atol=0)
    assert logits.shape == (3, 3) and torch.isfinite(logits).all()


@pytest.mark.parametrize("source, length", [(20, 7), (300, 90), (9, 3), (8, 8), (4, 7)])
def test_resample_time_averages_windows_like_adaptive_pooling(source, length):
    sequence = torch.randn(2, source, 5)
    got = resample_time(sequence, length)
    if source > length:
        expected = nn.functional.adaptive_avg_pool1d(sequence.transpose(1, 2), length).transpose(1, 2)
    else:  # lengthening: linear interpolation
        expected = nn.functional.interpolate(
            sequence.transpose(1, 2), size=length, mode="linear", align_corners=False
        ).transpose(1, 2)
    torch.testing.assert_close(got, expected)


def test_fusion_concatenates_resampled_modalities_per_step():
    config = tester.get_config(num_time_steps=4)
    model = RMLSTMModel(config).eval()
    mfcc = torch.arange(8.0).repeat(3, 5, 1)  # (3, 5, 8): 8 frames → 4 steps of 2-frame averages
    frames = torch.randn(3, 2, 12)  # 2 frames → 4 steps by linear interpolation
    text = torch.rand(3, 6)
    fused = model(input_features=mfcc, frame_features=frames, text_features=text, output_hidden_states=True)
    fused = fused.hidden_states[0]
    torch.testing.assert_close(fused[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5]))
    torch.testing.assert_close(fused[:, :, 5:17], resample_time(frames, 4))
    torch.testing.assert_close(fused[:, 0, 5:17], frames[:, 0])  # linear, align_corners=False: ends clamp
    torch.testing.assert_close(fused[:, :, 17:], text[:, None, :].expand(3, 4, 6))


def perturbed(model: nn.Module) -> nn.Module:
    """Move every weight off its initial value, so that a re-initialisation after loading would show."""
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


def test_save_and_load_round_trip_gives_identical_logits(tmp_path):
    config = tester.get_config(bidirectional=True)
    model = perturbed(RMLSTMForEmotionRecognition(config).eval())
    inputs = tester.get_inputs(config)
    model.save_pretrained(tmp_path)
    config_json = json.loads((tmp_path / "config.json").read_text())
    assert config_json["model_type"] == "rmlstm" and config_json["residual"] is True
    assert config_json["auto_map"]["AutoModelForAudioClassification"].endswith("RMLSTMForEmotionRecognition")
    reloaded = transformers.AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert type(reloaded) is RMLSTMForEmotionRecognition
    with torch.no_grad():
        torch.testing.assert_close(model(**inputs).logits, reloaded(**inputs).logits, rtol=0, atol=0)


def test_auto_classes_are_registered():
    config = transformers.AutoConfig.for_model("rmlstm", frame_encoder=None)
    assert isinstance(config, RMLSTMConfig) and hf_emotion.RMLSTMConfig is RMLSTMConfig
    assert isinstance(transformers.AutoModel.from_config(config), RMLSTMModel)
    assert isinstance(
        transformers.AutoModelForAudioClassification.from_config(config), RMLSTMForEmotionRecognition
    )


def test_trust_remote_code_round_trip_without_hf_emotion(tmp_path):
    config = tester.get_config()
    model = perturbed(RMLSTMForEmotionRecognition(config).eval())
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
        assert type(model).__name__ == "RMLSTMForEmotionRecognition"
        inputs = torch.load(path + "/inputs.pt", weights_only=True)
        with torch.no_grad():
            logits = model.eval()(**inputs).logits
        # float rounding only: this process may run other loops (TorchScript) than the test's (a C++ build)
        torch.testing.assert_close(logits, torch.load(path + "/expected.pt", weights_only=True), rtol=1e-5, atol=1e-6)
        print("OK")
        """
    )
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


def test_tiny_model_learns():
    config = tester.get_config(dropout=0.0, classifier_dropout=0.0)
    model = RMLSTMForEmotionRecognition(config).train()
    inputs = tester.get_inputs(config, batch_size=12)
    labels = torch.arange(12) % 3
    inputs["input_features"] += labels[:, None, None].float()  # a learnable cue in the audio
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = model(**inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_efficientnet_pixel_path_runs_and_trains_the_backbone():
    config = tester.get_config(
        frame_encoder="efficientnet_b0",
        frame_feature_dim=1280,
        image_size=32,
        num_frames=2,
        modalities=["video"],
    )
    model = RMLSTMForEmotionRecognition(config).train()
    pixels = torch.rand(2, 2, 3, 32, 32)
    out = model(pixel_values_videos=pixels, labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert out.logits.shape == (2, 3)
    backbone = model.rmlstm.frame_encoder.backbone
    assert all(p.grad is not None for p in backbone.parameters())
    with pytest.raises(ValueError, match="frame_feature_dim"):
        RMLSTMModel(tester.get_config(frame_encoder="efficientnet_b0", frame_feature_dim=512))


def test_backbone_checkpoint_path_loads_local_weights(tmp_path):
    import timm
    from safetensors.torch import save_file

    source = timm.create_model("efficientnet_b0", pretrained=False, num_classes=0)
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()  # distinct from any initialisation the model could apply
    path = tmp_path / "efficientnet_b0.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    config = tester.get_config(
        frame_encoder="efficientnet_b0",
        frame_feature_dim=1280,
        backbone_checkpoint_path=str(path),
        freeze_backbone=True,
        modalities=["video", "text"],
    )
    model = RMLSTMModel(config)
    loaded = model.frame_encoder.backbone.state_dict()
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(loaded[name], tensor, rtol=0, atol=0, msg=name)
    assert not any(p.requires_grad for p in model.frame_encoder.parameters())


def test_bad_inputs_give_clear_errors():
    config = tester.get_config()
    model = RMLSTMForEmotionRecognition(config).eval()
    inputs = tester.get_inputs(config)
    cases = [
        ({"input_features": None}, "includes 'audio'.*input_features"),
        ({"frame_features": None}, "includes 'video'"),
        ({"text_features": None}, "includes 'text'.*text_features"),
        ({"input_features": torch.randn(3, 5, 0)}, "zero frames"),
        ({"frame_features": torch.randn(3, 0, 12)}, "zero frames"),
        ({"frame_features": torch.randn(2, 4, 12)}, "batch size 2"),
        ({"text_features": torch.rand(4, 6)}, "batch size 4"),
        ({"input_features": torch.randn(3, 7, 20)}, "input_features"),
        ({"text_features": torch.rand(3, 9)}, "text_features"),
        ({"frame_features": torch.full((3, 4, 12), float("nan"))}, "NaN"),
        ({"labels": torch.tensor([0, 1, 5])}, "labels"),
        ({"input_features": torch.randn(0, 5, 20)}, "empty batch"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            model(**{**inputs, **change})
    with pytest.raises(ValueError, match="no frame encoder"):
        model(
            input_features=inputs["input_features"],
            pixel_values_videos=torch.rand(3, 2, 3, 8, 8),
            text_features=inputs["text_features"],
        )


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"cell_type": "transformer"}, "cell_type"),
        ({"mogrifier_rounds": -1}, "mogrifier_rounds"),
        ({"cell_type": "rmlstm", "residual": False}, "mlstm"),
        ({"cell_type": "mlstm", "residual": True}, "rmlstm"),
        ({"modalities": []}, "modalities"),
        ({"modalities": ["audio", "smell"]}, "modalities"),
        ({"hidden_size": 0}, "hidden_size"),
        ({"dropout": 1.0}, "dropout"),
        ({"pooling": "max"}, "pooling"),
        ({"backbone_pretrained": True}, "frame_encoder"),
        ({"video_normalization": "imagenet"}, "minmax"),
    ],
)
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        tester.get_config(**overrides)


def test_config_defaults_follow_the_paper():
    config = RMLSTMConfig()
    assert (
        config.modalities == ["audio", "video", "text"] and config.cell_type == "rmlstm" and config.residual
    )
    assert (config.mogrifier_rounds, config.hidden_size, config.num_layers) == (2, 256, 2)
    assert config.frame_encoder == "efficientnet_b0" and config.frame_feature_dim == 1280
    assert config.fused_feature_size == 40 + 1280 + 64
    assert config.num_labels == 8 and config.id2label[7] == "surprised"
    assert RMLSTMConfig(cell_type="lstm").residual is False


def test_last_pooling_reads_final_states():
    config = tester.get_config(pooling="last", bidirectional=True, dropout=0.0)
    model = RMLSTMModel(config).eval()
    inputs = tester.get_inputs(config)
    with torch.no_grad():
        out = model(**inputs)
    hidden = config.hidden_size
    torch.testing.assert_close(out.fused_embeds[:, :hidden], out.last_hidden_state[:, -1, :hidden])
    torch.testing.assert_close(out.fused_embeds[:, hidden:], out.last_hidden_state[:, 0, hidden:])
