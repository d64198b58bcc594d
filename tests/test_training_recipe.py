"""The training recipe: AdamW without decay on biases and norms, train-time augmentation and modality dropout on
training batches only, mixed precision from the Accelerate config, and bad settings refused up front."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState

from hf_emotion.data.augment import FeatureAugmenter
from hf_emotion.models.feature_extraction_emotion import EmotionFeatureExtractor
from hf_emotion.training import LoopArguments, build_config, build_model, parse_config_overrides, train_model
from hf_emotion.training.collate import apply_modality_dropout
from hf_emotion.training.loop import optimizer_parameter_groups

sys.path.insert(0, str(Path(__file__).parent))
from training_fixtures import LABELS, TINY_TUCKER, make_feature_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def tiny_tucker():
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    return build_model(config)


def loop_args(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=8, progress=False, logging_steps=1
    )
    return LoopArguments(**{**values, **overrides})


def test_adamw_decays_weights_but_not_biases_or_norm_parameters(tmp_path, monkeypatch):
    model = tiny_tucker()
    # reference: every parameter of a normalisation layer, and every bias, by name and module type
    norm_modules = [m for m in model.modules() if "Norm" in type(m).__name__]
    assert {type(m).__name__ for m in norm_modules} >= {"BatchNorm2d", "LayerNorm"}
    expected_free = {id(p) for m in norm_modules for p in m.parameters(recurse=False)}
    expected_free |= {id(p) for n, p in model.named_parameters() if "bias" in n.split(".")[-1]}
    assert any("bias_ih" in n for n, _ in model.named_parameters())  # the GRU's biases are named bias_ih/hh_*

    constructed = []
    real_adamw = torch.optim.AdamW

    def spy(params, *args, **kwargs):
        optimizer = real_adamw(params, *args, **kwargs)
        constructed.append(optimizer)
        return optimizer

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    train_model(
        model, make_feature_dataset(n_speakers=1), loop_args(tmp_path, max_steps=1, weight_decay=0.05)
    )
    (optimizer,) = constructed  # the loop's optimiser is AdamW (decoupled decay)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.05 for p in g["params"]}
    free = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.0 for p in g["params"]}
    assert free == expected_free
    assert decayed == {id(p) for p in model.parameters()} - expected_free
    assert optimizer_parameter_groups(model, 0.05)[0]["weight_decay"] == 0.05


def test_modality_dropout_zeroes_one_modality_per_clip_at_the_stated_rate():
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    n, p = 4000, 0.3
    batch = {
        "input_features": torch.ones(n, 3, 5),
        "frame_features": torch.ones(n, 2, 4),
        "labels": torch.zeros(n, dtype=torch.long),
    }
    out = apply_modality_dropout(batch, p, config, generator=torch.Generator().manual_seed(0))
    audio_off = (out["input_features"] == 0).flatten(1).all(1)
    video_off = (out["frame_features"] == 0).flatten(1).all(1)
    audio_on = (out["input_features"] == 1).flatten(1).all(1)
    video_on = (out["frame_features"] == 1).flatten(1).all(1)
    assert bool(((audio_off | audio_on) & (video_off | video_on)).all())  # whole inputs, never partial
    assert not bool((audio_off & video_off).any())  # never both
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(float((audio_off | video_off).float().mean()) - p) < 4 * sigma
    assert abs(float(audio_off.float().mean()) - p / 2) < 4 * math.sqrt(p / 2 * (1 - p / 2) / n)
    assert torch.equal(batch["input_features"], torch.ones(n, 3, 5))  # the caller's tensors are untouched
    again = apply_modality_dropout(batch, p, config, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again["input_features"], out["input_features"])  # seeded
    audio_only = build_config(
        "rmlstm", dict(enumerate(LABELS)), "paper", {"modalities": ["audio"], "frame_encoder": None}
    )
    assert apply_modality_dropout(batch, 1.0, audio_only) is batch  # a single modality is never dropped
    with pytest.raises(ValueError, match="--modality-dropout"):
        LoopArguments(modality_dropout=1.5)


def _recording_forward(monkeypatch, model_class):
    calls = []
    real_forward = model_class.forward

    def forward(self, *args, **kwargs):
        inputs = {k: v.detach().clone() for k, v in kwargs.items() if k.endswith("_features")}
        calls.append((self.training, inputs))
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(model_class, "forward", forward)
    return calls


def _rows(tensor: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in tensor}


def test_augmentation_and_modality_dropout_touch_training_batches_only(tmp_path, monkeypatch):
    data = make_feature_dataset(n_speakers=1)
    stored_audio = _rows(torch.as_tensor(np.asarray(data.with_format("numpy")["input_features"])))
    model = tiny_tucker()
    calls = _recording_forward(monkeypatch, type(model))
    args = loop_args(tmp_path, max_steps=3, modality_dropout=1.0)  # augment: default (on for tucker_av)
    train_model(model, data, args, eval_dataset=data, accelerator=Accelerator(cpu=True))
    training = [inputs for is_training, inputs in calls if is_training]
    evaluation = [inputs for is_training, inputs in calls if not is_training]
    assert len(training) == 3 and evaluation
    for inputs in training:  # probability 1: every clip lost exactly one of its two modalities
        audio_off = (inputs["input_features"] == 0).flatten(1).all(1)
        video_off = (inputs["frame_features"] == 0).flatten(1).all(1)
        assert bool((audio_off ^ video_off).all())
    kept_audio = torch.cat(
        [i["input_features"][(i["input_features"] != 0).flatten(1).any(1)] for i in training]
    )
    assert len(kept_audio) and not _rows(kept_audio) <= stored_audio  # the audio that was kept was augmented
    for inputs in evaluation:  # evaluation sees the stored features exactly
        assert _rows(inputs["input_features"]) <= stored_audio
        assert not bool((inputs["frame_features"] == 0).flatten(1).all(1).any())

    calls.clear()
    rmlstm = build_model(
        build_config(
            "rmlstm",
            dict(enumerate(LABELS)),
            "paper",
            {"modalities": ["audio"], "frame_encoder": None, "num_mfcc": 16, "hidden_size": 8},
        )
    )
    calls = _recording_forward(monkeypatch, type(rmlstm))
    train_model(rmlstm, data, loop_args(tmp_path / "r", max_steps=2), accelerator=Accelerator(cpu=True))
    assert all(
        _rows(i["input_features"]) <= stored_audio for _, i in calls
    )  # the RMLSTM paper does not augment


def _log_mel(extractor: EmotionFeatureExtractor, frequency: float) -> torch.Tensor:
    t = np.arange(extractor.clip_samples) / extractor.sampling_rate
    wave = (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return torch.as_tensor(extractor(wave, sampling_rate=extractor.sampling_rate)["input_features"][0])


def test_feature_augmentation_matches_the_waveform_operations():
    extractor = EmotionFeatureExtractor(num_mel_bins=64, num_frames=64)
    augmenter = FeatureAugmenter(extractor, seed=0)
    base = _log_mel(extractor, 1000.0)  # (mel, frames)
    # pitch shift: the shifted spectrogram peaks where a tone two semitones higher peaks
    shifted = augmenter.pitch_shift(base, 2).mean(1)
    higher = _log_mel(extractor, 1000.0 * 2 ** (2 / 12)).mean(1)
    assert int(shifted.argmax()) == int(higher.argmax()) != int(base.mean(1).argmax())
    assert torch.allclose(augmenter.pitch_shift(base, 0), base, atol=1e-3)
    # background noise at 10 dB: the added power is a tenth of the signal's mean power
    power = base.exp() - extractor.log_offset
    noisy = augmenter.add_noise(base, 10.0).exp() - extractor.log_offset
    assert abs(float((noisy - power).mean() / power.mean()) - 0.1) < 0.01
    # time stretch: rate 1 is the identity; a slower rate spreads a frame-axis ramp out around the centre
    ramp = torch.arange(64, dtype=torch.float32).repeat(3, 1)  # (3, frames)
    assert torch.allclose(augmenter.time_stretch(ramp, 1.0), ramp)
    slow = augmenter.time_stretch(ramp, 0.8)  # 80 frames, centre 64 kept: slope 63 / 79 per frame
    assert slow.shape == ramp.shape and torch.allclose(
        slow[0, 1:] - slow[0, :-1], torch.tensor(63 / 79), atol=1e-4
    )
    fast = augmenter.time_stretch(ramp, 1.25)  # 51 frames, edge-padded back to 64
    assert fast.shape == ramp.shape and fast[0, 0] == 0 and fast[0, -1] == 63
    mfcc = FeatureAugmenter(EmotionFeatureExtractor(feature_type="mfcc"), time_stretch_prob=0.0, seed=0)
    features = torch.randn(2, 40, 16)
    assert torch.equal(
        mfcc({"input_features": features})["input_features"], features
    )  # no pitch/noise on MFCC


def _example_main():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import train_accelerate
    finally:
        sys.path.pop(0)
    return train_accelerate.main


@pytest.fixture
def fresh_accelerate_state():
    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


def test_the_accelerate_configs_mixed_precision_reaches_the_accelerator(
    tmp_path, monkeypatch, fresh_accelerate_state
):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_simple_launcher_cmd_env

    config_file = tmp_path / "bf16.yaml"
    config_file.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: 'NO'\nnum_machines: 1\nnum_processes: 1\n"
        "mixed_precision: bf16\nuse_cpu: true\n"
    )
    launch = launch_command_parser().parse_args(["--config_file", str(config_file), "train_accelerate.py"])
    launch, _, _ = _validate_launch_command(launch)
    _, env = prepare_simple_launcher_cmd_env(launch)  # the environment `accelerate launch` gives the script
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    features = tmp_path / "features"
    make_feature_dataset(n_speakers=2, clips_per_label=1).save_to_disk(str(features))
    main = _example_main()
    common = ["--features_dir", str(features), "--preset", "paper", "--config_overrides", TINY_TUCKER]
    common += ["--n_folds", "2", "--max_steps", "1", "--progress", "false"]
    assert main([*common, "--output_dir", str(tmp_path / "from_config")]) == 0
    saved = json.loads((tmp_path / "from_config" / "history.json").read_text())
    assert saved["arguments"]["mixed_precision"] == "bf16"
    AcceleratorState._reset_state(True)
    assert main([*common, "--output_dir", str(tmp_path / "flag"), "--mixed-precision", "no"]) == 0
    saved = json.loads((tmp_path / "flag" / "history.json").read_text())
    assert saved["arguments"]["mixed_precision"] == "no"  # the command line wins over the config


def _cli(argv):
    from hf_emotion.cli import main

    try:
        return main(argv)
    except SystemExit as exit:  # argparse's own refusal
        return exit.code


def test_zero_epochs_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert (
        _cli(["train", "--epochs", "0", "--data-dir", str(tmp_path / "missing"), "--output-dir", str(out)])
        == 2
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--epochs" in error and "at least 1" in error
    assert not out.exists()  # refused before the output folder or the data were touched
    assert _cli(["demo", "--epochs", "0", "--output-dir", str(out), "--corpus-dir", str(tmp_path / "c")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--epochs" in error and "at least 1" in error and not (tmp_path / "c").exists()
    with pytest.raises(ValueError, match="--epochs must be at least 1"):  # the example script's dataclass
        _example_main()(["--num_train_epochs", "0", "--output_dir", str(out)])
    with pytest.raises(ValueError, match="--epochs must be at least 1"):  # and the loop's own arguments
        LoopArguments(num_train_epochs=0)


def test_cli_training_flags_reach_the_loop_arguments():
    import argparse

    from hf_emotion.cli.common import add_loop_arguments, loop_arguments

    parser = argparse.ArgumentParser()
    add_loop_arguments(parser)
    args = loop_arguments(parser.parse_args(["--modality-dropout", "0.25", "--no-augment"]), "out")
    assert (args.modality_dropout, args.augment, args.mixed_precision) == (0.25, False, None)
    args = loop_arguments(parser.parse_args(["--mixed-precision", "bf16", "--augment"]), "out")
    assert (args.modality_dropout, args.augment, args.mixed_precision) == (0.0, True, "bf16")
