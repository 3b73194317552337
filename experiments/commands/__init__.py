"""CLI subcommands, one module per stage."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    handler: Callable[[argparse.Namespace], int | None],
    help: str,
    description: str,
    keys: str = "",
) -> argparse.ArgumentParser:
    """A subcommand that takes `key=value` overrides; `keys` documents them in --help."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        epilog=keys or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler)
    return parser


def add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides (OmegaConf dot-list syntax)",
    )


def add_force(parser: argparse.ArgumentParser, help: str) -> None:
    """--force: write an out_dir the command does not recognise as its own (see
    curation.data.outdir)."""
    parser.add_argument("--force", action="store_true", help=help)
