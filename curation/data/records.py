"""LLaVA conversation records: stream, validate, write and summarize JSON/JSONL pools.

A pool is a `.json` list or a `.jsonl` file of records
`{"id": str, "image"?: str, "conversations": [{"from": "human"|"gpt", "value": str}, ...]}`;
extra keys are kept. "image" may be a list of paths too (LLaVA-OneVision's multi-image
records), with as many `<image>` tokens in the turns, in the same order; `record_images` reads
either form. Video is not a record kind. Record positions count records from 0 (JSONL:
non-blank lines); turns in messages count from 1. A table pool (parquet/arrow shards, one
file or a folder) is read row by row into the same records (curation.data.tablepool).
"""

from __future__ import annotations

import json
import logging
import os
import re
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from configs.errors import UserError
from curation.data.fileio import atomic_open
from curation.data.jsonstream import JsonStreamError, TooDeep, iter_json_array
from curation.data.limits import RecordLimits
from curation.data.messages import IMAGE_TOKEN
from curation.data.tablepool import TABLE_SUFFIXES, is_table_pool, iter_table_records

log = logging.getLogger(__name__)

REASONS = (
    "not_object",
    "missing_id",
    "non_string_id",
    "duplicate_id",
    "conversations_missing",
    "conversations_not_list",
    "conversations_empty",
    "turn_not_object",
    "unknown_role",
    "roles_not_alternating",
    "no_gpt_turn",
    "non_string_value",
    "image_token_count",
    "non_string_image",
    "image_missing",
    "image_empty",
    "image_unreadable",
    "invalid_utf8",
    "malformed_json",
    "too_deep",
    "too_many_turns",
    "turn_too_long",
    "image_outside_root",
    "image_too_large",
)
ON_ERROR = ("raise", "skip")
IMAGE_PATHS = ("inside", "any")
ROLES = ("human", "gpt")
SUFFIXES = (".json", ".jsonl")
_SURROGATE = re.compile("[\ud800-\udfff]")  # what undecodable bytes become (surrogateescape)
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=repr)

PathLike = str | os.PathLike


class PoolFormatError(UserError, ValueError):
    """The pool file as a whole cannot be read: missing, wrong suffix, not a JSON list."""


class RecordError(UserError, ValueError):
    """One record is invalid; the message is one line naming path, position, id and reason."""

    def __init__(self, path: PathLike, position: int, record_id: Any, problem: Problem) -> None:
        self.path, self.position, self.record_id, self.problem = path, position, record_id, problem
        shown = "?" if record_id is None else _short_repr(record_id)
        message = f"{path}: record {position} (id={shown}): {problem.reason}: {problem.detail}"
        super().__init__(" ".join(message.splitlines()))

    def __reduce__(self) -> tuple[Any, ...]:  # keeps it picklable across processes
        return type(self), (self.path, self.position, self.record_id, self.problem)


@dataclass(frozen=True)
class Problem:
    reason: str  # one of REASONS
    detail: str


@dataclass(frozen=True)
class Malformed:
    """Stands in for a record that cannot be decoded: a JSONL line that is not valid JSON, or
    one nested too deep for the decoder (reason "too_deep")."""

    detail: str
    reason: str = "malformed_json"


@dataclass(frozen=True)
class RecordRules:
    """What a valid record may hold beyond the LLaVA format: where its image may live, caps.

    image_paths="inside": an image path must be relative and free of ".." components
    ("/b", "../b" and even "a/../b" are refused: the kernel resolves "a/.." through a symlink
    `a`, so a path that stays inside on paper can leave the root on disk). Symlinks themselves
    are followed, so symlinked image folders keep working. The check reads the path's text
    only, never the file system, so its error says nothing about which files exist.
    "any": paths are used as given (LLaVA layouts with absolute paths). Absolute paths inside
    `own_image_dirs` pass under "inside" too: a subset's synthetic images, written by
    curation beside the subset.
    """

    image_paths: str = "inside"
    limits: RecordLimits = field(default_factory=RecordLimits)
    own_image_dirs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.image_paths not in IMAGE_PATHS:
            raise ValueError(f"image_paths={self.image_paths!r} is not one of inside, any")
        dirs = {os.path.normpath(os.path.abspath(d)) for d in self.own_image_dirs}
        dirs |= {os.path.realpath(d) for d in self.own_image_dirs}  # writers resolve() theirs
        object.__setattr__(self, "own_image_dirs", tuple(sorted(dirs)))


