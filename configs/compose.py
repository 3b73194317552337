"""Config composition: YAML groups under configs/, typed dataclass schemas, CLI overrides.

A config is composed in this order, later wins:
  1. the schema's defaults (a dataclass),
  2. the `defaults:` list of the chosen YAML (`- group: name` loads configs/group/name.yaml
     into the node `group`),
  3. the YAML's own keys,
  4. `key=value` overrides from the command line; `group=name` switches a whole group.
Unknown keys, wrong types and missing required values raise ConfigError with one line that
names the key (and lists the valid ones for unknown keys).

`group/name` is looked up in the user's config folders first (VLMDATA_CONFIG_PATH, which
`vlmdata --config-dir DIR` extends), then in the package's configs/: a user folder adds configs
to a group, or replaces the package's config of the same name, without editing the package.

Interpolations (`${...}`) are resolved once, when a config is composed from YAML and
overrides. What comes out (a dataclass instance, a plain mapping) holds resolved values, and
everything here that takes such values back (`compose_node`, `resolved_*`)
takes their strings literally: an escaped `\\${oc.env:X}` in an override stays the text
`${oc.env:X}` in every stage, config file and W&B run, and is never read from the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from configs.errors import InputNotADirectoryError, UserError

CONFIG_ROOT = Path(os.environ.get("VLMDATA_CONFIGS", Path(__file__).resolve().parent))
# The user's config folders (os.pathsep-separated), searched before CONFIG_ROOT; each holds the
# same groups (data/, curation/, ...). `vlmdata --config-dir DIR` puts DIR first, here, so that
# every process a command starts (local workers, SLURM jobs) searches the same folders.
CONFIG_PATH_ENV = "VLMDATA_CONFIG_PATH"


class ConfigError(UserError, ValueError):
    """A config problem, one line, naming the key."""


def user_config_dirs() -> list[Path]:
    """The folders of VLMDATA_CONFIG_PATH, in order; a missing one is an error, not skipped (a
    typo would otherwise fall back to the package's config of the same name in silence)."""
    folders = []
    for entry in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep):
        if not entry:
            continue
        folder = Path(entry).expanduser()
        if not folder.is_dir():
            raise InputNotADirectoryError(f"{CONFIG_PATH_ENV}: no such directory: {folder}")
        folders.append(folder)
    return folders


def config_dirs() -> list[Path]:
    """Where configs are looked up, first match wins: the user's folders, then the package's."""
    return [*user_config_dirs(), CONFIG_ROOT]


def search_path_value(dirs: list[str | os.PathLike]) -> str:
    """VLMDATA_CONFIG_PATH with `dirs` (absolute, checked) in front of the folders it holds."""
    given = []
    for entry in dirs:
        if not str(entry):
            raise InputNotADirectoryError("--config-dir: give a directory")
        folder = Path(entry).expanduser()
        if not folder.is_dir():
            raise InputNotADirectoryError(f"--config-dir: no such directory: {folder}")
        given.append(str(folder.resolve()))
    old = [entry for entry in os.environ.get(CONFIG_PATH_ENV, "").split(os.pathsep) if entry]
    return os.pathsep.join([*given, *old])


def config_path(group: str, name: str) -> Path:
    """configs/<group>/<name>.yaml from the first folder of the search path that has it (the
    package's path when none does, so that callers report it missing)."""
    for folder in config_dirs():
        path = folder / group / f"{name}.yaml"
        if path.is_file():
            return path
    return CONFIG_ROOT / group / f"{name}.yaml"


def group_choices(group: str) -> list[str]:
    """Every config name of `group` in the search path (the user's and the package's)."""
    names = {
        p.stem
        for folder in config_dirs()
        if (folder / group).is_dir()
        for p in (folder / group).glob("*.yaml")
    }
    return sorted(names)


def choices_hint(group: str) -> str:
    """'; choices: a, b' for an unknown name in `group`, naming the user folders searched."""
    user = [str(folder / group) for folder in user_config_dirs()]
    searched = f" (searched {', '.join(user)} and the package's)" if user else ""
    return f"; choices: {', '.join(group_choices(group)) or 'none'}{searched}"


def load_yaml(path: str | os.PathLike) -> DictConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        node = OmegaConf.load(path)
    except Exception as exc:  # yaml.YAMLError and OmegaConf grammar errors alike
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML: {first}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: top level must be a mapping of keys")
    return node


