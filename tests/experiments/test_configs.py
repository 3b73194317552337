"""Every YAML shipped in configs/ parses and validates against its group's schema."""

from pathlib import Path

import pytest

from configs.compose import CONFIG_ROOT, compose, compose_node, load_yaml
from curation.registry import get_method
from experiments.schemas import GROUP_SCHEMAS

SHIPPED = sorted(CONFIG_ROOT.rglob("*.yaml"))


def test_configs_exist():
    assert SHIPPED, f"no YAML under {CONFIG_ROOT}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_shipped_yaml_validates(path: Path):
    group = path.relative_to(CONFIG_ROOT).parts[0]
    assert group in GROUP_SCHEMAS, (
        f"configs/{group}/ has no schema in experiments.schemas.GROUP_SCHEMAS"
    )
    cfg = compose(GROUP_SCHEMAS[group], path)
    curation = cfg if group == "curation" else cfg.get("curation")
    if curation is not None:  # a method's params are checked against the method's own schema
        method = get_method(curation.method)
        compose_node(method.Params, curation.params, "params")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_shipped_yaml_starts_with_its_command(path: Path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# vlmdata "), (
        f"{path}: first line should show the command that uses it"
    )
    load_yaml(path)