@dataclass
class LoadResult:
    records: list[dict[str, Any]]
    positions: np.ndarray  # int64 positions of `records` in the pool file
    skipped: dict[str, int]  # reason -> count, non-zero only
    n_read: int


# --- reading ---------------------------------------------------------------------------------


def iter_records(path: PathLike) -> Iterator[tuple[int, Any]]:
    """Yield (position, decoded value) for every record, unvalidated; JSONL lines that are
    not JSON come as `Malformed`. File-level problems raise `PoolFormatError` at once."""
    path = _pool_path(path)
    if is_table_pool(path):
        return iter_table_records(path)
    return _read_jsonl(path) if path.suffix == ".jsonl" else _read_json(path)


def _pool_path(path: PathLike) -> Path:
    path = Path(path)
    if path.is_dir():
        if not is_table_pool(path):
            raise PoolFormatError(f"{path}: a folder without .parquet or .arrow files")
        return path
    if path.suffix not in SUFFIXES + TABLE_SUFFIXES:
        raise PoolFormatError(
            f"{path}: unsupported suffix {path.suffix!r}; use .json, .jsonl, .parquet, .arrow "
            "or a folder of parquet shards"
        )
    if not path.is_file():
        raise PoolFormatError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    return path


def _open_text(path: Path, newline: str) -> IO[str]:
    try:
        return open(path, encoding="utf-8-sig", errors="surrogateescape", newline=newline)
    except OSError as err:
        raise PoolFormatError(f"{path}: cannot open: {err.strerror}") from None


def _read_json(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path, newline="") as handle:
        try:
            for position, value in iter_json_array(handle):
                if isinstance(value, TooDeep):
                    value = Malformed(value.detail, "too_deep")
                yield position, value
        except JsonStreamError as err:
            raise PoolFormatError(f"{path}: {err}") from None


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    with _open_text(path, newline="\n") as handle:  # a record ends at "\n" only
        position = 0
        for line_no, line in enumerate(handle, start=1):
            if not line.strip(" \t\r\n"):
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                value = Malformed(f"line {line_no}, column {err.colno}: {err.msg}")
            except RecursionError:
                value = Malformed(f"line {line_no}: {TooDeep().detail}", "too_deep")
            yield position, value
            position += 1


# --- validation ------------------------------------------------------------------------------


def validate_record(
    record: Any, image_root: PathLike | None = None, rules: RecordRules | None = None
) -> list[Problem]:
    """Problems of one record, most fundamental first; [] if it is valid.

    Files behind "image" are checked only when `image_root` is given; where the path points
    (`rules.image_paths`) is checked always. Duplicate ids are a pool-level problem: see
    `PoolValidator`.
    """
    rules = rules or RecordRules()
    if isinstance(record, Malformed):
        return [Problem(record.reason, record.detail)]
    if not isinstance(record, dict):
        return [Problem("not_object", f"expected a JSON object, got {_kind(record)}")]
    if _deeper_than(record, rules.limits.max_json_depth):
        detail = f"JSON nesting deeper than {rules.limits.max_json_depth} levels"
        return [Problem("too_deep", detail)]  # the other checks would walk all of it
    problems = [*_check_id(record), *_check_conversations(record, rules.limits)]
    problems += _check_image(record, image_root, rules)
    location = _find_surrogate(record)
    if location is not None:
        problems.append(Problem("invalid_utf8", f"{location} holds bytes that are not UTF-8"))
    return problems


class PoolValidator:
    """`validate_record` plus duplicate ids: every occurrence after the first is a problem.

    Ids count from any record that has a string id, valid or not; only the ids are kept.
    """

    def __init__(
        self, image_root: PathLike | None = None, rules: RecordRules | None = None
    ) -> None:
        self.image_root, self.rules = image_root, rules or RecordRules()
        self._seen: set[str] = set()

    def check(self, record: Any) -> list[Problem]:
        problems = validate_record(record, self.image_root, self.rules)
        record_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(record_id, str) and record_id:
            if record_id in self._seen:
                detail = f"id {_short_repr(record_id)} is used by an earlier record"
                problems.insert(0, Problem("duplicate_id", detail))
            self._seen.add(record_id)
        return problems