def compose(
    schema: type,
    yaml: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    select: str | None = None,
) -> DictConfig:
    """Compose and validate a config for `schema` (a dataclass).

    `select` picks a sub-node of the YAML (e.g. the `toyworld` node of configs/data/toyworld.yaml)
    as the root that `schema` describes.
    """
    group_switches, key_overrides = _split_overrides(overrides, schema)
    choices = dict(group_switches)
    cfg = _structured(schema)
    if yaml is not None:
        node = _expand_defaults(load_yaml(yaml), schema, choices)
        if select is not None:
            node = OmegaConf.select(node, select)
            if node is None:
                raise ConfigError(f"{yaml}: has no node '{select}'")
        cfg = _merge(cfg, node, schema, source=str(yaml))
        choices = {}  # the YAML's defaults list took them
    for group, name in choices.items():
        cfg = _merge(
            cfg,
            OmegaConf.create({group: _load_group(group, name, schema)}),
            schema,
            source=f"{group}={name}",
        )
    if key_overrides:
        try:
            dotlist = OmegaConf.from_dotlist(key_overrides)
        except Exception as exc:  # OmegaConf's grammar errors and yaml.YAMLError alike
            raise ConfigError(
                f"cannot parse overrides {key_overrides}: {_first_line(exc)}"
            ) from None
        cfg = _merge(cfg, dotlist, schema, source="command line")
    check_complete(cfg, schema)
    return cfg


def to_object(cfg: DictConfig) -> Any:
    """The dataclass instance behind a composed config (interpolations resolved)."""
    return OmegaConf.to_object(cfg)


def resolved_yaml(cfg: DictConfig | Any) -> str:
    return OmegaConf.to_yaml(_as_config(cfg), resolve=True)


def resolved_dict(cfg: DictConfig | Any) -> dict:
    return OmegaConf.to_container(_as_config(cfg), resolve=True)


def _as_config(cfg: DictConfig | Any) -> DictConfig:
    """A composed config as is; a dataclass instance (resolved already) with literal strings."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return OmegaConf.create(literal(dataclasses.asdict(cfg)))
    return cfg


_INTERPOLATION = re.compile(r"(\\*)\$\{")


def literal(value: Any) -> Any:
    """`value` (plain data) with every "${" escaped, so that OmegaConf keeps its strings as
    they are instead of resolving them (again). Backslashes before a "${" are doubled, as
    OmegaConf's grammar reads them."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        return _INTERPOLATION.sub(lambda m: m.group(1) * 2 + "\\${", value)
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [literal(item) for item in value]
    return value


def check_complete(cfg: DictConfig, schema: type) -> None:
    """Every required (`???`) value is set and every interpolation resolves."""
    try:
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as exc:
        key = exc.full_key or "?"
        raise ConfigError(f"config key '{key}' is required: set it with {key}=...") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"config key '{exc.full_key or '?'}': {_first_line(exc)}") from None
    _check_choices(cfg, schema, prefix="")


def choice(default: str, choices: tuple[str, ...]) -> Any:
    """A string field restricted to `choices` (checked when a config is composed)."""
    return dataclasses.field(default=default, metadata={"choices": choices})


def _check_choices(node: DictConfig, schema: type, prefix: str) -> None:
    for field in dataclasses.fields(schema):
        value = node.get(field.name) if isinstance(node, DictConfig) else None
        allowed = field.metadata.get("choices")
        if allowed and value not in allowed:
            key = f"{prefix}{field.name}"
            raise ConfigError(
                f"config key '{key}' must be one of {'|'.join(allowed)}, got {value!r}"
            )
        sub = _unwrap(_field_types(schema).get(field.name))
        if (
            isinstance(sub, type)
            and dataclasses.is_dataclass(sub)
            and isinstance(value, DictConfig)
        ):
            _check_choices(value, sub, f"{prefix}{field.name}.")


def _structured(schema: type) -> DictConfig:
    """The schema's defaults, strict about keys except in free-form (`Any`/`dict`) fields."""
    cfg = OmegaConf.structured(schema)
    OmegaConf.set_struct(cfg, True)
    _open_free_fields(cfg, schema)
    return cfg


def _open_free_fields(node: DictConfig, schema: type) -> None:
    for name, tp in _field_types(schema).items():
        value = node._get_node(name)
        if tp is Any or typing.get_origin(tp) is dict or tp is dict:
            if isinstance(value, DictConfig):
                OmegaConf.set_struct(value, False)
        elif dataclasses.is_dataclass(_unwrap(tp)) and isinstance(value, DictConfig):
            _open_free_fields(value, _unwrap(tp))


def _expand_defaults(
    node: DictConfig, schema: type, choices: dict[str, str] | None = None
) -> DictConfig:
    """Replace a `defaults:` list by the group files it names, then merge the node's own keys.

    `choices` (from `group=name` on the command line) replace the list's entry for that group,
    or are added to it, so the YAML's own keys still apply on top of the chosen group file.
    """
    choices = dict(choices or {})
    defaults = node.pop("defaults") if "defaults" in node else ListConfig([])
    if not isinstance(defaults, ListConfig):
        raise ConfigError("'defaults' must be a list of '- group: name' entries")
    merged = OmegaConf.create({})
    for entry in defaults:
        if not isinstance(entry, DictConfig) or len(entry) != 1:
            raise ConfigError(f"bad defaults entry {entry!r}: expected '- group: name'")
        ((group, name),) = entry.items()
        name = choices.pop(str(group), name)
        merged = OmegaConf.merge(merged, {group: _load_group(str(group), str(name), schema)})
    for group, name in choices.items():
        merged = OmegaConf.merge(merged, {group: _load_group(group, name, schema)})
    return OmegaConf.merge(merged, node)


