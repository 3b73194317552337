"""The paper's model backends for ADR entities, for users who have the models.

    StanzaNouns          token: Stanza tokenize,mwt,pos,lemma; lemmas of NN* words
    LLMEntities          object / interrogation: an instruction LLM through transformers
    GroundingDinoObjects object: Grounding DINO through transformers' zero-shot detection,
                         prompted with the sample's nouns (plus LLM objects), box 0.4, text 0.3

Nothing here is imported unless a config asks for it; nothing is downloaded unless the
user's Hugging Face / Stanza settings allow it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from curation.methods.adr.entities.config import (
    EntityConfig,
    EntityError,
    LLMConfig,
    TokenEntities,
)
from curation.methods.adr.entities.objects import normalise_label
from curation.methods.adr.entities.text import LexiconNouns, turn_texts

Records = Sequence[Mapping[str, Any]]


class StanzaNouns:
    def __init__(self, cfg: TokenEntities) -> None:
        try:
            import stanza
        except ImportError:
            raise EntityError(
                "entities.token.backend=stanza needs the stanza package "
                "(pip install stanza; then stanza.download('en')), or use "
                "entities.token.backend=lexicon"
            ) from None
        kwargs: dict[str, Any] = {
            "processors": "tokenize,mwt,pos,lemma",
            "use_gpu": cfg.stanza_gpu,
            "download_method": None,
            "verbose": False,
        }
        if cfg.stanza_dir:
            kwargs["dir"] = cfg.stanza_dir
        try:
            self.nlp = stanza.Pipeline(cfg.stanza_lang, **kwargs)
        except Exception as err:  # stanza raises several types for missing resources
            raise EntityError(
                f"stanza could not load its '{cfg.stanza_lang}' models "
                f"({type(err).__name__}: {err}); run stanza.download"
                f"('{cfg.stanza_lang}') first"
            ) from None

    def batch(self, records: Records) -> list[list[str]]:
        import stanza

        texts = ["\n\n".join(turn_texts(record)) for record in records]
        docs = self.nlp.bulk_process([stanza.Document([], text=t) for t in texts])
        return [
            [
                word.lemma.lower()
                for sentence in doc.sentences
                for word in sentence.words
                if (word.xpos or "").startswith("NN") and word.lemma
            ]
            for doc in docs
        ]


# --- instruction LLM -------------------------------------------------------------------------

PROMPTS = {
    "object": (
        "List the physical objects that the conversation below says are in the image. "
        "Answer with singular nouns separated by commas and nothing else; answer 'none' "
        "if there are none.\n\nConversation:\n{text}"
    ),
    "interrogation": (
        "Give the type of every question or instruction below in at most two lemmatised "
        "words, e.g. 'what color', 'how many', 'what kind', 'be there', 'describe', 'why'. "
        "Answer with the types separated by commas and nothing else.\n\n"
        "Examples:\nWhat color is the bus? -> what color\nAre there any people? -> be there\n"
        "Describe the image in detail. -> describe\n\nQuestions:\n{text}"
    ),
}
_ITEM_SPLIT = re.compile(r"[,\n;]+")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


def parse_list(answer: str, singularise: bool) -> list[str]:
    """Items of an LLM's comma/line separated answer, normalised and de-duplicated."""
    items = []
    for raw in _ITEM_SPLIT.split(answer):
        item = _BULLET.sub("", raw).strip().strip(".'\"`").lower()
        if "->" in item:
            item = item.split("->", 1)[1].strip()
        if not item or item in ("none", "n/a") or len(item.split()) > 4:
            continue
        items.append(normalise_label(item) if singularise else " ".join(item.split()))
    return list(dict.fromkeys(items))