def _check_id(record: dict[str, Any]) -> list[Problem]:
    if "id" not in record:
        return [Problem("missing_id", "record has no 'id'")]
    if record["id"] == "":
        return [Problem("missing_id", "'id' is empty")]
    if not isinstance(record["id"], str):
        return [Problem("non_string_id", f"'id' is {_kind(record['id'])}, not a string")]
    return []


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _check_conversations(record: dict[str, Any], limits: RecordLimits) -> list[Problem]:
    if "conversations" not in record:
        return [Problem("conversations_missing", "record has no 'conversations'")]
    turns = record["conversations"]
    if not isinstance(turns, list):
        return [Problem("conversations_not_list", f"'conversations' is {_kind(turns)}, not a list")]
    if not turns:
        return [Problem("conversations_empty", "'conversations' is an empty list")]
    if len(turns) > limits.max_turns:
        detail = f"{len(turns)} turns; the limit is {limits.max_turns} (limits.max_turns)"
        return [Problem("too_many_turns", detail)]
    for number, turn in enumerate(turns, start=1):
        problem = _check_turn(number, turn, limits)
        if problem is not None:
            return [problem]
    if not any(turn["from"] == "gpt" for turn in turns):
        return [Problem("no_gpt_turn", "the conversation has no 'gpt' turn to learn from")]
    n_tokens = sum(turn["value"].count(IMAGE_TOKEN) for turn in turns)
    image = record.get("image")
    if isinstance(image, list) and image and n_tokens != len(image):
        detail = f"record has {len(image)} images and {n_tokens} {IMAGE_TOKEN!r} tokens"
        return [Problem("image_token_count", f"{detail}; expected {len(image)}")]
    if "image" in record and not isinstance(image, list) and n_tokens != 1:
        detail = f"record has an image and {n_tokens} {IMAGE_TOKEN!r} tokens; expected 1"
        return [Problem("image_token_count", detail)]
    if "image" not in record and n_tokens:
        detail = f"text-only record has {n_tokens} {IMAGE_TOKEN!r} token(s); expected 0"
        return [Problem("image_token_count", detail)]
    return []


def _check_turn(number: int, turn: Any, limits: RecordLimits) -> Problem | None:
    if not isinstance(turn, dict):
        return Problem("turn_not_object", f"turn {number} is {_kind(turn)}, not an object")
    if "from" not in turn:
        return Problem("unknown_role", f"turn {number} has no 'from'")
    role = turn["from"]
    if not isinstance(role, str) or role not in ROLES:
        detail = f"turn {number} is from {_short_repr(role)}, not 'human' or 'gpt'"
        return Problem("unknown_role", detail)
    expected = ROLES[(number - 1) % 2]
    if role != expected:
        detail = f"turn {number} is {role!r} but {expected!r} was expected"
        return Problem("roles_not_alternating", detail)
    if not isinstance(turn.get("value"), str):
        what = "has no 'value'" if "value" not in turn else f"'value' is {_kind(turn['value'])}"
        return Problem("non_string_value", f"turn {number} {what}, not a string")
    if len(turn["value"]) > limits.max_turn_chars:
        detail = (
            f"turn {number} has {len(turn['value']):,} characters; the limit is "
            f"{limits.max_turn_chars:,} (limits.max_turn_chars)"
        )
        return Problem("turn_too_long", detail)
    return None


def image_path_problem(image: str, rules: RecordRules) -> Problem | None:
    """`image_outside_root` when `rules` do not let a record name this image path; decided on
    the path's text alone (see `RecordRules`)."""
    if rules.image_paths == "any" or _confined(image, rules.own_image_dirs):
        return None
    detail = (
        f"image path {_short_repr(image)} is absolute or has a '..' component; "
        "image_paths=inside refuses it (image_paths=any allows it)"
    )
    return Problem("image_outside_root", detail)


def _confined(image: str, own_dirs: tuple[str, ...]) -> bool:
    if os.pardir in image.split(os.sep):
        return False
    if os.path.isabs(image):
        return any(os.path.normpath(image).startswith(os.path.join(d, "")) for d in own_dirs)
    return True


def record_images(record: Mapping[str, Any]) -> list[str]:
    """The image paths of a valid record in `<image>` token order: [] for a text-only record,
    one for LLaVA's "image": "path", all of them for a multi-image "image": [paths]."""
    image = record.get("image")
    if image is None:
        return []
    return list(image) if isinstance(image, list) else [image]


