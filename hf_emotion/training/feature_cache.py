"""The feature cache's plumbing: what a cache is keyed on, shards kept as the work goes, bad clips skipped.

- **Key.** A cache is valid for the exact files it was made from: every clip's path, label, size and
  modification time (:func:`file_signatures`) go into the corpus fingerprint, next to the processor settings and
  the package version (`hf_emotion.training.prepare.feature_settings`). A stale cache is rebuilt, and the log says
  what changed.
- **Shards.** Rows are prepared in shards of `shard_size` clips; each finished shard is saved at once under
  ``shards/<key>/`` (written aside, renamed in), so an interrupted preparation continues where it stopped.
- **Bad clips.** A clip that cannot be decoded is skipped and recorded as ``{"path", "reason"}``; ``strict``
  stops at the first one instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets, load_from_disk

from .run_folder import check_writable

logger = logging.getLogger(__name__)

SHARD_DONE = "shard_info.json"


def file_signatures(dataset: Dataset) -> dict[str, list[int]]:
    """``{path: [size, mtime_ns]}`` of every clip of a loaded corpus (``[-1, -1]`` for a missing file)."""
    signatures = {}
    for path in dataset["path"] if "path" in dataset.column_names else []:
        try:
            stat = os.stat(path)
            signatures[path] = [stat.st_size, stat.st_mtime_ns]
        except OSError:
            signatures[path] = [-1, -1]
    return signatures


def corpus_fingerprint(dataset: Dataset, signatures: dict[str, list[int]]) -> str:
    """A digest of every row's path, label, file size and modification time."""
    digest = hashlib.sha256()
    paths = dataset["path"] if "path" in dataset.column_names else [""] * len(dataset)
    for path, label in zip(paths, dataset["label"]):
        size, mtime = signatures.get(path, [-1, -1])
        digest.update(f"{path}\t{label}\t{size}\t{mtime}\n".encode())
    return digest.hexdigest()[:16]


def describe_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """What differs between a cache's ``prepare_info.json`` and the settings now (for the log)."""
    changed = sorted(
        k for k in set(old) | set(new) if k not in ("files", "corpus") and old.get(k) != new.get(k)
    )
    old_files, new_files = old.get("files", {}), new.get("files", {})
    parts = [f"settings {', '.join(changed)}"] if changed else []
    edited = [p for p in new_files if p in old_files and old_files[p] != new_files[p]]
    added = [p for p in new_files if p not in old_files]
    removed = [p for p in old_files if p not in new_files]
    for label, paths in (("changed", edited), ("new", added), ("removed", removed)):
        if paths:
            parts.append(f"{len(paths)} {label} files (e.g. {paths[0]})")
    if not parts and old.get("corpus") != new.get("corpus"):
        parts.append("the corpus rows (labels or order)")
    return "; ".join(parts) or "an older cache format"


def check_cache_writable(cache: Path) -> None:
    """Fail before any extraction when the cache folder cannot be written (a read-only corpus folder)."""
    check_writable(cache, "pass --cache-dir with a writable folder")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _prepare_skipping(
    part: Dataset, prepare: Callable[[Dataset], Dataset], strict: bool
) -> tuple[Dataset | None, list[dict[str, str]]]:
    """`prepare(part)`; when it fails, row by row, leaving out (and recording) the rows that fail."""
    try:
        return prepare(part), []
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:
        pass
    good, failures = [], []
    for index, path in enumerate(part["path"]):
        try:
            good.append(prepare(part.select([index])))
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as error:
            reason = f"{type(error).__name__}: {' '.join(str(error).split())[:600]}"
            if strict:
                raise ValueError(
                    f"{path} could not be prepared ({reason[:200]}); fix or remove it, or drop --strict to skip "
                    "unreadable clips."
                ) from error
            logger.warning("Skipping %s: %s", path, reason)
            failures.append({"path": path, "reason": reason})
    return (concatenate_datasets(good) if good else None), failures


def prepare_in_shards(
    dataset: Dataset,
    prepare: Callable[[Dataset], Dataset],
    signatures: dict[str, list[int]],
    settings_key: str,
    shard_dir: Path | None = None,
    shard_size: int = 64,
    strict: bool = False,
) -> tuple[Dataset, list[dict[str, str]]]:
    """`prepare` over `dataset` shard by shard, reusing shards already saved under `shard_dir`.

    Returns:
        `(features, skipped)`: the prepared rows that could be read, and ``{"path", "reason"}`` for the others.

    Raises:
        `ValueError` when no clip at all could be prepared, or at the first bad clip with `strict`.
    """
    parts, skipped = [], []
    paths = dataset["path"]
    for start in range(0, len(dataset), shard_size):
        rows = list(range(start, min(start + shard_size, len(dataset))))
        key = _digest([settings_key, [(paths[i], signatures.get(paths[i])) for i in rows]])
        folder = shard_dir / key if shard_dir is not None else None
        if folder is not None and (folder / SHARD_DONE).is_file():
            failures = json.loads((folder / SHARD_DONE).read_text())["skipped"]
            part = load_from_disk(str(folder / "features")) if (folder / "features").is_dir() else None
            logger.info("Reusing prepared shard %s (rows %d-%d)", folder, rows[0], rows[-1])
        else:
            part, failures = _prepare_skipping(dataset.select(rows), prepare, strict)
            if folder is not None:
                partial = folder.with_name(folder.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                partial.mkdir(parents=True)
                if part is not None:
                    part.save_to_disk(str(partial / "features"))
                (partial / SHARD_DONE).write_text(json.dumps({"rows": rows, "skipped": failures}))
                os.replace(partial, folder)
        skipped.extend(failures)
        if part is not None:
            parts.append(part)
    if not parts:
        examples = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
        raise ValueError(f"None of the {len(dataset)} clips could be prepared ({examples}).")
    return concatenate_datasets(parts), skipped
