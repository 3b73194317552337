"""ADR entities (curation/methods/adr/README.md): four perspectives per sample, pluggable backends.

    token          nouns' lemmas over all turns, per mention   lexicon (offline) | stanza
    object         objects in the image, de-duplicated         annotations (offline) |
                                                               grounding_dino | llm
    co_occurrence  unordered pairs of distinct objects "a,b"   derived from `object`
    interrogation  question types of the human turns           leading_words (offline) | llm

`entity_tables(...)` returns one EntityTable (sample x entity counts) per perspective,
cached per pool under `<cache_dir>/entities/`, keyed by the backend's settings and the ids
of the records, so a second run or another method on the same pool reuses them.
"""

from __future__ import annotations

import functools
import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from curation.data.fileio import atomic_write_json, sha256_file, sha256_json
from curation.methods.adr.entities.config import EntityConfig, EntityError, ObjectEntities
from curation.methods.adr.entities.objects import AnnotationError, load_annotations
from curation.methods.adr.entities.table import EntityTable, co_occurrence_lists
from curation.methods.adr.entities.text import (
    VQA_QUESTION_TYPES,
    LeadingWordsQuestionTypes,
    LexiconNouns,
)

log = logging.getLogger(__name__)

PERSPECTIVES = ("token", "object", "co_occurrence", "interrogation")
CACHE_VERSION = 1  # bump when the table format changes
PART_SIZE = 20_000  # records per resumable part of an extraction

Extractor = Callable[[Sequence[Mapping[str, Any]]], list[list[str]]]


@dataclass(frozen=True)
class EntitySource:
    """What extraction needs to know about a pool."""

    records: Sequence[Mapping[str, Any]]
    image_root: Path | None = None
    pool_path: Path | None = None
    cache_dir: Path | None = None  # per pool; None disables caching
    progress: bool = False

    @classmethod
    def of(cls, ctx: Any) -> EntitySource:
        """From a CurationContext."""
        return cls(ctx.records, ctx.image_root, ctx.pool_path, ctx.cache_dir, ctx.progress)


def entity_tables(
    source: EntitySource, cfg: EntityConfig, perspectives: Sequence[str] = PERSPECTIVES
) -> dict[str, EntityTable]:
    """One table per requested perspective, in the order asked."""
    unknown = [p for p in perspectives if p not in PERSPECTIVES]
    if unknown:
        raise EntityError(
            f"unknown perspective(s) {', '.join(unknown)}; choose from {', '.join(PERSPECTIVES)}"
        )
    tables: dict[str, EntityTable] = {}
    for perspective in perspectives:
        if perspective == "co_occurrence":
            build = functools.partial(_co_occurrence_table, source, cfg, tables.get("object"))
            tables[perspective] = _cached(source, cfg, perspective, build)
        else:
            tables[perspective] = _table(source, cfg, perspective)
    return {p: tables[p] for p in perspectives}


def extract_lists(
    source: EntitySource, cfg: EntityConfig, perspective: str, records: Sequence[Mapping[str, Any]]
) -> list[list[str]]:
    """Entities of arbitrary records (e.g. synthetic ones) with the pool's backend."""
    if perspective == "co_occurrence":
        return co_occurrence_lists(extract_lists(source, cfg, "object", records))
    return _run(_extractor(source, cfg, perspective), records, perspective, progress=False)


def _co_occurrence_table(
    source: EntitySource, cfg: EntityConfig, objects: EntityTable | None
) -> EntityTable:
    objects = objects or _table(source, cfg, "object")
    lists = co_occurrence_lists(objects.entities_of(i) for i in range(objects.n_samples))
    return EntityTable.from_lists("co_occurrence", lists)


def _table(source: EntitySource, cfg: EntityConfig, perspective: str) -> EntityTable:
    def build(parts: Path | None) -> EntityTable:
        extractor = _extractor(source, cfg, perspective)
        lists = _run(extractor, source.records, perspective, source.progress, parts)
        return EntityTable.from_lists(perspective, lists)

    return _cached(source, cfg, perspective, build)


def _run(
    extractor: Extractor,
    records: Sequence[Mapping[str, Any]],
    perspective: str,
    progress: bool,
    parts: Path | None = None,
    chunk: int = 256,
) -> list[list[str]]:
    """Entities of every record; with `parts`, every PART_SIZE records are saved there as
    they finish, so a killed extraction (hours with the model backends) resumes."""
    out: list[list[str]] = []
    with tqdm(
        total=len(records), desc=f"entities:{perspective}", unit=" samples", disable=not progress
    ) as bar:
        for part_start in range(0, len(records), PART_SIZE):
            part_file = parts / f"{part_start:012d}.json" if parts is not None else None
            if part_file is not None and part_file.is_file():
                lists = json.loads(part_file.read_text(encoding="utf-8"))
                out.extend(lists)
                bar.update(len(lists))
                continue
            lists = []
            for start in range(part_start, min(part_start + PART_SIZE, len(records)), chunk):
                batch = records[start : min(start + chunk, part_start + PART_SIZE)]
                lists.extend(extractor(batch))
                bar.update(len(batch))
            if part_file is not None:
                atomic_write_json(part_file, lists, indent=None)
            out.extend(lists)
    return out


