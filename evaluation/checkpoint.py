"""Check an exported checkpoint directory before any model loads, and fingerprint it."""

from __future__ import annotations

import json
from pathlib import Path

from configs.errors import InputNotADirectoryError, InputNotFoundError
from curation.data.fileio import sha256_file, sha256_json
from evaluation.errors import EvalError

CHAT_TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")
CONFIGS_WITH_TEMPLATE = ("processor_config.json", "tokenizer_config.json")
PROCESSOR_CONFIGS = ("processor_config.json", "preprocessor_config.json")


def check_checkpoint(path: str | Path) -> Path:
    """The checkpoint as an absolute path, or a one-line error naming what is missing."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputNotFoundError(
            f"checkpoint directory not found: {path} (config key 'checkpoint')"
        )
    if not path.is_dir():
        raise InputNotADirectoryError(
            f"checkpoint is not a directory: {path} (config key 'checkpoint')"
        )
    config = _read_json(path / "config.json", "checkpoint")
    if config.get("model_type") != "llava":
        raise EvalError(
            f"checkpoint {path}: config.json has model_type "
            f"{config.get('model_type')!r}, expected 'llava' (an HF LLaVA directory)"
        )
    if not any(path.glob("*.safetensors")):
        raise EvalError(
            f"checkpoint {path}: no *.safetensors weights (other formats are not "
            "loaded: nothing is unpickled)"
        )
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise EvalError(f"checkpoint {path}: no tokenizer (tokenizer.json)")
    if not any((path / name).is_file() for name in PROCESSOR_CONFIGS):
        raise EvalError(f"checkpoint {path}: no image processor (processor_config.json)")
    if not has_chat_template(path):
        raise EvalError(
            f"checkpoint {path}: no chat template (chat_template.jinja); export it "
            "with training.export.export_hf, which writes LLaVA-1.5's vicuna_v1 "
            "template"
        )
    return path.resolve()


def has_chat_template(path: Path) -> bool:
    if any((path / name).is_file() for name in CHAT_TEMPLATE_FILES):
        return True
    for name in CONFIGS_WITH_TEMPLATE:
        if (path / name).is_file() and _read_json(path / name, "checkpoint").get("chat_template"):
            return True
    return False


def checkpoint_fingerprint(path: Path) -> str:
    """sha256 over every file's name and content: a re-exported checkpoint is a new one."""
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return sha256_json({str(p.relative_to(path)): sha256_file(p) for p in files})


def _read_json(path: Path, key: str) -> dict:
    if not path.is_file():
        raise EvalError(f"{key} {path.parent}: no {path.name} (not a Hugging Face model directory)")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvalError(f"{key} {path.parent}: {path.name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EvalError(f"{key} {path.parent}: {path.name} is not a JSON object")
    return value
