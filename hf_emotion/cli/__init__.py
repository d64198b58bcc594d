"""The `hf-emotion` command line: ``hf-emotion <command> --help``.

Commands live in their own modules, each with a ``register(subparsers)`` function that adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status). To add a command, write such a
module and append it to :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import traceback

# The commands need the `[train]` extra (Accelerate, matplotlib); without it, `hf-emotion` says so in one line.
EXTRA_PACKAGES = {"accelerate": "train", "matplotlib": "plots"}
try:
    from . import corpus, cross_validate, demo, evaluate, inference, robustness, train
except ModuleNotFoundError as _error:
    if _error.name not in EXTRA_PACKAGES:
        raise
    MISSING_EXTRA: str | None = f"{_error.name} (pip install 'hf_emotion[{EXTRA_PACKAGES[_error.name]}]')"
    COMMAND_MODULES: list = []
else:
    MISSING_EXTRA = None
    COMMAND_MODULES = [corpus, train, evaluate, cross_validate, demo, inference, robustness]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hf-emotion",
        description="Multimodal emotion recognition: make the synthetic corpus, train, evaluate, cross-validate, "
        "or run the demo (hf-emotion demo --output-dir demo_output).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="show INFO logs of the library")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    if MISSING_EXTRA is not None:
        print(f"error: the hf-emotion commands need {MISSING_EXTRA}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:  # bad user input, unreadable/unwritable files, no network
        if args.verbose:
            traceback.print_exc()
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2


FIXES = {
    errno.ENOSPC: "free disk space or choose a folder on another disk",
    errno.EACCES: "choose a folder you can write to (or fix its permissions)",
    errno.EROFS: "the file system is read-only; choose a writable folder",
    errno.ELOOP: "a symbolic link points to itself; fix or remove the link",
}


def one_line(error: BaseException, limit: int = 400) -> str:
    """The error as one line of at most `limit` characters, with the fix for common OS errors."""
    message = " ".join(str(error).split())
    code = getattr(error, "errno", None)
    if isinstance(error, OSError) and code in FIXES and FIXES[code] not in message:
        filename = getattr(error, "filename", None)
        if filename and str(filename) not in message:
            message = f"{message}: {filename}"
        message = f"{message}; {FIXES[code]}"
    if isinstance(error, OSError) and type(error).__module__.startswith(
        ("requests", "urllib3", "huggingface_hub")
    ):
        message = f"network or Hub error ({type(error).__name__}): {message}"
    if len(message) > limit:  # keep the start (what failed) and the end (the fix)
        half = (limit - 40) // 2
        message = f"{message[:half].rstrip()} ... {message[-half:].lstrip()} (-v: the full message)"
    return message


if __name__ == "__main__":
    sys.exit(main())