def _load_group(group: str, name: str, schema: type) -> DictConfig:
    if group not in _field_names(schema):
        raise ConfigError(
            f"unknown config group '{group}'; valid groups: {', '.join(_group_fields(schema))}"
        )
    path = config_path(group, name)
    if not path.is_file():
        raise ConfigError(f"no config '{name}' in group '{group}'{choices_hint(group)}")
    return _expand_defaults(load_yaml(path), schema)


def _split_overrides(
    overrides: list[str] | tuple[str, ...], schema: type
) -> tuple[list[tuple[str, str]], list[str]]:
    groups, keys = [], []
    group_fields = _group_fields(schema)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        if key in group_fields:
            if not config_path(key, value).is_file():
                raise ConfigError(f"no config '{value}' in group '{key}'{choices_hint(key)}")
            groups.append((key, value))
            continue
        keys.append(f"{key}={value}")
    return groups, keys


def _merge(cfg: DictConfig, other: Any, schema: type, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, other)
    except (ConfigKeyError, ConfigAttributeError) as exc:
        raise ConfigError(_unknown_key_message(exc, schema, source)) from None
    except ValidationError as exc:
        raise ConfigError(_type_message(exc, schema, source)) from None
    except OmegaConfBaseException as exc:
        raise ConfigError(
            f"{source}: config key '{exc.full_key or '?'}': {_first_line(exc)}"
        ) from None


def _unknown_key_message(exc: OmegaConfBaseException, schema: type, source: str) -> str:
    full_key = exc.full_key or str(getattr(exc, "key", "?"))
    parent, _, leaf = full_key.rpartition(".")
    node_schema = _schema_at(schema, parent)
    valid = ", ".join(_field_names(node_schema)) if node_schema else "?"
    where = f" under '{parent}'" if parent else ""
    return f"{source}: unknown config key '{full_key}'; valid keys{where}: {valid}"


def _type_message(exc: OmegaConfBaseException, schema: type, source: str) -> str:
    full_key = exc.full_key or "?"
    parent, _, leaf = full_key.rpartition(".")
    expected = _field_types(_schema_at(schema, parent)).get(leaf)
    expected_name = _type_name(expected) if expected is not None else "another type"
    value = getattr(exc, "value", None)
    shown = repr(value) if value is not None else _first_line(exc)
    return f"{source}: config key '{full_key}' expects {expected_name}, got {shown}"


def _schema_at(schema: type | None, dotted: str) -> type | None:
    for part in filter(None, dotted.split(".")):
        if schema is None:
            return None
        schema = _unwrap(_field_types(schema).get(part))
        if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
            return None
    return schema


def _field_types(schema: type | None) -> dict[str, Any]:
    if schema is None or not dataclasses.is_dataclass(schema):
        return {}
    return typing.get_type_hints(schema)


def _field_names(schema: type | None) -> list[str]:
    if schema is None or not dataclasses.is_dataclass(schema):
        return []
    return [f.name for f in dataclasses.fields(schema)]


def _group_fields(schema: type) -> list[str]:
    """Dataclass fields of the root schema, fillable from configs/<field>/<name>.yaml."""
    types = _field_types(schema)
    folders = config_dirs()
    return [
        name
        for name in _field_names(schema)
        if dataclasses.is_dataclass(_unwrap(types.get(name)))
        and any((folder / name).is_dir() for folder in folders)
    ]


def _unwrap(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _type_name(tp: Any) -> str:
    tp = _unwrap(tp)
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def compose_node(schema: type, node: Any, key: str) -> Any:
    """Validate a nested mapping (e.g. a method's `params`) against `schema`.

    Errors name the key as `key.<field>` (`key` may be dotted); returns the dataclass instance.
    A plain mapping holds resolved values (a stage's spec): its strings are taken literally.
    """
    parts = key.split(".")
    root: type = schema
    value: Any = node if isinstance(node, (DictConfig, ListConfig)) else literal(node or {})
    for part in reversed(parts):
        root = dataclasses.make_dataclass(
            f"{part.title()}Node", [(part, root, dataclasses.field(default_factory=root))]
        )
        value = {part: value}
    cfg = _structured(root)
    cfg = _merge(cfg, value, root, source="config")
    check_complete(cfg, root)
    obj = to_object(cfg)
    for part in parts:
        obj = getattr(obj, part)
    return obj
