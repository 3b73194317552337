"""LLaVA records: streaming readers, every validation reason, policies, writers, stats."""

from __future__ import annotations

import io
import json
import os
import pickle
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.data.jsonstream import JsonStreamError, iter_json_array
from curation.data.limits import RecordLimits
from curation.data.records import (
    REASONS,
    Malformed,
    PoolFormatError,
    Problem,
    RecordError,
    RecordRules,
    format_stats,
    iter_records,
    iter_valid_records,
    load_records,
    pool_stats,
    record_images,
    validate_record,
    write_records,
)

DROP = object()  # a field value meaning "leave the key out"


def human(value: object) -> dict:
    return {"from": "human", "value": value}


def gpt(value: object) -> dict:
    return {"from": "gpt", "value": value}


def bad(**fields: object) -> bytes:
    """Raw bytes of a valid text-only record with id 'bad', changed by `fields`."""
    record = {"id": "bad", "conversations": [human("Hi"), gpt("Hello")], **fields}
    return json.dumps({key: value for key, value in record.items() if value is not DROP}).encode()


def bad_image(name: object) -> bytes:
    return bad(image=name, conversations=[human("<image>\nHi"), gpt("Hello")])


def two_images(first: str, second: str) -> bytes:
    turns = [human("<image>\nHi"), gpt("Hello"), human("And <image>?"), gpt("Same")]
    return bad(image=[first, second], conversations=turns)


GOOD_FIRST = {
    "id": "g0",
    "image": "ok.png",
    "conversations": [human("<image>\nWhat?"), gpt("A cat.")],
}
GOOD_LAST = {"id": "g2", "conversations": [human("Hi"), gpt("Hello")], "source": "extra"}
GOOD = json.dumps(GOOD_LAST).encode()

