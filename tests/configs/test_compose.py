import os
from dataclasses import dataclass, field

import pytest
from omegaconf import OmegaConf

from configs import compose as config_mod
from configs.compose import ConfigError, choice, compose, compose_node, to_object
from configs.errors import InputNotADirectoryError
from curation.data.fileio import save_resolved


@dataclass
class Optim:
    lr: float = 1e-3
    betas: list = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class Model:
    name: str = "tiny"
    layers: int = 2


@dataclass
class Root:
    seed: int = 0
    mode: str = choice("full", ("full", "lora"))
    note: str | None = None
    optim: Optim = field(default_factory=Optim)
    model: Model = field(default_factory=Model)
    required: str = "???"


@pytest.fixture
def config_root(tmp_path, monkeypatch):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "big.yaml").write_text("# vlmdata x model=big\nname: big\nlayers: 24\n")
    (tmp_path / "experiment.yaml").write_text(
        "defaults:\n  - model: big\nseed: 7\nrequired: yes-set\noptim:\n  lr: 0.5\n"
    )
    monkeypatch.setattr(config_mod, "CONFIG_ROOT", tmp_path)
    return tmp_path


def test_defaults_list_then_own_keys_then_overrides(config_root):
    cfg = compose(Root, config_root / "experiment.yaml", ["optim.lr=0.25", "mode=lora"])
    obj = to_object(cfg)
    assert (obj.seed, obj.mode, obj.optim.lr) == (7, "lora", 0.25)
    assert (obj.model.name, obj.model.layers) == ("big", 24)


def test_group_switch_on_command_line(config_root):
    (config_root / "model" / "small.yaml").write_text("name: small\nlayers: 1\n")
    obj = to_object(compose(Root, config_root / "experiment.yaml", ["model=small"]))
    assert obj.model.name == "small" and obj.model.layers == 1


def test_unknown_group_choice_lists_choices(config_root):
    with pytest.raises(ConfigError, match=r"no config .nope. in group .model.; choices: big"):
        compose(Root, config_root / "experiment.yaml", ["model=nope"])


def test_unknown_key_names_it_and_lists_valid_keys(config_root):
    with pytest.raises(ConfigError) as err:
        compose(Root, config_root / "experiment.yaml", ["optim.lrr=1"])
    message = str(err.value)
    assert "'optim.lrr'" in message and "lr, betas" in message and "\n" not in message


