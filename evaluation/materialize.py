"""Per-run lmms-eval task YAMLs: the real task definition, pointed at this run's data.

Every task of a run gets a small YAML in <run>/tasks/ that includes the task's own YAML
(lmms-eval's built-in one or ours) and changes only what the run needs:
  - a name of its own (`vlmdata_<task>` for built-ins: a local task may not reuse a built-in
    name, the built-in would win);
  - with `data_root`: the data as local parquet files instead of the hub;
  - with judge=fallback and no judge: the judge-free aggregation of the primary metric.
Prompts, generation settings and scoring code stay the benchmark's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from configs.errors import InputNotFoundError
from curation.data.fileio import atomic_write_text
from evaluation.config import EvalConfig, TaskSpec
from evaluation.errors import EvalError
from evaluation.suites import task_yaml

BUILTIN_PREFIX = "vlmdata_"


@dataclass(frozen=True)
class RunTask:
    spec: TaskSpec
    lmms_name: str  # the name lmms-eval runs it under
    yaml_path: Path
    predict_only: bool  # a judged task without a judge: answers are kept, nothing is scored
    data_files: str  # the local files (glob), or "" for the hub
    note: str


def materialize(cfg: EvalConfig, tasks: list[TaskSpec], out_dir: Path) -> list[RunTask]:
    return [materialize_task(cfg, spec, out_dir) for spec in tasks]


def materialize_task(cfg: EvalConfig, spec: TaskSpec, out_dir: Path) -> RunTask:
    base = task_yaml(spec)
    lmms_name = spec.name if spec.yaml else BUILTIN_PREFIX + spec.name
    lines = [
        f"# {spec.name} for this run; the definition is {base}",
        f"include: {json.dumps(str(base))}",
        f"task: {json.dumps(lmms_name)}",
    ]
    data_files, notes = "", []
    if cfg.data_root:
        split = read_task_yaml(base).get("test_split")
        if not split:
            raise EvalError(f"task '{spec.name}': its YAML {base} names no test_split")
        data_files = local_data_files(cfg.data_root, spec, str(split))
        lines += [
            "dataset_path: parquet",
            "dataset_name: null",
            f"dataset_kwargs: {json.dumps({'data_files': {split: data_files}})}",
        ]
        if spec.local_process_docs:
            lines.append(f"process_docs: !function {spec.local_process_docs}")
    predict_only = spec.judge == "always" and cfg.judge == "none"
    if predict_only:
        notes.append("LLM-judged: no judge configured (judge=none), answers kept, not scored")
    if spec.judge == "fallback" and cfg.judge == "none":
        lines += [
            "metric_list:",
            f"  - metric: {json.dumps(spec.metric)}",
            f"    aggregation: !function {spec.static_aggregation}",
            f"    higher_is_better: {json.dumps(spec.higher_is_better)}",
        ]
        notes.append("scored without a judge (rule-based option extraction)")
    path = out_dir / f"{lmms_name}.yaml"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return RunTask(spec, lmms_name, path, predict_only, data_files, "; ".join(notes))


def local_data_files(data_root: str, spec: TaskSpec, split: str) -> str:
    """<data_root>/<spec.data_files>, checked to match at least one file."""
    root = Path(data_root).expanduser().resolve()
    if not root.is_dir():
        raise InputNotFoundError(f"data_root is not a directory: {root} (config key 'data_root')")
    pattern = spec.data_files.format(task=spec.name, split=split)
    if not any(root.glob(pattern)):
        raise InputNotFoundError(
            f"task '{spec.name}': no local data at {root / pattern} (config key 'data_root')"
        )
    return str(root / pattern)


class _IgnoreFunctions(yaml.SafeLoader):
    """Reads task YAMLs without importing the code their `!function` tags name."""


_IgnoreFunctions.add_constructor("!function", lambda loader, node: None)


def read_task_yaml(path: Path) -> dict[str, Any]:
    """A task YAML with its `include`s merged as lmms-eval merges them (own keys win)."""
    with open(path, encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=_IgnoreFunctions) or {}
    includes = config.pop("include", None) or []
    merged: dict[str, Any] = {}
    for include in reversed([includes] if isinstance(includes, str) else includes):
        included = Path(include)
        included = included if included.is_absolute() else path.parent / included
        merged.update(read_task_yaml(included))
    merged.update(config)
    return merged
