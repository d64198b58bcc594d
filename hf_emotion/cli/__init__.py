"""The `hf-emotion` command line: ``hf-emotion <command> --help``.

Commands live in their own modules, each with a ``register(subparsers)`` function that adds its parser and
sets ``func`` (called with the parsed arguments, returns the exit status). To add a command, write such a
module and append it to :data:`COMMAND_MODULES`.
"""

from __future__ import annotations

import argparse
import logging
import sys

from . import corpus, cross_validate, demo, evaluate, inference, robustness, train

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
    except (ValueError, FileNotFoundError) as error:
        message = " ".join(str(error).split())  # one line
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
