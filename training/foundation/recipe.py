"""How ToyWorld's foundation models are made: every knob, with the value measured to work.

LLaVA-1.5 finetunes on instruction data (stage 2, the stage curation acts on) from three
pretrained parts: a CLIP vision tower, a language model, and a projector aligned on captions
with both frozen (stage 1, LCS-558K). A tiny LLaVA trained from scratch on a small
instruction pool never learns to look at its images, so ToyWorld makes the parts from the
world's own pretraining corpus (toyworld/pretraining.py):
  stage 0  vision.py   CLIP-shaped ViT + text tower, contrastive on captions, plus dense
                       per-patch shape/colour targets on every patch an object covers (a
                       linear head dropped afterwards);
           language.py Llama-shaped LM with the world's tokenizer; next-token pretraining on
                       the corpus' text only if language.steps > 0 (off: it did not help);
  stage 1  align.py    the mlp2x_gelu projector trained on captions, vision tower frozen, and
                       by default the language model with it (align.train_language_model),
                       with text-only question turns mixed in (align.text_conversations) and
                       questions of a few skills with their images (align.grounded).
The one departure from LLaVA-1.5, stage 1 training the LM: with the tiny LM frozen, stage 1
does not align (held-out caption shape and colour words at chance, image or grey) after 4
epochs; trained with it, the model names the shapes and colours of held-out images.
`align.train_language_model=false` is LLaVA's stage 1 exactly.
Measured choices and their cost: bench/RESULTS.md, "ToyWorld foundation models".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from configs.errors import UserError

# the skills a grounded question can teach (one word answers about the image; toyworld.skills)
GROUNDED_SKILLS = ("colour", "shape", "counting", "existence", "spatial")
GROUNDED_DEFAULT = {"existence": 25000, "shape": 25000}


class RecipeError(UserError, ValueError):
    """A foundation recipe value that cannot be built."""


@dataclass
class VisionRecipe:
    width: int = 64
    layers: int = 4
    heads: int = 4
    patch_size: int = 8
    text_layers: int = 2
    text_length: int = 48
    text_vocab_size: int = 512
    steps: int = 600
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    dense_weight: float = 1.0  # 0: contrastive only
    # which patches the dense targets name an object on: "covered" (every patch it covers a
    # quarter of or more) or "centre" (the one holding its centre; the object's other patches
    # are taught "nothing", and shape is read 7 points worse; bench/RESULTS.md)
    dense_targets: str = "covered"


@dataclass
class LanguageRecipe:
    vocab_size: int = 512
    hidden_size: int = 64
    intermediate_size: int = 256
    layers: int = 2
    heads: int = 4
    max_position_embeddings: int = 1024
    steps: int = 0  # text-only pretraining steps; 0: the LM starts stage 1 from its init
    batch_size: int = 32
    lr: float = 3e-3


@dataclass
class AlignRecipe:
    epochs: int = 4
    batch_size: int = 32
    # at 3e-3 the tiny LM never learns a comparison such as existence, even from ideal image
    # tokens (bench/existence_learnability.py); 1e-3 learns it
    lr: float = 1e-3
    train_language_model: bool = True  # false: LLaVA-1.5's stage 1, projector only
    # text-only question turns (the first of each of this many corpus scenes, no image) mixed
    # into stage 1's captions, so the LM learns the answer formats there, as vicuna knows them;
    # 0: captions only
    text_conversations: int = 2000
    # questions per skill, each with the image of its own scene (toyworld.pretraining.
    # grounded_questions): answers that need the question's words compared with the image
    # (is the named object there, what shape is the red one), which ~1,000 pool turns of a
    # skill in stage 2 do not teach (bench/RESULTS.md). Not spatial: 25,000 of its questions
    # left held-out answers at their grey-image figure and stage 2's scores where they were;
    # {}: none
    grounded: dict[str, int] = field(default_factory=lambda: dict(GROUNDED_DEFAULT))

    def __post_init__(self) -> None:
        for skill, count in self.grounded.items():
            if skill not in GROUNDED_SKILLS or not isinstance(count, int) or count < 0:
                raise RecipeError(
                    f"foundation.align.grounded.{skill}={count!r}: a count >= 0 per skill, "
                    f"skills {', '.join(GROUNDED_SKILLS)}"
                )


@dataclass
class FoundationRecipe:
    corpus_size: int = 8000
    held_out_size: int = 500
    text_only_size: int = 400
    seed: int = 0
    # torch threads while training: fixed, so the weights do not depend on the core count
    threads: int = 1
    vision: VisionRecipe = field(default_factory=VisionRecipe)
    language: LanguageRecipe = field(default_factory=LanguageRecipe)
    align: AlignRecipe = field(default_factory=AlignRecipe)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def as_recipe(value: Any) -> FoundationRecipe:
    """A FoundationRecipe from itself, an OmegaConf node or a plain mapping."""
    if isinstance(value, FoundationRecipe):
        return value
    from omegaconf import DictConfig, OmegaConf

    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=True)
    value = dict(value)
    return FoundationRecipe(
        **{k: v for k, v in value.items() if k not in ("vision", "language", "align")},
        vision=VisionRecipe(**value.get("vision", {})),
        language=LanguageRecipe(**value.get("language", {})),
        align=AlignRecipe(**value.get("align", {})),
    )