def _check_image(
    record: dict[str, Any], image_root: PathLike | None, rules: RecordRules
) -> list[Problem]:
    if "image" not in record:
        return []
    image = record["image"]
    if isinstance(image, list):
        if not image:
            return [Problem("non_string_image", "'image' is an empty list")]
        kinds = [_kind(item) for item in image if not isinstance(item, str)]
        if kinds:
            detail = f"'image' is a list holding {kinds[0]}, not only strings"
            return [Problem("non_string_image", detail)]
    elif not isinstance(image, str):
        detail = f"'image' is {_kind(image)}, not a string or a list of strings"
        return [Problem("non_string_image", detail)]
    images = record_images(record)
    for path in images:  # every path before any file system access
        outside = image_path_problem(path, rules)
        if outside is not None:
            return [outside]
    if image_root is None:
        return []
    for path in images:
        problem = _image_file_problem(Path(image_root) / path, rules)
        if problem is not None:
            return [problem]
    return []


def _image_file_problem(file: Path, rules: RecordRules) -> Problem | None:
    try:
        size = file.stat().st_size if file.is_file() else None
    except (OSError, ValueError):  # ValueError: a NUL in the name
        size = None
    if size is None:
        return Problem("image_missing", f"no image file {str(file)!r}")
    if size == 0:
        return Problem("image_empty", f"image file {str(file)!r} is empty")
    try:
        with Image.open(file) as img:
            pixels = img.width * img.height
            if pixels > rules.limits.max_image_pixels:
                return _too_large(file, f"{img.width} x {img.height}", rules.limits)
            img.verify()
    except Image.DecompressionBombError:
        return _too_large(file, "more than PIL's own limit of", rules.limits)
    except Exception as err:  # PIL raises many types for broken files
        detail = f"PIL cannot read {str(file)!r}: {type(err).__name__}: {err}"
        return Problem("image_unreadable", detail)
    return None


def _too_large(file: Path, size: str, limits: RecordLimits) -> Problem:
    detail = (
        f"image file {str(file)!r} is {size} pixels; the limit is "
        f"{limits.max_image_pixels:,} (limits.max_image_pixels)"
    )
    return Problem("image_too_large", detail)


def _find_surrogate(record: dict[str, Any]) -> str | None:
    """Where the first string holding undecodable bytes sits (e.g. "conversations[1].value")."""
    text = _ENCODER.encode(record)
    if text.isascii() or not _SURROGATE.search(text):
        return None  # the usual case, settled at C speed
    return _surrogate_in(record, "") or "a key"