# (case, reason, the bad record's raw bytes, how the error message shows its id)
CASES = [
    ("not_object", "not_object", b'["a", "list"]', "?"),
    ("missing_id", "missing_id", bad(id=DROP), "?"),
    ("empty_id", "missing_id", bad(id=""), "''"),
    ("non_string_id", "non_string_id", bad(id=7), "7"),
    ("duplicate_id", "duplicate_id", bad(id="g0"), "'g0'"),
    ("conversations_missing", "conversations_missing", bad(conversations=DROP), "'bad'"),
    ("conversations_not_list", "conversations_not_list", bad(conversations="hi"), "'bad'"),
    ("conversations_empty", "conversations_empty", bad(conversations=[]), "'bad'"),
    ("turn_not_object", "turn_not_object", bad(conversations=[human("a"), "b"]), "'bad'"),
    ("unknown_role", "unknown_role", bad(conversations=[human("a"), {"from": "sys"}]), "'bad'"),
    ("missing_role", "unknown_role", bad(conversations=[{"value": "a"}, gpt("b")]), "'bad'"),
    ("gpt_first", "roles_not_alternating", bad(conversations=[gpt("a"), human("b")]), "'bad'"),
    ("two_humans", "roles_not_alternating", bad(conversations=[human("a"), human("b")]), "'bad'"),
    ("no_gpt_turn", "no_gpt_turn", bad(conversations=[human("Hi")]), "'bad'"),
    ("non_string_value", "non_string_value", bad(conversations=[human("a"), gpt(3)]), "'bad'"),
    ("no_value", "non_string_value", bad(conversations=[human("a"), {"from": "gpt"}]), "'bad'"),
    ("image_no_token", "image_token_count", bad(image="ok.png"), "'bad'"),
    (
        "image_two_tokens",
        "image_token_count",
        bad(image="ok.png", conversations=[human("<image>"), gpt("<image>")]),
        "'bad'",
    ),
    ("text_token", "image_token_count", bad(conversations=[human("<image>"), gpt("a")]), "'bad'"),
    ("non_string_image", "non_string_image", bad_image(5), "'bad'"),
    ("image_list_of_numbers", "non_string_image", bad_image([5]), "'bad'"),
    ("image_empty_list", "non_string_image", bad_image([]), "'bad'"),
    ("images_one_token", "image_token_count", bad_image(["ok.png", "ok.png"]), "'bad'"),
    (
        "images_three_tokens",
        "image_token_count",
        bad(image=["ok.png", "ok.png"], conversations=[human("<image><image>"), gpt("<image>")]),
        "'bad'",
    ),
    ("second_image_missing", "image_missing", two_images("ok.png", "nope.png"), "'bad'"),
    ("second_image_unreadable", "image_unreadable", two_images("ok.png", "garbage.png"), "'bad'"),
    ("second_image_outside", "image_outside_root", two_images("ok.png", "../x.png"), "'bad'"),
    ("image_missing", "image_missing", bad_image("nope.png"), "'bad'"),
    ("image_empty", "image_empty", bad_image("empty.png"), "'bad'"),
    ("image_unreadable", "image_unreadable", bad_image("garbage.png"), "'bad'"),
    ("invalid_utf8", "invalid_utf8", bad(source="caf@").replace(b"caf@", b"caf\xe9"), "'bad'"),
    ("malformed_json", "malformed_json", b'{"id": "bad", "conversations": [', "?"),
    ("too_deep", "too_deep", bad(extra=json.loads("[" * 40 + "]" * 40)), "'bad'"),
    (
        "too_deep_for_json",
        "too_deep",
        b'{"id": "bad", "x": ' + b"[" * 10**5 + b"]" * 10**5 + b"}",
        "?",
    ),
    ("too_many_turns", "too_many_turns", bad(conversations=[human("a"), gpt("b")] * 501), "'bad'"),
    (
        "turn_too_long",
        "turn_too_long",
        bad(conversations=[human("a" * 100_001), gpt("b")]),
        "'bad'",
    ),
    ("image_dot_dot", "image_outside_root", bad_image("../images/ok.png"), "'bad'"),
    ("image_absolute", "image_outside_root", bad_image("/etc/passwd"), "'bad'"),
    ("image_too_large", "image_too_large", bad_image("huge.png"), "'bad'"),
]


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    Image.new("RGB", (4, 4), "red").save(root / "ok.png")
    (root / "empty.png").write_bytes(b"")
    (root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n but then nothing sensible" * 3)
    (root / "huge.png").write_bytes(png_header(9000, 9000))
    return root


def png_header(width: int, height: int) -> bytes:
    """The first bytes of a PNG of this size: enough for PIL to read its size, no pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    size = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", size) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def write_pool(path: Path, raw_records: list[bytes]) -> Path:
    """A pool file from raw record bytes, so that tests control every byte."""
    if path.suffix == ".json":
        path.write_bytes(b"[\n" + b",\n".join(raw_records) + b"\n]\n")
    else:
        path.write_bytes(b"\n".join(raw_records) + b"\n")
    return path


def encode(record: dict) -> bytes:
    return json.dumps(record).encode()


def test_cases_cover_every_reason() -> None:
    assert {reason for _, reason, _, _ in CASES} == set(REASONS)


# A syntax error inside a .json list is a file-level error, tested further down.
SUFFIXED_CASES = [
    pytest.param(suffix, reason, raw, shown_id, id=f"{case}{suffix}")
    for case, reason, raw, shown_id in CASES
    for suffix in (".json", ".jsonl")
    if (reason, suffix) != ("malformed_json", ".json")
]


@pytest.mark.parametrize(("suffix", "reason", "raw", "shown_id"), SUFFIXED_CASES)
def test_each_reason_raises_or_is_skipped(
    tmp_path: Path, image_root: Path, suffix: str, reason: str, raw: bytes, shown_id: str
) -> None:
    pool = write_pool(tmp_path / f"pool{suffix}", [encode(GOOD_FIRST), raw, encode(GOOD_LAST)])

    with pytest.raises(RecordError) as caught:
        load_records(pool, image_root=image_root)
    message = str(caught.value)
    assert message.startswith(f"{pool}: record 1 (id={shown_id}): {reason}: ")
    assert "\n" not in message
    assert (caught.value.position, caught.value.problem.reason) == (1, reason)

    result = load_records(pool, image_root=image_root, on_error="skip")
    assert result.records == [GOOD_FIRST, GOOD_LAST]
    assert result.positions.dtype == np.int64
    assert result.positions.tolist() == [0, 2]
    assert result.skipped == {reason: 1}
    assert result.n_read == 3


def test_record_error_message_is_exact(tmp_path: Path) -> None:
    raw = bad(id="000123", conversations=[human("a"), human("b")])
    pool = write_pool(tmp_path / "pool.json", [encode(GOOD_FIRST), raw])
    with pytest.raises(RecordError) as caught:
        load_records(pool)
    assert str(caught.value) == (
        f"{pool}: record 1 (id='000123'): roles_not_alternating: "
        "turn 2 is 'human' but 'gpt' was expected"
    )
    assert isinstance(caught.value, ValueError)
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)


def test_image_files_are_checked_only_with_an_image_root(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.json", [bad_image("nope.png")])
    assert load_records(pool).n_read == 1
    assert load_records(pool).skipped == {}
    assert load_records(pool, image_root=tmp_path, on_error="skip").skipped == {"image_missing": 1}


def test_skip_counts_each_bad_record_once_by_its_first_problem(tmp_path: Path) -> None:
    raws = [
        encode(GOOD_FIRST),
        bad(id=7, conversations=[human("a")]),  # non_string_id and no_gpt_turn
        b"3",
        encode(GOOD_FIRST),  # duplicate of record 0
        b"null",
        encode(GOOD_LAST),
        encode(GOOD_FIRST),  # duplicate again
    ]
    result = load_records(write_pool(tmp_path / "pool.jsonl", raws), on_error="skip")
    assert result.skipped == {"not_object": 2, "non_string_id": 1, "duplicate_id": 2}
    assert result.positions.tolist() == [0, 5]
    assert result.n_read == 7


def test_validate_record_lists_problems_in_order() -> None:
    record = {"id": 7, "conversations": [human("a")], "image": 3}
    assert [p.reason for p in validate_record(record)] == [
        "non_string_id",
        "no_gpt_turn",
        "non_string_image",
    ]
    assert validate_record(GOOD_FIRST) == []
    broken = {**GOOD_LAST, "conversations": [human("a"), gpt("caf\udce9")]}
    (problem,) = validate_record(broken)
    assert problem.reason == "invalid_utf8" and problem.detail.startswith("conversations[1].value ")
    assert validate_record(Malformed("line 3")) == [Problem("malformed_json", "line 3")]


def test_duplicate_ids_count_from_invalid_records_too(tmp_path: Path) -> None:
    first = bad(id="x", conversations=[])
    second = bad(id="x")
    result = load_records(write_pool(tmp_path / "p.json", [first, second]), on_error="skip")
    assert result.skipped == {"conversations_empty": 1, "duplicate_id": 1}


def test_jsonl_blank_lines_and_a_bom_are_ignored(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_bytes(
        b"\xef\xbb\xbf\n  \n" + encode(GOOD_FIRST) + b"\r\n\n\t\n" + encode(GOOD_LAST) + b"\n\n"
    )
    result = load_records(pool)
    assert result.records == [GOOD_FIRST, GOOD_LAST]
    assert result.positions.tolist() == [0, 1]


def test_iter_records_yields_raw_values_and_malformed_lines(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"a": 1}\n[2]\nnot json\n', encoding="utf-8")
    items = list(iter_records(pool))
    assert items[:2] == [(0, {"a": 1}), (1, [2])]
    assert items[2][0] == 2 and isinstance(items[2][1], Malformed)
    assert "line 3" in items[2][1].detail


def test_extra_keys_and_key_order_are_preserved(tmp_path: Path) -> None:
    record = {
        "zeta": 1,
        "id": "a",
        "meta": {"b": [1, 2]},
        "conversations": GOOD_LAST["conversations"],
    }
    for suffix in (".json", ".jsonl"):
        (loaded,) = load_records(write_pool(tmp_path / f"p{suffix}", [encode(record)])).records
        assert list(loaded) == ["zeta", "id", "meta", "conversations"]
        assert loaded == record


def test_json_and_jsonl_round_trip_with_identical_bytes(tmp_path: Path) -> None:
    records = [
        GOOD_FIRST,
        {"id": "ü-1", "conversations": [human("Grüße, 世界 😀"), gpt('quote " and \\')], "x": None},
        GOOD_LAST,
    ]
    for suffix in (".json", ".jsonl"):
        first = tmp_path / f"first{suffix}"
        assert write_records(first, records) == 3
        loaded = load_records(first).records
        assert loaded == records
        second = tmp_path / f"second{suffix}"
        write_records(second, iter(loaded))
        assert second.read_bytes() == first.read_bytes()
    text = (tmp_path / "first.json").read_text(encoding="utf-8")
    assert json.loads(text) == records  # a plain JSON list, as LLaVA's train.py expects
    assert "世界" in text and text.count("\n") == len(records) + 2
    write_records(tmp_path / "empty.json", [])
    assert load_records(tmp_path / "empty.json").records == []


def test_write_failure_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    def records_then_crash():
        yield GOOD_FIRST
        yield GOOD_LAST
        raise RuntimeError("killed half-way")

    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError, match="half-way"):
        write_records(target, records_then_crash())
    assert os.listdir(tmp_path) == []

    write_records(target, [GOOD_LAST])
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        write_records(target, records_then_crash())
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.json"]
    with pytest.raises(PoolFormatError, match="out.txt: unsupported suffix"):
        write_records(tmp_path / "out.txt", [GOOD_LAST])


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("pool.txt", b"[]", "unsupported suffix '.txt'"),
        ("pool.json", b'{"id": "a"}', "top level is not a JSON array (found '{')"),
        ("pool.json", b"", "found an empty file"),
        ("pool.json", b"[" + GOOD + b"] trailing", "extra data after the closing ']'"),
        ("pool.json", b"[" + GOOD + b", \xff]", "Expecting value at char"),
        ("missing.json", None, "no such file"),
    ],
)
def test_file_level_errors_name_the_path(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    for on_error in ("raise", "skip"):
        with pytest.raises(PoolFormatError) as caught:
            load_records(path, on_error=on_error)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_json_syntax_error_midway_names_offset_and_record(tmp_path: Path) -> None:
    good = b",\n".join(encode({**GOOD_LAST, "id": str(i)}) for i in range(3))
    broken = b'{"id": "3", "conversations" []}'
    path = tmp_path / "pool.json"
    path.write_bytes(b"[\n" + good + b",\n" + broken + b"\n]")
    column = broken.index(b"[") + 1
    offset = len(b"[\n" + good + b",\n") + column - 1
    with pytest.raises(PoolFormatError) as caught:
        list(iter_valid_records(path, on_error="skip"))
    assert str(caught.value) == (
        f"{path}: Expecting ':' delimiter at char {offset} (line 5, column {column})"
        " while reading record 3"
    )


def test_unknown_on_error_names_the_valid_choices(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.json", [encode(GOOD_LAST)])
    for call in (load_records, iter_valid_records):
        with pytest.raises(ValueError, match="'ignore'.*raise, skip"):
            call(pool, on_error="ignore")


def test_iter_valid_records_streams_and_reports_skips(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "pool.jsonl", [encode(GOOD_LAST), b"[]", b"{", encode(GOOD_FIRST)])
    stream = iter_valid_records(pool, on_error="skip")
    assert [(position, record["id"]) for position, record in stream] == [(0, "g2"), (3, "g0")]
    assert stream.skipped == {"not_object": 1, "malformed_json": 1}
    assert stream.n_read == 4
    assert len(list(stream)) == 2 and stream.n_read == 4  # a second pass starts afresh


def test_progress_bar_reports_records_per_second(tmp_path: Path, capsys) -> None:
    pool = write_pool(tmp_path / "pool.json", [encode(GOOD_LAST)])
    load_records(pool, progress=True)
    assert "records/s" in capsys.readouterr().err


def test_streaming_a_large_json_list_keeps_memory_small(tmp_path: Path) -> None:
    # tracemalloc slows every allocation, so: fewer, longer records than LLaVA's
    template = json.dumps({"id": "ID", "conversations": [human("question"), gpt("answer " * 24)]})
    records = (template.replace('"ID"', f'"{i:06d}"') for i in range(30_000))
    path = tmp_path / "big.json"
    path.write_text("[\n" + ",\n".join(records) + "\n]\n", encoding="utf-8")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        n_read = sum(1 for _ in iter_records(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n_read == 30_000
    assert peak < size / 10, f"peak {peak} bytes while reading a {size}-byte file"


@pytest.mark.parametrize("chunk_chars", [1, 2, 3, 5, 8, 13, 1 << 16])
def test_json_array_parser_is_independent_of_chunk_boundaries(chunk_chars: int) -> None:
    values = [
        12345678901234567890,
        -1.5e10,
        1.25,
        1e-7,
        0,
        True,
        False,
        None,
        'a"b\\ \u00e9 😀',
        {"nested": [1, {"y": "\n"}], "empty": {}},
        [],
        "",
    ]
    text = " [\n" + ",  \n".join(json.dumps(v) for v in values) + "\n] \n"
    parsed = [value for _, value in iter_json_array(io.StringIO(text), chunk_chars)]
    assert parsed == values
    broken = text.replace('"empty"', '"empty" 1')
    expected = pytest.raises(json.JSONDecodeError, json.loads, broken).value
    with pytest.raises(JsonStreamError) as caught:
        list(iter_json_array(io.StringIO(broken), chunk_chars))
    error = caught.value
    assert (error.offset, error.line, error.column) == (
        expected.pos,
        expected.lineno,
        expected.colno,
    )
    assert error.position == 9


def test_multi_image_records_are_valid_with_one_token_per_image(image_root: Path) -> None:
    Image.new("RGB", (6, 3), "blue").save(image_root / "b.png")
    record = json.loads(two_images("ok.png", "b.png"))
    assert validate_record(record, image_root) == []
    assert record_images(record) == ["ok.png", "b.png"]
    assert record_images(GOOD_FIRST) == ["ok.png"] and record_images(GOOD_LAST) == []
    (problem,) = validate_record({**record, "image": ["ok.png"] * 3}, image_root)
    assert problem == Problem(
        "image_token_count", "record has 3 images and 2 '<image>' tokens; expected 3"
    )


def test_pool_stats_count_images_per_record() -> None:
    multi = {
        "id": "m",
        "image": ["a.png", "b.png", "ok.png"],
        "conversations": [human("x"), gpt("y")],
    }
    stats = pool_stats([GOOD_FIRST, multi, GOOD_LAST])
    assert (stats["n_with_image"], stats["n_multi_image"], stats["n_text_only"]) == (2, 1, 1)
    assert (stats["n_images"], stats["n_unique_images"]) == (4, 3)
    assert stats["images_per_record"]["max"] == 3
    assert stats["images_per_record"]["mean"] == pytest.approx(4 / 3)
    rows = {
        line.rsplit(None, 1)[0].strip(): line.split()[-1]
        for line in format_stats(stats).splitlines()[:7]
    }
    assert (rows["multi-image"], rows["images"]) == ("1", "4")
    assert any(
        line.split()[:3] == ["images", "/", "record"] for line in format_stats(stats).splitlines()
    )


def test_pool_stats_in_one_pass_and_as_a_table() -> None:
    records = [
        GOOD_FIRST,
        {**GOOD_FIRST, "id": "g1"},
        {"id": "t", "conversations": [human("one two three"), gpt("a b"), human("x"), gpt("")]},
    ]
    stats = pool_stats(record for record in records)
    assert stats["n_records"] == 3
    assert (stats["n_with_image"], stats["n_text_only"], stats["n_unique_images"]) == (2, 1, 1)
    assert stats["n_turns"] == 8
    assert stats["turns_per_record"]["max"] == 4
    assert stats["turns_per_record"]["mean"] == pytest.approx(8 / 3)
    # human turns have 2, 2, 3 and 1 words
    assert stats["human_words_per_turn"] == {
        "mean": 2.0,
        "p50": 2.0,
        "p95": pytest.approx(2.85),
        "max": 3,
    }
    assert stats["gpt_words_per_turn"]["max"] == 2
    table = format_stats(stats)
    lines = table.splitlines()
    assert lines[0].split() == ["records", "3"]
    assert any(line.split()[:4] == ["human", "words", "/", "turn"] for line in lines)
    assert len({len(line) for line in lines[:5]}) == 1  # counts right-aligned
    assert len({len(line) for line in lines[-4:]}) == 1  # header and distributions too
    assert pool_stats([])["n_records"] == 0 and "records" in format_stats(pool_stats([]))


# --- image paths and caps (RecordRules) --------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../images/ok.png", "../images/nope.png", "/tmp/ok.png", "a/../../images/ok.png"]
)
def test_outside_image_paths_are_refused_without_touching_the_file(
    tmp_path: Path, image_root: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = write_pool(tmp_path / "pool.jsonl", [bad_image(name)])

    stat = Path.stat

    def no_image_access(path: Path, *args: object, **kwargs: object) -> object:
        if Path(path).suffix == ".png":
            raise AssertionError(f"the file system was asked about {path}")
        return stat(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", no_image_access)
    monkeypatch.setattr(Path, "stat", no_image_access)
    with pytest.raises(RecordError) as caught:
        load_records(pool, image_root=image_root)
    assert caught.value.problem.reason == "image_outside_root"
    # the message is the same whether the file exists or not
    assert str(caught.value).endswith(
        f"image path {name!r} is absolute or has a '..' component; "
        "image_paths=inside refuses it (image_paths=any allows it)"
    )
    assert load_records(pool, on_error="skip").skipped == {"image_outside_root": 1}


def test_image_paths_any_opens_paths_as_given(tmp_path: Path, image_root: Path) -> None:
    record = {**GOOD_FIRST, "image": str(image_root / "ok.png")}
    dotted = {**GOOD_FIRST, "id": "g1", "image": "../images/ok.png"}
    pool = write_pool(tmp_path / "pool.json", [encode(record), encode(dotted)])
    loaded = load_records(pool, image_root=image_root, rules=RecordRules(image_paths="any"))
    assert loaded.records == [record, dotted]


def test_inside_refuses_dot_dot_even_when_it_stays_under_the_root(image_root: Path) -> None:
    (image_root / "sub").symlink_to(image_root.parent.parent, target_is_directory=True)
    record = {**GOOD_FIRST, "image": "sub/../ok.png"}  # the kernel would leave the root here
    assert [p.reason for p in validate_record(record, image_root)] == ["image_outside_root"]
    assert validate_record({**GOOD_FIRST, "image": "./ok.png"}, image_root) == []


def test_own_image_dirs_admit_absolute_paths_only_inside_them(tmp_path: Path) -> None:
    own = tmp_path / "subset.work"
    (own / "images").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(own / "images" / "s.png")
    rules = RecordRules(own_image_dirs=(str(own),))
    inside = {**GOOD_FIRST, "image": str(own / "images" / "s.png")}
    assert validate_record(inside, tmp_path, rules) == []
    for escaped in (str(own / ".." / "x.png"), str(tmp_path / "subset.work2" / "x.png")):
        (problem,) = validate_record({**GOOD_FIRST, "image": escaped}, tmp_path, rules)
        assert problem.reason == "image_outside_root"


def test_limits_are_configurable(image_root: Path) -> None:
    def reasons(record: dict, **limits: int) -> list[str]:
        rules = RecordRules(limits=RecordLimits(**limits))
        return [p.reason for p in validate_record(record, image_root, rules)]

    four = {"id": "t", "conversations": [human("a"), gpt("bb"), human("c"), gpt("d")]}
    assert reasons(four, max_turns=3) == ["too_many_turns"]
    assert reasons(four, max_turns=4) == []
    assert reasons(four, max_turn_chars=1) == ["turn_too_long"]
    (problem,) = validate_record(four, rules=RecordRules(limits=RecordLimits(max_turn_chars=1)))
    assert problem.detail == "turn 2 has 2 characters; the limit is 1 (limits.max_turn_chars)"
    assert reasons(four, max_json_depth=2) == ["too_deep"]  # record > conversations > turn
    assert reasons(four, max_json_depth=3) == []
    assert reasons(GOOD_FIRST, max_image_pixels=15) == ["image_too_large"]  # 4 x 4
    assert reasons(GOOD_FIRST, max_image_pixels=16) == []


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_json_too_deep_for_the_decoder_is_one_line_or_a_counted_skip(
    tmp_path: Path, suffix: str
) -> None:
    level = b'{"a": "]}\\"[", "b": ['  # brackets inside strings must not end the skip early
    bomb = b'{"id": "bomb", "x": ' + level * 50_000 + b"]}" * 50_000 + b"}"
    json.loads(b"[" + level * 10 + b"]}" * 10 + b"]")  # well-formed, only deep
    pool = write_pool(tmp_path / f"pool{suffix}", [encode(GOOD_FIRST), bomb, encode(GOOD_LAST)])
    with pytest.raises(RecordError) as caught:
        load_records(pool)
    assert caught.value.problem.reason == "too_deep" and "\n" not in str(caught.value)
    result = load_records(pool, on_error="skip")
    assert result.records == [GOOD_FIRST, GOOD_LAST] and result.skipped == {"too_deep": 1}
