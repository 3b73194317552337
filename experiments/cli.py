"""`vlmdata`: one entry point, one subcommand per stage.

Options are OmegaConf `key=value` overrides; `vlmdata <command> --help` lists each command's keys.
Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from configs.errors import UserError
from experiments.commands import analyze as analyze_commands
from experiments.commands import curate as curate_commands
from experiments.commands import data as data_commands
from experiments.commands import eval as eval_commands
from experiments.commands import experiments as experiment_commands
from experiments.commands import toyworld as toyworld_commands
from experiments.commands import train as train_commands

# Explicit list (no import magic): each module adds its subcommands with register(subparsers).
COMMAND_MODULES = [
    data_commands,
    toyworld_commands,
    curate_commands,
    analyze_commands,
    train_commands,
    eval_commands,
    experiment_commands,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmdata",
        description="Curate visual instruction-tuning data (ADR, COINCIDE, baselines), "
        "train LLaVA-1.5 on the subsets and score them with lmms-eval.",
        epilog="Options are key=value overrides of the command's config, e.g. "
        "`vlmdata toyworld make seed=3 pool_size=2000`.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        message = " ".join(str(exc).split("\n")).strip() or type(exc).__name__
        message += "".join(f" ({note})" for note in getattr(exc, "__notes__", ()))
        print(f"vlmdata: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "vlmdata: interrupted; finished outputs are kept, partial ones were discarded",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
