"""Cluster values go into generated sbatch scripts: control characters are refused first."""

from __future__ import annotations

import sys

import pytest

from configs.compose import ConfigError
from experiments.executors.slurm import submit_slurm
from experiments.schemas import ClusterConfig, StageResources
from experiments.sweep import JobGraph

BAD = [
    ("partition", {"partition": "gpu\n#SBATCH --wrap=rm -rf ~"}, "cluster.partition", "'\\n'"),
    ("account", {"account": "lab\r"}, "cluster.account", "'\\r'"),
    ("qos", {"qos": "normal\x00"}, "cluster.qos", "'\\x00'"),
    ("setup", {"setup": ["source env", "echo a\nrm -rf ~"]}, "cluster.setup[1]", "'\\n'"),
    (
        "extra_value",
        {"extra_sbatch": {"mail-type": "END\nexit 0"}},
        "cluster.extra_sbatch.mail-type",
        "'\\n'",
    ),
    ("extra_key", {"extra_sbatch": {"mail\ntype": "END"}}, "cluster.extra_sbatch (a key)", "'\\n'"),
]


@pytest.mark.parametrize(
    ("fields", "key", "shown"), [pytest.param(*case[1:], id=case[0]) for case in BAD]
)
def test_a_control_character_is_refused_before_any_script(
    tmp_path, monkeypatch, fields, key, shown
):
    monkeypatch.setitem(sys.modules, "submitit", None)  # importing it would fail the test
    with pytest.raises(ConfigError) as caught:
        submit_slurm(JobGraph(), ClusterConfig(**fields), tmp_path / "slurm")
    message = str(caught.value)
    assert message.startswith(f"config key '{key}' holds the control character {shown}")
    assert "\n" not in message
    assert not (tmp_path / "slurm").exists()


def test_the_log_folder_is_checked_too(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(ConfigError, match="'the SLURM log folder' holds the control character"):
        submit_slurm(JobGraph(), ClusterConfig(), tmp_path / "a\nb")


def test_ordinary_values_pass(tmp_path):
    from experiments.executors.slurm import check_script_values

    cluster = ClusterConfig(
        partition="gpu",
        setup=["source .venv/bin/activate"],
        extra_sbatch={"mail-type": "END,FAIL"},
        train=StageResources(gpus_per_node=8),
    )
    check_script_values(cluster, tmp_path / "slurm")