class LLMEntities:
    """Objects or question types from an instruction LLM (greedy decoding).

    `complete` maps prompts to answers; by default a transformers causal LM with its chat
    template. Tests and other runtimes (vLLM, an API) pass their own.
    """

    def __init__(
        self,
        cfg: LLMConfig,
        perspective: str,
        complete: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        self.perspective = perspective
        self.complete = complete or TransformersChat(cfg).complete

    def prompt(self, record: Mapping[str, Any]) -> str:
        roles = ("human",) if self.perspective == "interrogation" else ("human", "gpt")
        lines = [text.strip() for text in turn_texts(record, roles)]
        return PROMPTS[self.perspective].format(text="\n".join(lines))

    def batch(self, records: Records) -> list[list[str]]:
        answers = self.complete([self.prompt(record) for record in records])
        return [parse_list(a, singularise=self.perspective == "object") for a in answers]


class TransformersChat:
    def __init__(self, cfg: LLMConfig) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                cfg.model, padding_side="left", local_files_only=cfg.local_files_only
            )
            self.model = AutoModelForCausalLM.from_pretrained(
                cfg.model,
                dtype=getattr(torch, cfg.dtype),
                device_map=cfg.device,
                local_files_only=cfg.local_files_only,
            )
        except (OSError, ValueError) as err:
            raise EntityError(
                f"entities.llm.model={cfg.model!r} cannot be loaded: {str(err).splitlines()[0]}"
            ) from None
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.cfg = cfg

    def complete(self, prompts: list[str]) -> list[str]:
        import torch

        answers: list[str] = []
        for start in range(0, len(prompts), self.cfg.batch_size):
            chats = [
                self.tokenizer.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in prompts[start : start + self.cfg.batch_size]
            ]
            inputs = self.tokenizer(
                chats, return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.model.device)
            with torch.inference_mode():
                out = self.model.generate(
                    **inputs,
                    max_new_tokens=self.cfg.max_new_tokens,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new = out[:, inputs["input_ids"].shape[1] :]
            answers.extend(self.tokenizer.batch_decode(new, skip_special_tokens=True))
        return answers


# --- Grounding DINO --------------------------------------------------------------------------


def match_phrase(label: str, phrases: list[str]) -> str | None:
    """The prompt phrase a detection label stands for: Grounding DINO labels are spans of the
    prompt, sometimes a part of a phrase ("red" of "red circle"); other spans are dropped."""
    label = " ".join(label.lower().replace("##", "").split())
    normalised = {normalise_label(p): p for p in phrases}
    if normalise_label(label) in normalised:
        return normalise_label(label)
    holders = [p for p in normalised if label and f" {label} " in f" {p} "]
    return holders[0] if len(holders) == 1 else None


class GroundingDinoObjects:
    """Objects detected in each image, prompted with the sample's nouns (+ LLM objects)."""

    def __init__(
        self,
        cfg: EntityConfig,
        image_root: Path | None,
        nouns: Callable[[Records], list[list[str]]] | None = None,
        llm: LLMEntities | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

        self.cfg, self.image_root, self.torch = cfg.object, image_root, torch
        try:
            local = cfg.object.local_files_only
            self.processor = AutoProcessor.from_pretrained(
                cfg.object.detector, local_files_only=local
            )
            self.model = AutoModelForZeroShotObjectDetection.from_pretrained(
                cfg.object.detector, local_files_only=local
            )
        except (OSError, ValueError) as err:
            raise EntityError(
                f"entities.object.detector={cfg.object.detector!r} cannot be "
                f"loaded: {str(err).splitlines()[0]}"
            ) from None
        self.model.to(cfg.object.device).eval()
        lexicon = LexiconNouns.from_file(cfg.token.lexicon or None)
        self.nouns = nouns or (lambda records: [lexicon(r) for r in records])
        if llm is None and cfg.object.prompt_with_llm_objects:
            llm = LLMEntities(cfg.llm, "object")
        self.llm = llm

    def prompts(self, records: Records) -> list[list[str]]:
        candidates = self.nouns(records)
        if self.llm is not None:
            extra = self.llm.batch(records)
            candidates = [list(a) + list(b) for a, b in zip(candidates, extra, strict=True)]
        return [list(dict.fromkeys(c)) for c in candidates]

    def batch(self, records: Records) -> list[list[str]]:
        from PIL import Image

        phrases = self.prompts(records)
        results: list[list[str]] = []
        for record, labels in zip(records, phrases, strict=True):
            if "image" not in record or not labels:
                results.append([])
                continue
            path = Path(self.image_root or ".") / record["image"]
            with Image.open(path) as img:
                image = img.convert("RGB")
            results.append(self.detect(image, labels))
        return results

    def detect(self, image: Any, labels: list[str]) -> list[str]:
        text = ". ".join(labels) + "."  # Grounding DINO's phrase separator
        inputs = self.processor(images=image, text=text, return_tensors="pt").to(self.cfg.device)
        with self.torch.inference_mode():
            outputs = self.model(**inputs)
        found = self.processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.cfg.box_threshold,
            text_threshold=self.cfg.text_threshold,
            target_sizes=[image.size[::-1]],
        )[0]
        names = found.get("text_labels", found.get("labels", []))
        return list(dict.fromkeys(filter(None, (match_phrase(str(n), labels) for n in names))))
