"""The Accelerate loop: two CPU processes stay in sync, exact resume, guard rails, frozen-backbone training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import ClassLabel
from safetensors.torch import load_file

from hf_emotion.training import LoopArguments, build_config, build_model, parse_config_overrides, train_model

sys.path.insert(0, str(Path(__file__).parent))
from training_fixtures import LABELS, TINY_TUCKER, loop_args, make_feature_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(seed: int = 0):
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    set_seed(seed)
    return build_model(config)


def run(output_dir, **overrides):
    args = loop_args(output_dir, **{"checkpointing_steps": 4, **overrides})
    model = tiny_model()
    result = train_model(model, make_feature_dataset(), args, accelerator=Accelerator(cpu=True))
    return model, result


def test_resume_from_mid_epoch_checkpoint_matches_uninterrupted_run(tmp_path):
    # 64 rows / batch 8 = 8 steps per epoch: the checkpoint at step 4 is in the middle of epoch 0.
    full, _ = run(tmp_path / "full")
    _, stopped = run(tmp_path / "interrupted", max_steps_this_run=6)
    assert stopped.stopped_early and stopped.global_step == 6
    assert (tmp_path / "interrupted" / "checkpoints" / "step_4" / "model.safetensors").is_file()
    resumed, result = run(tmp_path / "interrupted", resume_from_checkpoint="latest")  # continues from step 4
    assert result.global_step == 10
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    # and the weights really moved away from the initialisation
    assert not torch.equal(tiny_model().classifier.weight, full.classifier.weight)


def test_resume_with_changed_settings_is_refused(tmp_path):
    run(tmp_path, max_steps_this_run=4)
    with pytest.raises(ValueError, match="changed .*learning_rate"):
        run(tmp_path, resume_from_checkpoint="latest", learning_rate=1e-2)


def test_nan_loss_stops_with_the_step(tmp_path):
    model = tiny_model()
    calls = {"n": 0}

    def poison(module, inputs, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] == 3 else output

    model.classifier.register_forward_hook(poison)
    args = LoopArguments(output_dir=str(tmp_path), max_steps=5, per_device_train_batch_size=8, progress=False)
    with pytest.raises(ValueError, match="at step 3"):
        train_model(model, make_feature_dataset(), args, accelerator=Accelerator(cpu=True))


def test_label_mismatch_and_empty_split_are_clear_errors(tmp_path):
    args = LoopArguments(output_dir=str(tmp_path), max_steps=1, progress=False)
    other = make_feature_dataset().cast_column("label", ClassLabel(names=["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="do not match"):
        train_model(tiny_model(), other, args)
    with pytest.raises(ValueError, match="missing or empty"):
        train_model(tiny_model(), make_feature_dataset().select([]), args)


def test_the_loop_learns_the_signal(tmp_path):
    data = make_feature_dataset(n_speakers=4)
    train, test = data.filter(lambda r: r["speaker"] != "04"), data.filter(lambda r: r["speaker"] == "04")
    args = LoopArguments(
        output_dir=str(tmp_path),
        num_train_epochs=20,
        per_device_train_batch_size=8,
        learning_rate=5e-3,
        progress=False,
    )  # with the default train-time augmentation and AdamW
    result = train_model(tiny_model(), train, args, eval_dataset=test, accelerator=Accelerator(cpu=True))
    losses = [e["loss"] for e in result.history if "loss" in e]
    assert losses[-1] < 0.7 * losses[0]
    assert result.eval_metrics["accuracy"] >= 0.75  # chance is 0.25


@pytest.mark.slow
def test_two_cpu_processes_end_with_identical_weights_and_falling_loss(tmp_path):
    make_feature_dataset().save_to_disk(str(tmp_path / "features"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [
        str(Path(sys.executable).with_name("accelerate")),
        "launch",
        "--config_file",
        str(ROOT / "examples/accelerate_configs/cpu_2proc.yaml"),
        "--main_process_port",
        "29541",
        str(ROOT / "examples/train_accelerate.py"),
        "--features_dir",
        str(tmp_path / "features"),
        "--preset",
        "paper",
        "--config_overrides",
        TINY_TUCKER,
        "--n_folds",
        "2",
        "--output_dir",
        str(tmp_path / "run"),
        "--max_steps",
        "30",
        "--learning_rate",
        "1e-2",
        "--per_device_train_batch_size",
        "4",
        "--logging_steps",
        "5",
        "--progress",
        "false",
        "--save_rank_weights",
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = load_file(tmp_path / "run/rank_weights/rank0.safetensors")
    rank1 = load_file(tmp_path / "run/rank_weights/rank1.safetensors")
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    initial = tiny_model().state_dict()
    assert not torch.equal(initial["classifier.weight"], rank0["classifier.weight"])
    losses = [
        e["loss"] for e in json.loads((tmp_path / "run/history.json").read_text())["history"] if "loss" in e
    ]
    assert losses[-1] < losses[0] - 0.05
    assert (tmp_path / "run/model/config.json").is_file()


@pytest.mark.slow
def test_trainer_script_runs_a_few_steps_with_package_metrics(tmp_path):
    make_feature_dataset().save_to_disk(str(tmp_path / "features"))
    command = [
        sys.executable,
        str(ROOT / "examples/train_trainer.py"),
        "--features_dir",
        str(tmp_path / "features"),
        "--preset",
        "paper",
        "--config_overrides",
        TINY_TUCKER,
        "--n_folds",
        "2",
        "--output_dir",
        str(tmp_path / "run"),
        "--max_steps",
        "3",
        "--per_device_train_batch_size",
        "8",
        "--report_to",
        "none",
        "--use_cpu",
        "--save_strategy",
        "no",
        "--disable_tqdm",
        "true",
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((tmp_path / "run/eval_metrics.json").read_text())
    assert {"eval_accuracy", "eval_uar", "eval_macro_f1", "eval_mcc", "eval_f1_sad"} <= set(metrics)
    assert (tmp_path / "run/model.safetensors").is_file() and (
        tmp_path / "run/processor_config.json"
    ).is_file()
