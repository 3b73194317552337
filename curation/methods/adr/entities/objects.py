"""Objects from dataset annotations: ToyWorld's annotations.jsonl, COCO instances, VG objects.

Formats (`format=auto` tells them apart by the file's first bytes):
  jsonl  one JSON object per line: {"id"?, "image"?, "objects": [str | {...}]} (ToyWorld)
  coco   {"images": [{"id", "file_name"}], "annotations": [{"image_id", "category_id"}],
          "categories": [{"id", "name"}]}
  vg     [{"image_id" | "id", "objects": [{"names": [...]}|{"name": ...}]}]
A pool record finds its annotation by id, then image path, then image file name, then (VG)
the file name's numeric stem. Labels are lower-cased and singularised; objects are
de-duplicated per sample.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from configs.errors import UserError
from curation.methods.adr.entities.text import singular

FORMATS = ("auto", "jsonl", "coco", "vg")


class AnnotationError(UserError, ValueError):
    """An annotation file that cannot be read or joined to the pool."""


def object_label(obj: Any, label_format: str = "") -> str:
    """One object's label: `label_format` over its fields, or its name/label/category."""
    if isinstance(obj, str):
        label = obj
    elif not isinstance(obj, Mapping):
        raise AnnotationError(f"an object must be a string or a mapping, got {obj!r}")
    elif label_format:
        try:
            label = label_format.format(**obj)
        except KeyError as err:
            raise AnnotationError(
                f"label_format {label_format!r} needs field {err} missing from object {dict(obj)!r}"
            ) from None
    elif "colour" in obj and "shape" in obj:
        label = f"{obj['colour']} {obj['shape']}"  # ToyWorld's object entity
    else:
        label = next((obj[k] for k in ("name", "label", "category") if k in obj), None)
        if label is None and obj.get("names"):
            label = obj["names"][0]
        if label is None:
            raise AnnotationError(
                f"object {dict(obj)!r} has no name, label or category; set label_format"
            )
    return normalise_label(str(label))


def normalise_label(label: str) -> str:
    words = label.strip().lower().split()
    if not words:
        return ""
    words[-1] = singular(words[-1])
    return " ".join(words)


class AnnotationIndex:
    """Object labels per image, looked up by record id or image path."""

    def __init__(self) -> None:
        self.by_id: dict[str, list[str]] = {}
        self.by_path: dict[str, list[str]] = {}
        self.by_name: dict[str, list[str]] = {}
        self.by_stem: dict[str, list[str]] = {}  # VG: numeric image ids

    def add(
        self,
        labels: list[str],
        *,
        record_id: Any = None,
        image: str | None = None,
        image_id: Any = None,
    ) -> None:
        labels = list(dict.fromkeys(label for label in labels if label))
        if record_id is not None:
            self.by_id[str(record_id)] = labels
        if image_id is not None:
            self.by_stem[str(image_id).lstrip("0")] = labels
        if image:
            self.by_path[image] = labels
            self.by_name.setdefault(PurePosixPath(image).name, labels)

    def lookup(self, record: Mapping[str, Any]) -> list[str] | None:
        """Labels of the record's image; None when the annotations do not cover it."""
        if str(record.get("id")) in self.by_id:
            return self.by_id[str(record["id"])]
        image = record.get("image")
        if not image:
            return None
        if image in self.by_path:
            return self.by_path[image]
        name = PurePosixPath(image).name
        if name in self.by_name:
            return self.by_name[name]
        stem = PurePosixPath(image).stem.lstrip("0")
        return self.by_stem.get(stem)


def load_annotations(
    path: str | Path, fmt: str = "auto", label_format: str = ""
) -> AnnotationIndex:
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"annotation file not found: {path}")
    if fmt not in FORMATS:
        raise AnnotationError(f"annotation format {fmt!r} is not one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = _sniff(path)
    if fmt == "jsonl":
        return _load_jsonl(path, label_format)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: not valid JSON: {err.msg} (line {err.lineno})") from None
    return _load_coco(path, data) if fmt == "coco" else _load_vg(path, data, label_format)


def _sniff(path: Path) -> str:
    if path.suffix == ".jsonl":
        return "jsonl"
    with open(path, encoding="utf-8") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith("["):
        return "vg"
    if head.startswith("{") and ('"images"' in head or '"annotations"' in head):
        return "coco"
    return "jsonl"


def _load_jsonl(path: Path, label_format: str) -> AnnotationIndex:
    index = AnnotationIndex()
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                objects = entry["objects"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise AnnotationError(
                    f"{path}: line {line_no}: expected a JSON object with 'objects'"
                ) from None
            labels = _labels(path, line_no, objects, label_format)
            index.add(labels, record_id=entry.get("id"), image=entry.get("image"))
    return index


def _labels(path: Path, where: Any, objects: Sequence[Any], label_format: str) -> list[str]:
    try:
        return [object_label(obj, label_format) for obj in objects]
    except AnnotationError as err:
        raise AnnotationError(f"{path}: entry {where}: {err}") from None


def _load_coco(path: Path, data: Mapping[str, Any]) -> AnnotationIndex:
    try:
        names = {c["id"]: normalise_label(c["name"]) for c in data["categories"]}
        files = {im["id"]: im["file_name"] for im in data["images"]}
        per_image: dict[Any, list[str]] = {image_id: [] for image_id in files}
        for ann in data.get("annotations", []):
            per_image.setdefault(ann["image_id"], []).append(names[ann["category_id"]])
    except (KeyError, TypeError) as err:
        raise AnnotationError(f"{path}: not a COCO instances file (missing {err})") from None
    index = AnnotationIndex()
    for image_id, labels in per_image.items():
        index.add(labels, image=files.get(image_id))
    return index


def _load_vg(path: Path, data: Any, label_format: str) -> AnnotationIndex:
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: a Visual Genome objects file is a JSON list")
    index = AnnotationIndex()
    for position, entry in enumerate(data):
        if not isinstance(entry, Mapping) or "objects" not in entry:
            raise AnnotationError(f"{path}: entry {position}: expected an object with 'objects'")
        image_id = entry.get("image_id", entry.get("id"))
        labels = _labels(path, position, entry["objects"], label_format)
        index.add(labels, image_id=image_id, image=entry.get("image"))
    return index
