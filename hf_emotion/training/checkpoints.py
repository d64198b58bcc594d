"""Checkpoints of the training loop: atomic, verifiable, rotated.

A checkpoint ``checkpoints/step_N/`` is written as ``checkpoints/.step_N.partial/`` (`accelerator.save_state`
with safetensors weights), then ``trainer_state.json`` (the state a resume checks, plus the size of every file
of the checkpoint) is written last, and the folder is renamed to ``step_N``: a process killed mid-save leaves
only a ``.partial`` folder, never a ``step_N`` that looks complete. Resume takes the newest complete checkpoint
and logs every folder it passed over and why (a partial save, a truncated file, a name like ``step_8_backup``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

from accelerate import Accelerator

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.json"
CHECKPOINT_NAME = re.compile(r"^step_(\d+)$")


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (incomplete, truncated, or written by other settings)."""


def _file_sizes(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != STATE_FILE
    }


def checkpoint_problem(path: Path) -> str | None:
    """Why `path` is not a complete checkpoint of this loop, or ``None`` when it is."""
    state_file = path / STATE_FILE
    if not state_file.is_file():
        return f"no {STATE_FILE} (an interrupted save)"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError) as error:
        return f"{state_file} is unreadable ({type(error).__name__}: {error})"
    for name, size in state.get("files", {}).items():
        file = path / name
        if not file.is_file():
            return f"{file} is missing"
        if file.stat().st_size != size:
            return f"{file} is truncated ({file.stat().st_size} of {size} bytes)"
    return None


def list_checkpoints(folder: str | Path, log: bool = True) -> list[tuple[int, Path]]:
    """The complete checkpoints under `folder` (``checkpoints/``), oldest first; every other entry is logged."""
    folder = Path(folder)
    found = []
    for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = CHECKPOINT_NAME.match(entry.name)
        if not match or not entry.is_dir():
            reason = "a partial save" if entry.name.endswith(".partial") else "not named step_N"
            if log:
                logger.warning("Resume skips %s: %s.", entry, reason)
            continue
        problem = checkpoint_problem(entry)
        if problem is not None:
            if log:
                logger.warning("Resume skips %s: %s.", entry, problem)
            continue
        found.append((int(match.group(1)), entry))
    return sorted(found)


def find_checkpoint(output_dir: str | Path, resume_from_checkpoint: str) -> Path:
    """Resolve ``"latest"`` (the newest complete ``checkpoints/step_N`` under `output_dir`) or a checkpoint folder.

    Raises:
        `FileNotFoundError` when there is none; `CheckpointError` naming the file for an incomplete one.
    """
    if resume_from_checkpoint == "latest":
        folder = Path(output_dir) / "checkpoints"
        complete = list_checkpoints(folder)
        if not complete:
            raise FileNotFoundError(f"No complete checkpoint to resume from under {folder}.")
        return complete[-1][1]
    path = Path(resume_from_checkpoint)
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint of this loop (no {STATE_FILE} inside).")
    problem = checkpoint_problem(path)
    if problem is not None:
        raise CheckpointError(f"Cannot resume from {path}: {problem}. Resume from an earlier checkpoint.")
    return path


def _nearly_full(folder: Path) -> bool:
    """Whether the file system holding `folder` has (almost) no space left."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def _one_line_os_error(error: BaseException, path: Path) -> OSError:
    """A write failure as one line with its cause and fix. torch's zip writer reports a full disk as a
    `RuntimeError` ("iostream error", "failed writing file"), so the free space decides those."""
    code = getattr(error, "errno", None)
    if code is None and _nearly_full(path.parent):
        code = errno.ENOSPC
    reason = os.strerror(code) if code else f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    fix = (
        "free disk space, raise --checkpointing-steps or set --save-total-limit"
        if code == errno.ENOSPC
        else "choose a writable --output-dir"
    )
    return OSError(code or errno.EIO, f"Could not write the checkpoint {path} ({reason}); {fix}")


def save_checkpoint(
    accelerator: Accelerator,
    output_dir: str | Path,
    step: int,
    expected: dict,
    history,
    save_total_limit: int | None = None,
) -> Path:
    """Write ``checkpoints/step_{step}`` atomically (see the module docstring) and keep the newest
    `save_total_limit` complete checkpoints. A full disk or an unwritable folder is a one-line `OSError`."""
    folder = Path(output_dir) / "checkpoints"
    final = folder / f"step_{step}"
    partial = folder / f".step_{step}.partial"
    try:
        if accelerator.is_main_process:
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".step_*.partial"):  # saves of a killed run
                shutil.rmtree(stale)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial), safe_serialization=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            state = {
                "global_step": step,
                **expected,
                "history": history,
                "digest": _digest(expected),
                "files": _file_sizes(partial),
            }
            (partial / STATE_FILE).write_text(json.dumps(state, indent=1))
            if final.exists():
                shutil.rmtree(final)
            os.replace(partial, final)
    except (OSError, RuntimeError) as error:
        failure = _one_line_os_error(error, final)  # before the clean-up frees the space again
        if accelerator.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)
        raise failure from error
    accelerator.wait_for_everyone()
    if save_total_limit and accelerator.is_main_process:
        for _, old in list_checkpoints(folder, log=False)[:-save_total_limit]:
            shutil.rmtree(old)
            logger.info("Removed %s (--save-total-limit %d)", old, save_total_limit)
    return final
