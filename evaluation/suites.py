"""Named suites -> lmms-eval tasks, each with its primary metric, direction and scale.

A suite is a YAML in configs/evaluation/ (adr11, coincide12, toyworld, ...): a complete
`EvalConfig` whose `tasks` list names the benchmarks. This module composes those configs,
picks the tasks to run and finds each task's YAML (ours under evaluation/tasks/, a user's
under <config dir>/tasks/ or at an absolute path, or lmms-eval's built-in one) without importing
lmms-eval, so that bad names fail in milliseconds.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from configs.compose import (
    ConfigError,
    choices_hint,
    compose,
    config_path,
    group_choices,
    to_object,
    user_config_dirs,
)
from evaluation.config import EvalConfig, TaskSpec
from evaluation.errors import EvalError

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
_TASK_LINE = re.compile(r"^task:\s*[\"']?([^\"'\s#\[\]]+)[\"']?\s*(?:#.*)?$", re.MULTILINE)


def suite_names() -> list[str]:
    return group_choices("evaluation")


def eval_config(overrides: Sequence[str]) -> EvalConfig:
    """Compose configs/evaluation/<suite>.yaml (suite=NAME among `overrides`) + the rest."""
    suite = next((o.split("=", 1)[1] for o in overrides if o.startswith("suite=")), None)
    if not suite:
        raise ConfigError(
            f"config key 'suite' is required: set suite=NAME "
            f"(one of {', '.join(suite_names()) or 'none'})"
        )
    if suite not in suite_names():
        raise ConfigError(f"unknown suite '{suite}'{choices_hint('evaluation')}")
    cfg: EvalConfig = to_object(compose(EvalConfig, config_path("evaluation", suite), overrides))
    return cfg


def selected_tasks(cfg: EvalConfig) -> list[TaskSpec]:
    """The suite's tasks, or those named in `only` (in suite order)."""
    if not cfg.tasks:
        raise EvalError(f"suite '{cfg.suite}' has no tasks")
    names = [t.name for t in cfg.tasks]
    if len(set(names)) != len(names):
        raise EvalError(f"suite '{cfg.suite}' lists a task twice: {names}")
    unknown = [name for name in cfg.only if name not in names]
    if unknown:
        raise EvalError(
            f"config key 'only': {', '.join(unknown)} not in suite '{cfg.suite}' "
            f"(its tasks: {', '.join(names)})"
        )
    return [t for t in cfg.tasks if not cfg.only or t.name in cfg.only]


def task_dirs() -> list[Path]:
    """Where a relative `yaml` of a task is looked up, first match wins: the tasks/ folder of
    each user config folder, then ours."""
    return [*(folder / "tasks" for folder in user_config_dirs()), TASKS_DIR]


def task_yaml(spec: TaskSpec) -> Path:
    """The YAML that defines `spec`: spec.yaml (an absolute path, or one relative to a folder
    of `task_dirs`) or lmms-eval's built-in one."""
    if spec.yaml:
        given = Path(spec.yaml).expanduser()
        folders = [given.parent] if given.is_absolute() else task_dirs()
        for folder in folders:
            path = folder / given.name if given.is_absolute() else folder / given
            if path.is_file():
                return path.absolute()
        where = ", ".join(map(str, folders))
        raise EvalError(f"task '{spec.name}': yaml '{spec.yaml}' not found under {where}")
    path = builtin_task_yaml(spec.name)
    if path is None:
        close = difflib.get_close_matches(spec.name, builtin_task_names(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EvalError(f"unknown lmms-eval task '{spec.name}'{hint}")
    return path


def check_tasks(cfg: EvalConfig, tasks: Sequence[TaskSpec]) -> None:
    """Everything about the task list that can be wrong, checked before any model loads."""
    for spec in tasks:
        task_yaml(spec)
        if spec.judge == "fallback" and cfg.judge == "none" and not spec.static_aggregation:
            raise EvalError(
                f"task '{spec.name}' falls back to a judge; give it a "
                "static_aggregation or set judge=api"
            )
        if spec.yaml and not cfg.data_root:
            raise EvalError(f"task '{spec.name}' reads local data: set data_root=DIR")


def builtin_task_yaml(name: str) -> Path | None:
    path = _builtin_index().get(name)
    if path is None:
        path = installed_task_index().get(name)
    return path


def builtin_task_names() -> list[str]:
    return sorted(set(_builtin_index()) | set(installed_task_index()))


def lmms_eval_tasks_dir() -> Path:
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None or not spec.submodule_search_locations:
        raise EvalError("lmms-eval is not installed (pip install lmms-eval)")
    return Path(spec.submodule_search_locations[0]) / "tasks"


@functools.cache
def _builtin_index() -> dict[str, Path]:
    """task name -> YAML, from a text scan of lmms-eval's task folders (~0.1 s)."""
    index: dict[str, Path] = {}
    for path in sorted(lmms_eval_tasks_dir().rglob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for match in _TASK_LINE.finditer(text):
            index.setdefault(match.group(1), path)
    return index


@functools.cache
def installed_task_index() -> dict[str, Path]:
    """lmms-eval's own task index (slow: ~10 s); used for names the text scan cannot see."""
    from lmms_eval.tasks import TaskManager
    from loguru import logger

    logger.disable("lmms_eval")  # indexing logs every YAML it skips
    try:
        manager = TaskManager(verbosity="ERROR")
    finally:
        logger.enable("lmms_eval")
    index: dict[str, Path] = {}
    for name, entry in manager.task_index.items():
        yaml_path = entry.get("yaml_path") if isinstance(entry, dict) else None
        if isinstance(yaml_path, str) and yaml_path.endswith(".yaml"):
            index[name] = Path(yaml_path)
    return index