def test_unknown_top_level_key_in_yaml(config_root, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("seeed: 3\nrequired: x\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'seeed'; valid keys: seed, mode"):
        compose(Root, bad)


def test_wrong_type_names_key_and_expected_type(config_root):
    with pytest.raises(ConfigError, match=r"'seed' expects int, got 'abc'"):
        compose(Root, config_root / "experiment.yaml", ["seed=abc"])
    with pytest.raises(ConfigError, match=r"'model.layers' expects int"):
        compose(Root, config_root / "experiment.yaml", ["model.layers=1.5"])


def test_bad_choice_lists_allowed_values(config_root):
    with pytest.raises(ConfigError, match=r"'mode' must be one of full\|lora, got 'qlora'"):
        compose(Root, config_root / "experiment.yaml", ["mode=qlora"])


def test_missing_required_value(config_root):
    with pytest.raises(ConfigError, match=r"'required' is required: set it with required=\.\.\."):
        compose(Root)


def test_malformed_override_and_yaml(config_root, tmp_path):
    with pytest.raises(ConfigError, match="must look like key=value"):
        compose(Root, config_root / "experiment.yaml", ["seed"])
    broken = tmp_path / "broken.yaml"
    broken.write_text("seed: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        compose(Root, broken)
    with pytest.raises(ConfigError, match="config file not found"):
        compose(Root, tmp_path / "absent.yaml")


def test_select_sub_node(tmp_path, config_root):
    path = tmp_path / "wrapped.yaml"
    path.write_text("kind: x\nmodel:\n  name: picked\n")
    assert to_object(compose(Model, path, ["layers=5"], select="model")).name == "picked"


def test_compose_node_prefixes_key(config_root):
    assert compose_node(Optim, {"lr": 0.1}, "params").lr == 0.1
    with pytest.raises(
        ConfigError, match=r"'params.momentum'.*valid keys under 'params': lr, betas"
    ):
        compose_node(Optim, {"momentum": 0.9}, "params")


def test_save_resolved_round_trips(config_root, tmp_path):
    cfg = compose(Root, config_root / "experiment.yaml")
    path = save_resolved(cfg, tmp_path / "out" / "config.yaml")
    again = OmegaConf.load(path)
    assert again.model.layers == 24 and again.required == "yes-set"


def test_group_switch_replaces_the_defaults_entry_and_keeps_own_keys(config_root):
    (config_root / "model" / "small.yaml").write_text("name: small\n")
    (config_root / "exp2.yaml").write_text(
        "defaults:\n  - model: big\nrequired: x\nmodel:\n  name: renamed\n"
    )
    obj = to_object(compose(Root, config_root / "exp2.yaml", ["model=small"]))
    # big.yaml's layers=24 is gone (small.yaml replaced it); the YAML's own key still applies
    assert (obj.model.name, obj.model.layers) == ("renamed", 2)


@pytest.fixture
def user_dir(config_root, tmp_path_factory, monkeypatch):
    """A user config folder on VLMDATA_CONFIG_PATH: one config replaces the package's, one is
    new."""
    user = tmp_path_factory.mktemp("user")
    (user / "model").mkdir()
    (user / "model" / "big.yaml").write_text("name: users-big\nlayers: 3\n")
    (user / "model" / "mine.yaml").write_text("name: mine\nlayers: 5\n")
    monkeypatch.setenv(config_mod.CONFIG_PATH_ENV, str(user))
    return user


def test_user_folder_comes_first_and_adds_choices(config_root, user_dir):
    assert config_mod.config_path("model", "big") == user_dir / "model" / "big.yaml"
    assert config_mod.group_choices("model") == ["big", "mine"]
    obj = to_object(compose(Root, config_root / "experiment.yaml", ["model=mine"]))
    assert (obj.model.name, obj.model.layers) == ("mine", 5)
    obj = to_object(compose(Root, config_root / "experiment.yaml"))  # its defaults: model: big
    assert obj.model.name == "users-big"


def test_user_folders_in_path_order(config_root, user_dir, tmp_path_factory, monkeypatch):
    first = tmp_path_factory.mktemp("first")
    (first / "model").mkdir()
    (first / "model" / "mine.yaml").write_text("name: first\n")
    monkeypatch.setenv(config_mod.CONFIG_PATH_ENV, f"{first}{os.pathsep}{user_dir}")
    assert config_mod.config_path("model", "mine") == first / "model" / "mine.yaml"
    assert config_mod.config_path("model", "big") == user_dir / "model" / "big.yaml"


def test_unknown_choice_lists_user_choices_and_folders(config_root, user_dir):
    with pytest.raises(ConfigError) as err:
        compose(Root, config_root / "experiment.yaml", ["model=nope"])
    message = str(err.value)
    assert "choices: big, mine" in message and str(user_dir / "model") in message
    assert "\n" not in message


def test_missing_user_folder_is_an_error(config_root, tmp_path, monkeypatch):
    monkeypatch.setenv(config_mod.CONFIG_PATH_ENV, str(tmp_path / "absent"))
    with pytest.raises(InputNotADirectoryError, match="VLMDATA_CONFIG_PATH: no such directory"):
        config_mod.config_path("model", "big")


def test_search_path_value_puts_given_folders_first(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.setenv(config_mod.CONFIG_PATH_ENV, str(b))
    assert config_mod.search_path_value([a]) == f"{a.resolve()}{os.pathsep}{b}"
    with pytest.raises(InputNotADirectoryError, match="--config-dir: no such directory"):
        config_mod.search_path_value([tmp_path / "c"])
    with pytest.raises(InputNotADirectoryError, match="--config-dir: give a directory"):
        config_mod.search_path_value([""])
