"""A record's (concept, skill) cells from ToyWorld's ground truth; one-line errors without it."""

import json

import pytest

from curation.methods.oracle.ground_truth import NO_OBJECT, GroundTruthError, record_cells


def _world(tmp_path, rows):
    (tmp_path / "entities.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )
    return tmp_path / "pool.json"


def test_cells_are_scene_concepts_times_turn_skills(tmp_path):
    pool = _world(
        tmp_path,
        [
            {"id": "a", "object": ["blue star", "red circle"]},
            {"id": "t", "object": []},
        ],
    )
    records = [
        {"id": "a", "skills": ["colour", "counting", "colour"]},
        {"id": "t", "skills": ["text"]},
    ]
    assert record_cells(records, pool) == [
        [
            ("blue star", "colour"),
            ("blue star", "counting"),
            ("red circle", "colour"),
            ("red circle", "counting"),
        ],
        [(NO_OBJECT, "text")],
    ]


def test_a_record_without_skills_is_named(tmp_path):
    pool = _world(tmp_path, [{"id": "a", "object": ["red circle"]}, {"id": "b", "object": []}])
    records = [{"id": "a", "skills": ["shape"]}, {"id": "b", "conversations": []}]
    with pytest.raises(GroundTruthError, match=r"record 'b' \(position 1\).*no 'skills'") as err:
        record_cells(records, pool)
    assert "\n" not in str(err.value)


def test_a_record_missing_from_the_entities_is_named(tmp_path):
    pool = _world(tmp_path, [{"id": "a", "object": ["red circle"]}])
    records = [{"id": "a", "skills": ["shape"]}, {"id": "zz", "skills": ["shape"]}]
    with pytest.raises(GroundTruthError, match=r"record 'zz' \(position 1\).*no row in"):
        record_cells(records, pool)


def test_a_pool_without_entities_names_its_first_record(tmp_path):
    records = [{"id": "llava-1", "conversations": []}]
    with pytest.raises(GroundTruthError, match="record 'llava-1' .*needs a ToyWorld pool"):
        record_cells(records, tmp_path / "pool.json")
    records = [{"id": "llava-2", "skills": ["caption"]}]
    with pytest.raises(GroundTruthError, match=r"record 'llava-2' .*\(no .*entities.jsonl\)"):
        record_cells(records, tmp_path / "pool.json")


def test_a_malformed_entities_row_names_its_line(tmp_path):
    pool = _world(tmp_path, [{"id": "a", "object": ["red circle"]}, {"id": "b"}])
    with pytest.raises(GroundTruthError, match=r"entities.jsonl:2: not a ToyWorld entities row"):
        record_cells([{"id": "a", "skills": ["shape"]}], pool)


def test_a_line_that_is_no_json_names_its_line(tmp_path):
    (tmp_path / "entities.jsonl").write_text('{"id": "a", "object": []}\n{oops\n', encoding="utf-8")
    with pytest.raises(GroundTruthError, match=r"entities.jsonl:2: not a ToyWorld entities row"):
        record_cells([{"id": "a", "skills": ["shape"]}], tmp_path / "pool.json")
