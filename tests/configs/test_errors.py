"""Every exception class the project defines reaches the user as a `UserError` (or is listed
here as internal), and keeps the builtin base that callers catch.

An AST scan (no imports) finds the classes and follows their bases through the project's own
imports; a second test imports each class found and checks the answer at runtime.
"""

from __future__ import annotations

import ast
import builtins
import importlib
from collections.abc import Iterable
from pathlib import Path

import pytest

from configs.errors import (
    InputNotADirectoryError,
    InputNotFoundError,
    OutputExistsError,
    UserError,
)

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("configs", "curation", "training", "evaluation", "experiments", "toyworld")
USER_ERROR = "configs.errors:UserError"
# Exception classes that never reach the user as such ("module:Class"): none today. A class
# added here must say why (caught and re-raised as a UserError, or a bug by definition).
INTERNAL: dict[str, str] = {}


def _modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _names(module: str, path: Path, tree: ast.Module) -> dict[str, str]:
    """Local name -> "module:Name" (or "module" for a module alias) for top-level imports."""
    names = {}
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}:{alias.name}"
    return names


def exception_classes(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, bool]:
    """Every exception class defined under `packages` -> whether it derives from UserError."""
    modules = _modules(root, packages)
    bases: dict[str, list[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _names(module, path, tree)
        local = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases[f"{module}:{node.name}"] = [
                    _resolve(b, module, local, names) for b in node.bases
                ]

    def is_exception(name: str, seen: frozenset = frozenset()) -> bool:
        if name in bases and name not in seen:
            return any(is_exception(b, seen | {name}) for b in bases[name])
        module, _, cls = name.rpartition(":")
        if module == "builtins":
            return isinstance(getattr(builtins, cls, None), type) and issubclass(
                getattr(builtins, cls), BaseException
            )
        # a third-party class: judged by its name, never imported (torch stays unloaded)
        return module.split(".")[0] not in PACKAGES and cls.endswith(("Error", "Exception"))

    def is_user(name: str, seen: frozenset = frozenset()) -> bool:
        if name == USER_ERROR:
            return True
        return name not in seen and any(is_user(b, seen | {name}) for b in bases.get(name, ()))

    return {name: is_user(name) for name in bases if is_exception(name)}


def _resolve(node: ast.expr, module: str, local: set[str], names: dict[str, str]) -> str:
    """A base-class expression -> "module:Class" ("builtins:X" for an unimported name)."""
    if isinstance(node, ast.Subscript):  # Generic[T], Sampler[int]
        node = node.value
    prefix, _, cls = ast.unparse(node).rpartition(".")
    if not prefix:
        if cls in local:
            return f"{module}:{cls}"
        return names.get(cls) or f"builtins:{cls}"
    head, _, tail = prefix.partition(".")
    target = names.get(head, head).replace(":", ".")  # `from package import module`
    return f"{'.'.join([target, tail] if tail else [target])}:{cls}"


def test_every_project_exception_is_a_user_error():
    found = exception_classes(REPO)
    assert "configs.compose:ConfigError" in found and "training.models:ModelSourceError" in found
    assert len(found) >= 20
    missing = sorted(name for name, user in found.items() if not user and name not in INTERNAL)
    assert missing == [], f"subclass configs.errors.UserError (or list as INTERNAL): {missing}"
    assert set(INTERNAL) <= set(found), "INTERNAL names a class that no longer exists"


def test_the_scan_agrees_with_python():
    for name, user in exception_classes(REPO).items():
        module, cls = name.split(":")
        found = getattr(importlib.import_module(module), cls)
        assert issubclass(found, BaseException), name
        assert issubclass(found, UserError) == user, name


def test_the_scan_finds_a_class_that_is_not_a_user_error(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").touch()
    (tmp_path / "configs" / "errors.py").write_text("class UserError(Exception):\n    pass\n")
    (tmp_path / "curation" / "bad.py").write_text(
        "from configs.errors import UserError\n"
        "import omegaconf.errors as oe\n"
        "class Good(UserError, ValueError): ...\n"
        "class AlsoGood(Good): ...\n"
        "class Bad(ValueError): ...\n"
        "class BadToo(Exception): ...\n"
        "class FromLibrary(oe.ValidationError): ...\n"
        "class NotAnError: ...\n"
    )
    (tmp_path / "training" / "more.py").write_text(
        "from curation import bad\nfrom curation.bad import Good as G\n"
        "class ViaAlias(G): ...\nclass ViaModule(bad.Bad): ...\n"
    )
    assert exception_classes(tmp_path) == {
        "configs.errors:UserError": True,
        "curation.bad:Good": True,
        "curation.bad:AlsoGood": True,
        "curation.bad:Bad": False,
        "curation.bad:BadToo": False,
        "curation.bad:FromLibrary": False,
        "training.more:ViaAlias": True,
        "training.more:ViaModule": False,
    }


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (InputNotFoundError, FileNotFoundError),
        (InputNotADirectoryError, NotADirectoryError),
        (OutputExistsError, FileExistsError),
    ],
)
def test_path_errors_keep_their_builtin_base(cls, builtin):
    error = cls("data.pool: no such file: /x.json")
    assert isinstance(error, UserError) and isinstance(error, builtin)
    assert str(error) == "data.pool: no such file: /x.json"


def test_stage_errors_keep_the_base_their_callers_catch():
    from configs.compose import ConfigError
    from curation.data.outdir import OutputDirError
    from curation.data.records import RecordError
    from evaluation.errors import EvalError

    assert issubclass(ConfigError, ValueError) and issubclass(EvalError, ConfigError)
    assert issubclass(RecordError, ValueError) and issubclass(OutputDirError, FileExistsError)
    assert all(issubclass(c, UserError) for c in (ConfigError, EvalError, RecordError))
