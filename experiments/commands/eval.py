"""`vlmdata eval checkpoint=DIR suite=NAME`: score an exported checkpoint with lmms-eval."""

from __future__ import annotations

import argparse

from evaluation.suites import eval_config, suite_names
from experiments.commands import add_command, add_force, add_overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "eval",
        _eval,
        help="score an exported checkpoint on a benchmark suite (lmms-eval)",
        description="Run every task of a suite (configs/evaluation/<suite>.yaml) through "
        "lmms-eval on an HF LLaVA checkpoint directory, then write <out_dir>/scores.json "
        "(primary metric per task with its binomial SE, head/tail where reported), scores.md "
        "and lmms-eval's results and samples. Finished tasks of an earlier run with the same "
        "inputs are kept.",
        keys=f"keys: checkpoint=DIR (required)  suite={'|'.join(suite_names()) or 'NAME'}  "
        "limit=N  only=[task,...]  data_root=DIR (local data; ToyWorld: the world)  "
        "out_dir=DIR  judge=none|api  reference=SCORES_JSON_OR_RUN_DIR  resume=true|false  "
        "blind=true|false (a control: every image grey; default out_dir <suite>-blind)  "
        "gen_kwargs=k=v,...  model.device=cpu|cuda:0  model.dtype=float32|bfloat16|float16  "
        "model.batch_size=N  model.threads=N  wandb.mode=offline|online|disabled",
    )
    add_force(
        parser,
        "discard out_dir's run of another checkpoint or config, or write into an "
        "out_dir of other files (never /, the home directory or a folder holding an input)",
    )
    add_overrides(parser)


def _eval(args: argparse.Namespace) -> int:
    from evaluation.run import run_eval  # lmms-eval loads only when evaluating

    result = run_eval(eval_config(args.overrides), force=args.force)
    print((result.run_dir / "scores.md").read_text(encoding="utf-8"), end="")
    kept = f"; kept {len(result.reused)} finished task(s)" if result.reused else ""
    print(f"\nscores: {result.run_dir / 'scores.json'} ({len(result.evaluated)} task(s) run{kept})")
    return 0