def _surrogate_in(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        children = [(f"{where}.{key}" if where else str(key), item) for key, item in value.items()]
    elif isinstance(value, list):
        children = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    else:
        return None
    return next(filter(None, (_surrogate_in(item, at) for at, item in children)), None)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names.update({int: "a number", float: "a number", type(None): "null"})
    return names.get(type(value), type(value).__name__)


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- policy ----------------------------------------------------------------------------------


class RecordStream:
    """The valid records of a pool as (position, record), streamed; re-iterable.

    `skipped` (reason -> count of records, by each record's first problem) and `n_read`
    describe the last pass.
    """

    def __init__(
        self,
        path: PathLike,
        image_root: PathLike | None = None,
        on_error: str = "raise",
        progress: bool = False,
        rules: RecordRules | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error={on_error!r} is not one of {', '.join(ON_ERROR)}")
        self.path = _pool_path(path)
        self.image_root, self.on_error, self.progress = image_root, on_error, progress
        self.rules = rules or RecordRules()
        self.counts: Counter[str] = Counter()
        self.n_read = 0

    @property
    def skipped(self) -> dict[str, int]:
        return {reason: self.counts[reason] for reason in REASONS if self.counts[reason]}

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        self.counts, self.n_read = Counter(), 0
        validator = PoolValidator(self.image_root, self.rules)
        bar = tqdm(desc=self.path.name, unit=" records", disable=not self.progress)
        with bar:
            for position, record in iter_records(self.path):
                self.n_read += 1
                bar.update()
                problems = validator.check(record)
                if not problems:
                    yield position, record
                elif self.on_error == "raise":
                    record_id = record.get("id") if isinstance(record, dict) else None
                    raise RecordError(self.path, position, record_id, problems[0])
                else:
                    self.counts[problems[0].reason] += 1
        if self.counts:
            n_skipped = sum(self.counts.values())
            log.warning(
                "%s: skipped %d of %d records: %s", self.path, n_skipped, self.n_read, self.skipped
            )


def iter_valid_records(
    path: PathLike,
    image_root: PathLike | None = None,
    on_error: str = "raise",
    progress: bool = False,
    rules: RecordRules | None = None,
) -> RecordStream:
    """Stream (position, record) for valid records; skip counts end up on the stream."""
    return RecordStream(path, image_root, on_error, progress, rules)


def load_records(
    path: PathLike,
    image_root: PathLike | None = None,
    on_error: str = "raise",
    progress: bool = False,
    rules: RecordRules | None = None,
) -> LoadResult:
    """All valid records of a pool, in pool order, with their positions in the file."""
    stream = RecordStream(path, image_root, on_error, progress, rules)
    records, positions = [], []
    for position, record in stream:
        records.append(record)
        positions.append(position)
    return LoadResult(records, np.array(positions, dtype=np.int64), stream.skipped, stream.n_read)


# --- writing ---------------------------------------------------------------------------------


def write_records(path: PathLike, records: Iterable[Mapping[str, Any]]) -> int:
    """Write records as a .json list (one record per line) or .jsonl, atomically.

    The same records always give the same bytes. Returns how many were written.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise PoolFormatError(f"{path}: unsupported suffix {path.suffix!r}; use .json or .jsonl")
    head, separator, tail = ("[\n", ",\n", "\n]\n") if path.suffix == ".json" else ("", "\n", "\n")
    n = 0
    with atomic_open(path, "w", newline="\n") as handle:
        handle.write(head)
        for record in records:
            handle.write((separator if n else "") + json.dumps(record, ensure_ascii=False))
            n += 1
        handle.write(tail if n else tail.lstrip("\n"))  # empty: "[\n]\n" or nothing
    return n


# --- statistics ------------------------------------------------------------------------------


def pool_stats(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts and length distributions of valid records, in one pass over any iterable
    (a list, or a stream: `(record for _, record in iter_valid_records(path))`)."""
    n_records = n_with_image = n_multi_image = 0
    images: set[str] = set()
    turns, images_per_record = array("q"), array("q")  # compact: one machine int per value
    words = {role: array("q") for role in ROLES}
    for record in records:
        n_records += 1
        paths = record_images(record)
        images_per_record.append(len(paths))
        n_with_image += bool(paths)
        n_multi_image += len(paths) > 1
        images.update(paths)
        turns.append(len(record["conversations"]))
        for turn in record["conversations"]:
            words[turn["from"]].append(len(turn["value"].split()))
    return {
        "n_records": n_records,
        "n_with_image": n_with_image,
        "n_text_only": n_records - n_with_image,
        "n_multi_image": n_multi_image,
        "n_images": sum(images_per_record),
        "n_unique_images": len(images),
        "images_per_record": _distribution(images_per_record),
        "n_turns": sum(turns),
        "turns_per_record": _distribution(turns),
        "human_words_per_turn": _distribution(words["human"]),
        "gpt_words_per_turn": _distribution(words["gpt"]),
    }


def _distribution(values: array) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0}
    counts = np.frombuffer(values, dtype=np.int64)
    p50, p95 = np.percentile(counts, [50, 95])
    return {
        "mean": float(counts.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "max": int(counts.max()),
    }


_STAT_COLUMNS = ("mean", "p50", "p95", "max")
_DISTRIBUTIONS = (
    ("images / record", "images_per_record"),
    ("turns / record", "turns_per_record"),
    ("human words / turn", "human_words_per_turn"),
    ("gpt words / turn", "gpt_words_per_turn"),
)


def format_stats(stats: Mapping[str, Any]) -> str:
    """`pool_stats` output as an aligned text table."""
    rows: list[tuple[str, ...]] = [
        ("records", f"{stats['n_records']:,}"),
        ("  with image", f"{stats['n_with_image']:,}"),
        ("  text only", f"{stats['n_text_only']:,}"),
        ("  multi-image", f"{stats['n_multi_image']:,}"),
        ("images", f"{stats['n_images']:,}"),
        ("unique images", f"{stats['n_unique_images']:,}"),
        ("turns", f"{stats['n_turns']:,}"),
        ("",),
        ("", *_STAT_COLUMNS),
    ]
    for label, key in _DISTRIBUTIONS:
        rows.append((label, *(_number(stats[key][column]) for column in _STAT_COLUMNS)))
    label_width = max(len(row[0]) for row in rows)
    cell_width = max(len(cell) for row in rows for cell in row[1:])
    lines = [
        row[0].ljust(label_width) + "".join(f"  {c:>{cell_width}}" for c in row[1:]) for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
