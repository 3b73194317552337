"""The ADR entities config (the `entities:` node of ADR's params) and its error.

Its own module so that extract.py (the perspectives and their cache) and models.py (the
model backends extract.py loads on demand) both import it and not each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from configs.compose import ConfigError, choice
from curation.methods.adr.entities.objects import FORMATS


@dataclass
class TokenEntities:
    backend: str = choice("lexicon", ("lexicon", "stanza"))
    lexicon: str = ""  # lexicon: extra nouns, one per line
    stanza_lang: str = "en"
    stanza_dir: str = ""  # stanza: resources folder ("" = stanza's default)
    stanza_gpu: bool = False


@dataclass
class ObjectEntities:
    backend: str = choice("annotations", ("annotations", "grounding_dino", "llm"))
    # annotations: the file ("" = annotations.jsonl in the image root or beside the pool)
    annotations: str = ""
    format: str = choice("auto", FORMATS)
    label_format: str = ""  # e.g. "{colour} {shape}"; "" = name / label / category
    missing: str = choice("empty", ("empty", "error"))  # a record the annotations lack
    # grounding_dino (paper: box 0.4, text 0.3, prompted with nouns + LLM objects)
    detector: str = "IDEA-Research/grounding-dino-base"
    box_threshold: float = 0.4
    text_threshold: float = 0.3
    prompt_with_llm_objects: bool = True
    batch_size: int = 8
    device: str = "cpu"
    local_files_only: bool = True


@dataclass
class InterrogationEntities:
    backend: str = choice("leading_words", ("leading_words", "llm"))
    question_types: str = ""  # leading_words: types, one per line ("" = VQAv2's 65)


@dataclass
class LLMConfig:
    """The instruction LLM of the `llm` backends (paper: Llama-3-70B-Instruct, greedy)."""

    model: str = "meta-llama/Meta-Llama-3-70B-Instruct"
    device: str = "auto"
    dtype: str = choice("bfloat16", ("bfloat16", "float16", "float32"))
    max_new_tokens: int = 96
    batch_size: int = 8
    local_files_only: bool = True  # never reach the hub at run time


@dataclass
class EntityConfig:
    token: TokenEntities = field(default_factory=TokenEntities)
    object: ObjectEntities = field(default_factory=ObjectEntities)
    interrogation: InterrogationEntities = field(default_factory=InterrogationEntities)
    llm: LLMConfig = field(default_factory=LLMConfig)
    cache: bool = True


class EntityError(ConfigError):
    """Entities cannot be extracted as configured (missing file, model or package)."""