def _cached(
    source: EntitySource, cfg: EntityConfig, perspective: str, build: Callable[..., EntityTable]
) -> EntityTable:
    """The cached table, or build(parts_dir) and cache it (co-occurrence: build())."""
    resumable = perspective != "co_occurrence"
    if source.cache_dir is None or not cfg.cache:
        return build(None) if resumable else build()
    key = sha256_json(
        {
            "version": CACHE_VERSION,
            "code": _code_sha256(),
            "perspective": perspective,
            "settings": _settings(source, cfg, perspective),
            "ids": sha256_json([str(r.get("id")) for r in source.records]),
        }
    )
    path = Path(source.cache_dir) / "entities" / f"{perspective}-{key[:16]}.npz"
    if path.is_file():
        table = EntityTable.load(path)
        if table.n_samples == len(source.records):
            return table
    parts = path.with_suffix(".parts")
    table = build(parts) if resumable else build()
    table.save(path)
    shutil.rmtree(parts, ignore_errors=True)
    log.info("cached %s entities in %s", perspective, path)
    return table


@functools.lru_cache(maxsize=1)
def _code_sha256() -> str:
    """Hash of the offline backends' code: an edited lexicon or rule never reuses old tables."""
    here = Path(__file__).parent
    names = ("text.py", "lexicon.py", "objects.py", "table.py")
    return sha256_json([(name, sha256_file(here / name)) for name in names])


def _settings(source: EntitySource, cfg: EntityConfig, perspective: str) -> dict[str, Any]:
    """What the output of a perspective's backend depends on."""
    if perspective == "co_occurrence":
        return {"object": _settings(source, cfg, "object")}
    node = asdict(getattr(cfg, perspective))
    settings: dict[str, Any] = {"backend": node["backend"], **node}
    if "llm" in node["backend"] or (
        perspective == "object"
        and cfg.object.backend == "grounding_dino"
        and cfg.object.prompt_with_llm_objects
    ):
        settings["llm"] = asdict(cfg.llm)
    for key in ("lexicon", "question_types"):
        if node.get(key):
            settings[f"{key}_sha256"] = sha256_file(node[key])
    if perspective == "object" and node["backend"] == "annotations":
        settings["annotations_sha256"] = sha256_file(annotation_path(source, cfg.object))
    return settings


def annotation_path(source: EntitySource, cfg: ObjectEntities) -> Path:
    if cfg.annotations:
        path = Path(cfg.annotations)
        if not path.is_file():
            raise EntityError(f"entities.object.annotations: no such file: {path}")
        return path
    candidates = [
        d / "annotations.jsonl"
        for d in (source.image_root, source.pool_path.parent if source.pool_path else None)
        if d is not None
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise EntityError(
        "entities.object.backend=annotations needs an annotation file: set "
        "entities.object.annotations=PATH (none found at "
        f"{', '.join(map(str, candidates)) or 'the image root'})"
    )


def _extractor(source: EntitySource, cfg: EntityConfig, perspective: str) -> Extractor:
    if perspective == "token":
        if cfg.token.backend == "stanza":
            from curation.methods.adr.entities.models import StanzaNouns

            return StanzaNouns(cfg.token).batch
        return _per_record(LexiconNouns.from_file(cfg.token.lexicon or None))
    if perspective == "interrogation":
        if cfg.interrogation.backend == "llm":
            from curation.methods.adr.entities.models import LLMEntities

            return LLMEntities(cfg.llm, "interrogation").batch
        types = VQA_QUESTION_TYPES
        if cfg.interrogation.question_types:
            text = Path(cfg.interrogation.question_types).read_text(encoding="utf-8")
            types = tuple(line.strip() for line in text.splitlines() if line.strip())
        return _per_record(LeadingWordsQuestionTypes(types))
    if perspective == "object":
        return _object_extractor(source, cfg)
    raise EntityError(f"no extractor for perspective {perspective!r}")


def _object_extractor(source: EntitySource, cfg: EntityConfig) -> Extractor:
    if cfg.object.backend == "llm":
        from curation.methods.adr.entities.models import LLMEntities

        return LLMEntities(cfg.llm, "object").batch
    if cfg.object.backend == "grounding_dino":
        from curation.methods.adr.entities.models import GroundingDinoObjects

        return GroundingDinoObjects(cfg, source.image_root).batch
    path = annotation_path(source, cfg.object)
    try:
        index = load_annotations(path, cfg.object.format, cfg.object.label_format)
    except AnnotationError as err:
        raise EntityError(str(err)) from None

    def objects(record: Mapping[str, Any]) -> list[str]:
        labels = index.lookup(record)
        if labels is None:
            if cfg.object.missing == "error" and "image" in record:
                raise EntityError(
                    f"{path}: no annotation for record id={record.get('id')!r} "
                    f"(image {record.get('image')!r})"
                )
            return []
        return labels

    return _per_record(objects)


def _per_record(function: Callable[[Mapping[str, Any]], list[str]]) -> Extractor:
    return lambda records: [function(record) for record in records]
