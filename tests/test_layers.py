"""The house plan holds: no import cycles, no stage importing a later one.

An AST scan of every module (imports inside functions and under TYPE_CHECKING count: they
are dependencies all the same). Stages, lowest first:

    configs < curation.data < toyworld < curation < training < evaluation < experiments

A module may import its own stage or a lower one; training, evaluation and toyworld may use
curation only through its data layer (curation.data).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("configs", "curation", "training", "evaluation", "experiments", "toyworld")
STAGES = (
    "configs",
    "curation.data",
    "toyworld",
    "curation",
    "training",
    "evaluation",
    "experiments",
)
DATA_LAYER_ONLY = {"training": "curation", "evaluation": "curation", "toyworld": "curation"}
DATA_LAYER = "curation.data"


def module_names(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The project modules that `name` imports, wherever in the file the import stands."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found = {_longest_module(alias.name, modules) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            found = {f"{base}.{a.name}" for a in node.names} & modules.keys()
            found = found or {_longest_module(base, modules)}
        else:
            continue
        targets |= {target for target in found if target and target != name}
    return targets


def _longest_module(dotted: str, modules: Mapping[str, Path]) -> str | None:
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in modules:
            return ".".join(parts[:end])
    return None


def import_graph(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    modules = module_names(root, packages)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def stage_of(module: str) -> str:
    """The most specific stage whose name prefixes the module's."""
    matches = [s for s in STAGES if module == s or module.startswith(s + ".")]
    return max(matches, key=len)


def layer_violations(graph: Mapping[str, set[str]]) -> list[str]:
    rank = {stage: i for i, stage in enumerate(STAGES)}
    problems = []
    for module, targets in sorted(graph.items()):
        here = stage_of(module)
        for target in sorted(targets):
            there = stage_of(target)
            if rank[there] > rank[here]:
                problems.append(f"{module} imports {target}: {here} must not import {there}")
            elif (
                DATA_LAYER_ONLY.get(here.split(".")[0]) == there.split(".")[0]
                and there != DATA_LAYER
            ):
                problems.append(
                    f"{module} imports {target}: {here} may use curation only through {DATA_LAYER}"
                )
    return problems


def test_the_project_has_no_import_cycle():
    assert cycles(import_graph(REPO)) == []


def test_no_stage_imports_a_later_one():
    assert layer_violations(import_graph(REPO)) == []


# --- the scan itself, on synthetic trees whose answers are known


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    (root / "curation" / "data").mkdir(exist_ok=True)
    (root / "curation" / "data" / "__init__.py").touch()
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_a_clean_tree_passes(tmp_path):
    root = _tree(
        tmp_path,
        {
            "curation/data/records.py": "from configs import compose\n",
            "configs/compose.py": "import json\n",
            "curation/pick.py": "from curation.data import records\nfrom .data.records import x\n",
            "training/train.py": "from curation.data.records import load\n",
            "experiments/cli.py": "import training.train, curation.pick, evaluation\n",
        },
    )
    graph = import_graph(root)
    assert graph["curation.pick"] == {"curation.data.records"}
    assert graph["experiments.cli"] == {"training.train", "curation.pick", "evaluation"}
    assert cycles(graph) == [] and layer_violations(graph) == []


@pytest.mark.parametrize(
    "lazy", ["", "def f():\n    ", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    "]
)
def test_a_cycle_is_found_however_its_import_is_written(tmp_path, lazy):
    root = _tree(
        tmp_path,
        {
            "curation/a.py": "import curation.b\n",
            "curation/b.py": "import os\n",
            "curation/c.py": f"{lazy}from curation.a import thing\n",
        },
    )
    (root / "curation" / "b.py").write_text("from . import c\n", encoding="utf-8")
    assert cycles(import_graph(root)) == [["curation.a", "curation.b", "curation.c"]]


def test_an_upward_import_and_a_reach_past_the_data_layer_are_found(tmp_path):
    root = _tree(
        tmp_path,
        {
            "configs/compose.py": "def save():\n    from curation.data import fileio\n",
            "curation/data/fileio.py": "import os\n",
            "curation/ref.py": "from training.train import train\n",
            "training/train.py": "import os\n",
            "toyworld/make.py": "from curation.ref import x\n",
        },
    )
    assert layer_violations(import_graph(root)) == [
        "configs.compose imports curation.data.fileio: configs must not import curation.data",
        "curation.ref imports training.train: curation must not import training",
        "toyworld.make imports curation.ref: toyworld must not import curation",
    ]
