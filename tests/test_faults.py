"""Fault injection: a process killed mid-checkpoint, a full disk, read-only folders, truncated files.

Full disks and read-only folders are real small tmpfs mounts where the test runs as root with `mount`
available; elsewhere the same code path is driven by a writer patched to raise the operating system's error.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from safetensors.torch import load_file

from hf_emotion.cli import main
from hf_emotion.training import build_config, build_model, parse_config_overrides, train_model
from hf_emotion.training.checkpoints import CheckpointError, find_checkpoint

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))
from training_fixtures import LABELS, TINY_TUCKER, loop_args, make_feature_dataset  # noqa: E402


def tiny_model():
    config = build_config("tucker_av", dict(enumerate(LABELS)), "paper", parse_config_overrides(TINY_TUCKER))
    set_seed(0)
    return build_model(config)


def run(output_dir, **overrides):
    model = tiny_model()
    result = train_model(
        model, make_feature_dataset(), loop_args(output_dir, **overrides), accelerator=Accelerator(cpu=True)
    )
    return model, result


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", read_only: bool = False):
    """A small tmpfs at `path` (skip the test where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


# --- a process killed with SIGKILL in the middle of writing a checkpoint ------------------------------------

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from accelerate import Accelerator
    from safetensors.torch import save_file
    import test_faults

    output_dir, mode = sys.argv[1], sys.argv[2]
    if mode == "kill":  # die like `kill -9` halfway through the optimizer file of the step-6 checkpoint
        real_save = torch.save
        def save(obj, f, *args, **kwargs):
            real_save(obj, f, *args, **kwargs)
            if ".step_6" in str(f) and "optimizer" in str(f):
                with open(f, "r+b") as file:
                    file.truncate(os.path.getsize(f) // 2)
                os.kill(os.getpid(), signal.SIGKILL)
        torch.save = save
    resume = "latest" if mode == "resume" else None
    model, result = test_faults.run(output_dir, resume_from_checkpoint=resume)
    save_file({{k: v.contiguous() for k, v in model.state_dict().items()}}, os.path.join(output_dir, "final.safetensors"))
    """
)


def child(tmp_path: Path, output_dir: Path, mode: str) -> subprocess.CompletedProcess:
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, str(script), str(output_dir), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_kill_during_checkpoint_write_then_resume_is_bit_identical(tmp_path):
    full = child(tmp_path, tmp_path / "full", "full")
    assert full.returncode == 0, full.stderr[-2000:]
    killed = child(tmp_path, tmp_path / "run", "kill")
    assert killed.returncode == -9, killed.stderr[-2000:]
    checkpoints = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == [".step_6.partial", "step_2", "step_4"]
    assert find_checkpoint(tmp_path / "run", "latest").name == "step_4"
    resumed = child(tmp_path, tmp_path / "run", "resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "skips" in resumed.stderr and ".step_6.partial" in resumed.stderr  # said which it passed over
    expected = load_file(tmp_path / "full" / "final.safetensors")
    got = load_file(tmp_path / "run" / "final.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert sorted(p.name for p in checkpoints.iterdir()) == [f"step_{n}" for n in (10, 2, 4, 6, 8)]


# --- truncated checkpoint files, stray folders, rotation ----------------------------------------------------


def test_resume_skips_truncated_and_stray_checkpoints_and_names_the_file(tmp_path, caplog):
    _, stopped = run(tmp_path, max_steps_this_run=6)
    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(checkpoints / "step_2", checkpoints / "step_8_backup")  # a user's backup copy
    (checkpoints / ".step_8.partial").mkdir()  # a save that was interrupted
    weights = checkpoints / "step_6" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    with pytest.raises(CheckpointError, match="model.safetensors is truncated"):
        find_checkpoint(tmp_path, str(checkpoints / "step_6"))
    with caplog.at_level(logging.WARNING):
        assert find_checkpoint(tmp_path, "latest") == checkpoints / "step_4"
    logged = caplog.text
    assert "step_6/model.safetensors is truncated" in logged
    assert "step_8_backup: not named step_N" in logged and ".step_8.partial: a partial save" in logged
    _, result = run(tmp_path, resume_from_checkpoint="latest")
    assert result.global_step == 10


def test_truncated_file_not_covered_by_sizes_is_one_line(tmp_path):
    run(tmp_path, max_steps_this_run=2)
    step = tmp_path / "checkpoints" / "step_2"
    state = json.loads((step / "trainer_state.json").read_text())
    state["files"] = {}  # an older checkpoint without sizes: the loader itself meets the truncated file
    (step / "trainer_state.json").write_text(json.dumps(state))
    (step / "model.safetensors").write_bytes((step / "model.safetensors").read_bytes()[:64])
    with pytest.raises(CheckpointError, match="Cannot load the checkpoint .*step_2"):
        run(tmp_path, resume_from_checkpoint="latest")


def test_a_run_of_zero_steps_is_refused(tmp_path):
    with pytest.raises(ValueError, match="0 training steps"):
        run(tmp_path, max_steps=None, num_train_epochs=0)
    assert not (tmp_path / "checkpoints").exists()


def test_save_total_limit_keeps_the_newest(tmp_path):
    run(tmp_path, save_total_limit=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_10", "step_8"]


# --- full disk and read-only folders ---------------------------------------------------------------------


def _assert_one_line(message: str, *needles: str) -> None:
    assert "\n" not in message and len(message) < 400, message
    for needle in needles:
        assert needle in message, message


def test_full_disk_during_checkpoint_is_one_clear_line(tmp_path, monkeypatch):
    try:
        with tmpfs(tmp_path / "small", size="64k") as small:
            with pytest.raises(OSError) as info:
                run(small / "out")
            leftovers = list((small / "out" / "checkpoints").iterdir())
    except pytest.skip.Exception:  # no mount here: a writer that meets a full disk

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(torch, "save", full)
        with pytest.raises(OSError) as info:
            run(tmp_path / "out")
        leftovers = list((tmp_path / "out" / "checkpoints").iterdir())
    _assert_one_line(str(info.value), "No space left on device", "step_2", "free disk space")
    assert leftovers == []  # the partial save was removed, no step_N that looks complete


def test_read_only_output_and_cache_fail_before_any_work(tmp_path, monkeypatch, capsys):
    from hf_emotion.training import prepare

    calls = []
    monkeypatch.setattr(prepare, "prepare_features", lambda *a, **k: calls.append(1))
    with tmpfs(tmp_path / "ro", size="64k", read_only=True) as read_only:
        with pytest.raises(OSError) as info:
            run(read_only / "out")
        _assert_one_line(str(info.value), "Read-only file system")
        dataset = make_feature_dataset().select_columns(["label", "path"])
        config = build_config("tucker_av", dict(enumerate(LABELS)), "demo", {})
        with pytest.raises(OSError) as info:
            prepare.load_or_prepare(dataset, config, cache_dir=read_only / "cache")
        _assert_one_line(str(info.value), "Cannot write in", "--cache-dir")
        assert calls == []  # failed before extracting anything
        code = main(["train", "--features-dir", str(tmp_path / "f"), "--output-dir", str(read_only / "o")])
        assert code == 2
        _assert_one_line(capsys.readouterr().err.strip(), "error:", "Read-only file system", "writable")
