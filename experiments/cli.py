"""`vlmdata`: one entry point, one subcommand per stage.

Options are OmegaConf `key=value` overrides; `vlmdata <command> --help` lists each command's keys.
Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from configs.compose import CONFIG_PATH_ENV, search_path_value
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
        "`vlmdata toyworld make seed=3 pool_size=2000`. Configs are looked up in the "
        f"--config-dir folders, then in ${CONFIG_PATH_ENV} (os.pathsep-separated), then in "
        "the package's configs/.",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of your own configs, laid out as configs/ (data/, curation/, training/, "
        "evaluation/, experiment/, sweep/, cluster/; task YAMLs in tasks/), searched before "
        "the package's; repeatable, the first wins; give it before the command",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    before = os.environ.get(CONFIG_PATH_ENV)
    try:
        # before the parser is built: its --help texts list the choices of the user's folders
        os.environ[CONFIG_PATH_ENV] = search_path_value(config_dirs_given(argv))
        args = build_parser().parse_args(argv)
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
    finally:
        if before is None:
            os.environ.pop(CONFIG_PATH_ENV, None)
        else:
            os.environ[CONFIG_PATH_ENV] = before


def config_dirs_given(argv: list[str]) -> list[str]:
    """The --config-dir values among the options before the command."""
    dirs, rest = [], iter(argv)
    for token in rest:
        if not token.startswith("-"):
            break  # the command: its own options follow
        if token == "--config-dir":
            dirs.append(next(rest, ""))
        elif token.startswith("--config-dir="):
            dirs.append(token.split("=", 1)[1])
    return dirs


if __name__ == "__main__":
    sys.exit(main())
