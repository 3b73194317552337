"""Every YAML shipped in configs/ parses and validates against its group's schema."""

from pathlib import Path

import pytest

from experiments.config import CONFIG_ROOT, compose, load_yaml
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
    compose(GROUP_SCHEMAS[group], path)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_ROOT)))
def test_shipped_yaml_starts_with_its_command(path: Path):
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# vlmdata "), (
        f"{path}: first line should show the command that uses it"
    )
    load_yaml(path)
