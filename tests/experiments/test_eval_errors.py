"""Bad inputs end in one line on stderr and exit 2, before any model loads."""

import shutil
from pathlib import Path

import pytest

from experiments.cli import main

# The tiny model runs in-process: one torch thread, as in tests/evaluation.
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def checkpoint_without_template(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    import json

    target = shutil.copytree(tiny_checkpoint, tmp_path / "no_template")
    (target / "chat_template.jinja").unlink()
    for name in ("tokenizer_config.json", "processor_config.json"):
        path = target / name
        config = json.loads(path.read_text())
        config.pop("chat_template", None)
        path.write_text(json.dumps(config))
    return target


@pytest.fixture
def no_model_load(monkeypatch):
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr(transformers.LlavaForConditionalGeneration, "from_pretrained", refuse)


def run_cli(capsys, *overrides):
    code = main(["eval", *overrides, "wandb.mode=disabled"])
    err = capsys.readouterr().err
    return code, err.strip().splitlines()


def test_missing_checkpoint(capsys, no_model_load, toyworld_bench_root, tmp_path):
    code, lines = run_cli(
        capsys,
        f"checkpoint={tmp_path / 'nope'}",
        "suite=toyworld",
        f"data_root={toyworld_bench_root}",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1
    assert lines[0] == (
        f"vlmdata: error: checkpoint directory not found: {tmp_path / 'nope'} "
        "(config key 'checkpoint')"
    )
    assert not (tmp_path / "run").exists()


def test_checkpoint_without_chat_template(
    capsys, no_model_load, checkpoint_without_template, toyworld_bench_root, tmp_path
):
    code, lines = run_cli(
        capsys,
        f"checkpoint={checkpoint_without_template}",
        "suite=toyworld",
        f"data_root={toyworld_bench_root}",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1
    assert "no chat template (chat_template.jinja)" in lines[0]


@pytest.mark.slow  # an unknown name is looked up in lmms-eval's full task index (~10 s)
def test_unknown_task_name(capsys, no_model_load, tiny_checkpoint, tmp_path):
    code, lines = run_cli(
        capsys,
        f"checkpoint={tiny_checkpoint}",
        "suite=coincide12",
        "tasks=[{name: gqa_lite}, {name: textvqa_vall, metric: exact_match}]",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("vlmdata: error: config key 'tasks[0].metric' is required")
    code, lines = run_cli(
        capsys,
        f"checkpoint={tiny_checkpoint}",
        "suite=coincide12",
        "tasks=[{name: textvqa_vall, metric: exact_match}]",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(
        "vlmdata: error: unknown lmms-eval task 'textvqa_vall'; did you mean textvqa_val"
    )


def test_missing_local_data_and_judge_key(
    capsys, no_model_load, tiny_checkpoint, tmp_path, monkeypatch
):
    code, lines = run_cli(
        capsys,
        f"checkpoint={tiny_checkpoint}",
        "suite=toyworld",
        f"data_root={tmp_path}",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1 and "no local data at" in lines[0]
    assert not (tmp_path / "run").exists()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("API_TYPE", raising=False)
    code, lines = run_cli(
        capsys,
        f"checkpoint={tiny_checkpoint}",
        "suite=coincide12",
        "judge=api",
        f"out_dir={tmp_path / 'run'}",
    )
    assert code == 2 and len(lines) == 1 and "needs OPENAI_API_KEY in the environment" in lines[0]
