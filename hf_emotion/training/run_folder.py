"""Output folders that never cost the user what they had: checked against the inputs, written aside, swapped in.

:func:`safe_output_dir` is the one way a command writes a run folder (train, cross-validate, demo):

1. the folder may not be, contain, or lie inside any input folder (corpus, features, cache, model): a
   ``--output-dir`` equal to ``--data-dir`` is refused before anything is touched;
2. a non-empty folder needs ``overwrite`` (or ``resume``);
3. the run writes into a sibling staging folder ``.NAME.partial``; only when the run succeeded is the old folder
   renamed aside, the new one renamed in, and the old one removed. A failed run leaves the old folder as it was
   (and its staging folder when it holds checkpoints, so that ``--resume`` can continue it).

:func:`atomic_write_text` is the same idea for one file (write a temporary sibling, `os.replace` it in).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from hf_emotion.data.loading import check_exists

logger = logging.getLogger(__name__)

STAGING_SUFFIX = ".partial"


def staging_path(path: str | Path) -> Path:
    """Where a run for the output folder `path` is written until it succeeds (a hidden sibling)."""
    path = Path(path)
    return path.with_name(f".{path.name}{STAGING_SUFFIX}")


def resolve_existing(path: str | Path, what: str = "path") -> Path:
    """`path` made absolute with its symbolic links resolved; a symlink loop is a one-line `OSError`."""
    try:
        return Path(os.path.realpath(Path(path).expanduser(), strict=False))
    except (OSError, RuntimeError) as error:  # RuntimeError: pathlib's loop detection on older Pythons
        raise OSError(
            errno.ELOOP,
            f"The {what} {path} is a symbolic link loop; point the link at a real folder or pass another path",
        ) from error


def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_separate_from_inputs(output: str | Path, inputs: Iterable[str | Path | None]) -> None:
    """Refuse an output folder that is, contains or lies inside one of the `inputs` (``None`` entries ignored)."""
    target = resolve_existing(output, "output folder")
    for source in inputs:
        if source is None:
            continue
        if os.path.islink(source) and not os.path.exists(source):
            check_exists(source, "input", "fix or remove the link")  # a loop or a link to nowhere
        folder = resolve_existing(source, "input")
        if _is_within(target, folder) or _is_within(folder, target):
            relation = (
                "is" if target == folder else ("lies inside" if _is_within(target, folder) else "contains")
            )
            raise ValueError(
                f"The output folder {output} {relation} the input {source}; writing there could delete or mix "
                "with the input. Choose an output folder outside every input folder."
            )


def check_writable(folder: Path, fix: str = "choose a writable --output-dir") -> None:
    """Create `folder` and write a probe file in it; a one-line `OSError` naming the folder and `fix` if not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".hf_emotion_write_probe_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OSError(error.errno, f"Cannot write in {folder} ({error.strerror or error}); {fix}") from error


def check_output_dir(path: str | Path, may_replace: bool, inputs: Iterable[str | Path | None]) -> Path:
    """The checks every output folder passes before a run starts (see :func:`safe_output_dir`)."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"The output path {path} is a file, not a folder; choose a folder.")
    check_separate_from_inputs(path, inputs)
    if path.is_dir() and any(path.iterdir()) and not may_replace:
        raise ValueError(
            f"The output folder {path} already exists and is not empty; pass --overwrite to replace it "
            "(or choose another folder)."
        )
    check_writable(path.parent)
    return path


def _link_or_copy_tree(source: Path, target: Path) -> None:
    """Hard-link the files of `source` into `target` (copy where links are not possible). Checkpoint files are
    never rewritten in place (written aside and renamed), so sharing their inodes is safe."""

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)


def _swap_in(staging: Path, final: Path) -> None:
    """Replace `final` by `staging`: old renamed aside, new renamed in, then the old one removed."""
    old = final.with_name(f".{final.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(staging, final)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def safe_output_dir(
    path: str | Path,
    overwrite: bool = False,
    resume: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> Iterator[Path]:
    """Check `path` and yield the staging folder to write the run into; swap it in when the block succeeds.

    Args:
        path (`str` or `Path`): the output folder the user asked for.
        overwrite (`bool`): allow replacing a non-empty folder (replaced only once the new run is complete).
        resume (`bool`): the run continues a checkpointed one: the staging folder of an interrupted run is
            reused, or the finished folder's ``checkpoints/`` are linked into a new one.
        inputs: every folder the run reads (corpus, features, cache, model); `path` must be separate from all.

    Raises:
        `ValueError` for a file in the way, an overlap with an input, or a non-empty folder without `overwrite`;
        `OSError` (one line) for a folder that cannot be written.
    """
    final = check_output_dir(path, overwrite or resume, inputs)
    staging = staging_path(final)
    if staging.exists() and not resume:  # a previous failed run's leftovers (ours: the hidden staging name)
        logger.warning("Removing %s, left by a failed run (pass --resume to continue it instead).", staging)
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    if resume and not (staging / "checkpoints").is_dir() and (final / "checkpoints").is_dir():
        _link_or_copy_tree(final / "checkpoints", staging / "checkpoints")
    try:
        yield staging
    except BaseException:
        if (staging / "checkpoints").is_dir() and any((staging / "checkpoints").iterdir()):
            logger.warning("The run failed; its checkpoints are kept in %s for --resume.", staging)
        else:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, final)


def prepare_output_dir(
    path: str | Path,
    overwrite: bool = False,
    resuming: bool = False,
    inputs: Iterable[str | Path | None] = (),
) -> Path:
    """Check and create `path` for scripts that write in place (several processes share the folder).

    The same checks as :func:`safe_output_dir` (separate from the inputs, non-empty only with `overwrite` or
    `resuming`), but nothing is deleted: files of the new run replace same-named ones as they are written.
    """
    path = check_output_dir(path, overwrite or resuming, inputs)
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` to a temporary sibling of `path` and rename it into place (never a half-written file)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
    return path
