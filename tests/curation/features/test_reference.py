"""The reference node: curation reads a checkpoint; model=tiny is trained by experiments/ and
handed over, never trained here."""

from dataclasses import asdict

import pytest

from configs.compose import ConfigError
from configs.errors import InputNotFoundError
from curation.features.reference import TINY, ReferencePassParams, checkpoint_path, uses_reference
from curation.features.reference_pass import reads_reference_pass
from curation.registry import build_method


@pytest.mark.parametrize(
    ("method", "params", "key"),
    [
        ("el2n", {}, "params.reference.model=tiny"),
        ("coincide", {"reference": {"model": TINY}}, "params.reference.model=tiny"),
        ("adr", {}, "params.synthesis.reference.model=tiny"),
    ],
)
def test_tiny_without_a_checkpoint_is_a_one_line_error_naming_the_key(method, params, key):
    chosen = build_method(method, params)
    assert uses_reference(chosen) and chosen.needs_training()
    with pytest.raises(InputNotFoundError, match=key) as err:
        chosen.reference_checkpoint()
    assert "\n" not in str(err.value)


def test_a_handed_checkpoint_replaces_tiny_but_not_the_config(tmp_path):
    method = build_method("semdedup", {})
    method.use_checkpoint(tmp_path / "hf")
    assert not method.needs_training()
    assert method.reference_checkpoint() == str(tmp_path / "hf")
    assert asdict(method.params)["reference"]["model"] == TINY  # keys and manifests say tiny
    assert "checkpoint" not in asdict(method.params)["reference"]
    assert build_method("semdedup", {}).reference_model().checkpoint is None  # per instance
    with pytest.raises(ConfigError, match="checkpoint"):
        build_method("semdedup", {"reference": {"checkpoint": "x"}})


def test_a_checkpoint_given_directly_is_read_as_is(tmp_path):
    method = build_method("coincide", {"reference": {"model": str(tmp_path)}})
    assert not method.needs_training()
    assert method.reference_checkpoint() == str(tmp_path)
    with pytest.raises(InputNotFoundError, match="params.reference.model is empty"):
        checkpoint_path(ReferencePassParams(model=""))


def test_which_methods_read_a_reference_and_its_pass():
    for name in ("coincide", "el2n", "perplexity", "semdedup", "d2_pruning", "self_sup"):
        assert reads_reference_pass(build_method(name, {})), name
    assert reads_reference_pass(build_method("self_filter", {}))
    adr = build_method("adr", {})
    assert uses_reference(adr) and not reads_reference_pass(adr)
    for name in ("random", "full", "clip_score", "adr_dr"):
        assert not uses_reference(build_method(name, {})), name
