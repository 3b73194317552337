"""Model sources: tiny from config (deterministic); LLaVA-1.5 from LM + CLIP + projector."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from training.models import (
    ModelSourceError,
    assemble_llava15,
    build_tiny_llava,
    load_lm_tokenizer,
    load_projector_weights,
    num_image_tokens,
)

TEXTS = ["What colour is the circle?", "A red circle.", "How many shapes?", "Three."] * 10


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny stand-ins for vicuna-7b-v1.5, clip-vit-large-patch14-336 and mm_projector.bin."""
    root = tmp_path_factory.mktemp("parts")
    torch.manual_seed(0)
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.train_from_iterator(
        TEXTS,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<unk>", "<s>", "</s>"],
            show_progress=False,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )  # no pad, like Llama
    lm = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=48,
            intermediate_size=96,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
        )
    )
    lm.save_pretrained(root / "lm")
    tokenizer.save_pretrained(root / "lm")

    clip = CLIPModel(
        CLIPConfig(
            text_config={
                "hidden_size": 16,
                "intermediate_size": 32,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "vocab_size": 99,
            },
            vision_config={
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 3,
                "num_attention_heads": 4,
                "image_size": 28,
                "patch_size": 14,
            },
            projection_dim=16,
        )
    )
    clip.save_pretrained(root / "clip")
    CLIPImageProcessorPil(
        size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}
    ).save_pretrained(root / "clip")

    projector = {
        "model.mm_projector.0.weight": torch.randn(48, 32),
        "model.mm_projector.0.bias": torch.randn(48),
        "model.mm_projector.2.weight": torch.randn(48, 48),
        "model.mm_projector.2.bias": torch.randn(48),
    }
    torch.save(projector, root / "mm_projector.bin")
    save_file(projector, str(root / "mm_projector.safetensors"))
    return {
        "lm": root / "lm",
        "clip": root / "clip",
        "projector": root / "mm_projector.bin",
        "projector_st": root / "mm_projector.safetensors",
        "root": root,
    }


def test_assembled_llava15_keeps_every_part(parts):
    model, processor = assemble_llava15(str(parts["lm"]), str(parts["clip"]), parts["projector"])
    lm = LlamaForCausalLM.from_pretrained(parts["lm"])
    clip = CLIPModel.from_pretrained(parts["clip"])
    projector = torch.load(parts["projector"], weights_only=True)

    linear_1 = model.model.multi_modal_projector.linear_1
    assert torch.equal(linear_1.weight, projector["model.mm_projector.0.weight"])
    assert torch.equal(
        model.model.multi_modal_projector.linear_2.bias, projector["model.mm_projector.2.bias"]
    )
    assert torch.equal(
        model.model.language_model.layers[1].mlp.up_proj.weight,
        lm.model.layers[1].mlp.up_proj.weight,
    )
    assert torch.equal(
        model.model.vision_tower.encoder.layers[2].mlp.fc1.weight,
        clip.vision_model.encoder.layers[2].mlp.fc1.weight,
    )
    old_vocab = lm.config.vocab_size
    embeddings = model.get_input_embeddings().weight
    assert torch.equal(embeddings[:old_vocab], lm.model.embed_tokens.weight)
    assert embeddings.shape[0] % 64 == 0 and embeddings.shape[0] > old_vocab

    tokenizer = processor.tokenizer
    assert model.config.image_token_index == tokenizer.convert_tokens_to_ids("<image>") == old_vocab
    assert tokenizer.pad_token == "<unk>"  # LLaVA's vicuna_v1 fallback
    assert type(processor.image_processor).__name__ == "CLIPImageProcessorPil"
    assert num_image_tokens(processor) == model.config.image_seq_length == 4  # (28/14)^2, no CLS

    prompt = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Colour?"}]}],
        add_generation_prompt=True,
    )
    from PIL import Image

    inputs = processor(images=[Image.new("RGB", (40, 30), "red")], text=prompt, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()


def test_projector_from_safetensors_matches_bin(parts):
    from_bin = load_projector_weights(parts["projector"])
    from_st = load_projector_weights(parts["projector_st"])
    assert sorted(from_bin) == [
        "linear_1.bias",
        "linear_1.weight",
        "linear_2.bias",
        "linear_2.weight",
    ]
    assert all(torch.equal(from_bin[k], from_st[k]) for k in from_bin)


def test_projector_errors_name_the_file(parts, tmp_path):
    wrong_keys = tmp_path / "wrong.bin"
    torch.save({"mm_projector.weight": torch.zeros(2, 2)}, wrong_keys)
    with pytest.raises(ModelSourceError, match="wrong.bin.*linear_1.bias"):
        load_projector_weights(wrong_keys)

    pickled = tmp_path / "pickled.bin"
    torch.save({"mm_projector.0.weight": object()}, pickled)
    with pytest.raises(ModelSourceError, match="not a weights-only torch file"):
        load_projector_weights(pickled)

    bad_shape = tmp_path / "shape.bin"
    torch.save(
        {
            "model.mm_projector.0.weight": torch.zeros(48, 31),
            "model.mm_projector.0.bias": torch.zeros(48),
            "model.mm_projector.2.weight": torch.zeros(48, 48),
            "model.mm_projector.2.bias": torch.zeros(48),
        },
        bad_shape,
    )
    with pytest.raises(ModelSourceError, match="linear_1.weight has shape"):
        assemble_llava15(str(parts["lm"]), str(parts["clip"]), bad_shape)


def test_tiny_model_is_deterministic():
    model_a, processor_a = build_tiny_llava(TEXTS, seed=3)
    model_b, processor_b = build_tiny_llava(TEXTS, seed=3)
    assert processor_a.tokenizer.get_vocab() == processor_b.tokenizer.get_vocab()
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    model_c, _ = build_tiny_llava(TEXTS, seed=4)
    assert not torch.equal(model_c.lm_head.weight, model_a.lm_head.weight)


def test_a_sentencepiece_only_llama_tokenizer_loads_and_round_trips(tmp_path):
    """vicuna-7b-v1.5 ships tokenizer.model and no tokenizer.json: transformers must convert the
    SentencePiece model (through protobuf) for `model.kind=assemble` to start."""
    import json

    import sentencepiece

    corpus = ["USER: <image>\nWhat colour is the moon? ASSISTANT: yellow", *TEXTS] * 20
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_prefix=str(tmp_path / "tokenizer"),
        vocab_size=400,
        model_type="bpe",
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        byte_fallback=True,
        character_coverage=1.0,
        minloglevel=2,
    )
    (tmp_path / "tokenizer.vocab").unlink()
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "LlamaTokenizer",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "add_bos_token": True,
                "legacy": False,
            }
        )
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tokenizer.model",
        "tokenizer_config.json",
    ]

    tokenizer = load_lm_tokenizer(str(tmp_path))
    text = "A red circle above a blue square. Ünïcode ✓"
    ids = tokenizer(text).input_ids
    assert ids[0] == 1 and len(ids) > 5  # <s> first, then real pieces
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    image = tokenizer.convert_tokens_to_ids("<image>")
    assert tokenizer("<image>\nHi", add_special_tokens=False).input_ids[0] == image
    assert tokenizer.pad_token == "<unk>"  # LLaVA's vicuna_v1 recipe pads with <unk>
