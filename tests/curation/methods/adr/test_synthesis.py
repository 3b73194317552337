import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from curation.data.records import RecordRules, validate_record
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.variations.candidates import (
    draw_sources,
    tail_candidates,
    unique_image_samples,
)
from curation.methods.adr.variations.captions import (
    ConversationWriter,
    parse_conversation,
    template_conversation,
)
from curation.methods.adr.variations.diffusion import (
    SDEditVariations,
    UNetConfig,
    cached_unet,
    grid,
    mirrored,
    to_images,
    to_tensor,
)
from curation.methods.adr.variations.models import best_of


def _rec(i, image=None):
    record = {
        "id": f"s{i}",
        "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}],
    }
    if image:
        record["image"] = image
    return record


# --- candidates ------------------------------------------------------------------------------


def test_candidates_need_a_tail_entity_and_an_image_of_their_own():
    records = [_rec(0, "a.png"), _rec(1, "b.png"), _rec(2, "b.png"), _rec(3, "c.png"), _rec(4)]
    objects = EntityTable.from_lists("object", [["cat"], ["emu"], ["emu"], ["cat"], ["emu"]])
    tokens = EntityTable.from_lists("token", [["x"] * 5, ["x"], [], ["y"], ["x"]])
    # object counts: cat 2, emu 3 (tau 3: cat is tail); token: x 7, y 1 (tau 2: y is tail)
    assert unique_image_samples(records).tolist() == [True, False, False, True, False]
    found = tail_candidates(
        records, {"object": objects, "token": tokens}, {"object": 3, "token": 2}
    )
    assert found.tolist() == [0, 3]  # 1, 2 share an image; 4 has none


def test_unet_training_weights_follow_the_visual_pass_probability():
    from curation.methods.adr.synthesis import image_weights

    objects = EntityTable.from_lists("object", [["cat"], ["cat"], ["cat"], ["cat", "emu"], []])
    tokens = EntityTable.from_lists("token", [["yak"], ["x"], ["x"], ["x"], ["x"]])
    weights = image_weights({"token": tokens, "object": objects}, {"token": 2, "object": 2})
    # object only: cat 2/4, emu 1 -> min(1, 2/1); the token "yak" (p = 1) does not count
    assert weights.tolist() == pytest.approx([0.5, 0.5, 0.5, 1.0, 0.0])
    only_text = image_weights({"token": tokens}, {"token": 2})
    assert only_text.tolist() == pytest.approx([1.0, 0.5, 0.5, 0.5, 0.5])


def test_draw_sources_seeded_without_repeats_then_round_robin():
    candidates = np.array([3, 5, 8, 13])
    first = draw_sources(candidates, 3, seed=1)
    assert first == draw_sources(candidates, 3, seed=1)
    assert len({s for s, _ in first}) == 3 and all(r == 0 for _, r in first)
    many = draw_sources(candidates, 10, seed=1)
    assert [r for _, r in many] == [0] * 4 + [1] * 4 + [2] * 2
    assert sorted(s for s, r in many if r == 1) == [3, 5, 8, 13]
    assert draw_sources(candidates, 0, seed=1) == []
    with pytest.raises(ValueError, match="no sample has a tail"):
        draw_sources(np.array([], dtype=np.int64), 2, seed=1)


# --- text ------------------------------------------------------------------------------------


def test_template_conversation_is_valid_llava():
    turns = template_conversation("A red circle.", seed=3)
    assert turns == template_conversation("A red circle.", seed=3)
    record = {"id": "x", "image": "x.png", "conversations": turns}
    assert validate_record(record) == []
    assert turns[1]["value"] == "A red circle."


def test_parse_llm_conversation_and_fallback():
    text = (
        "User: What is red?\nAssistant: The circle.\nIt is large.\nUser: How many?\nAssistant: Two."
    )
    turns = parse_conversation(text)
    assert [t["from"] for t in turns] == ["human", "gpt", "human", "gpt"]
    assert turns[0]["value"] == "<image>\nWhat is red?"
    assert turns[1]["value"] == "The circle.\nIt is large."
    assert parse_conversation("Assistant: hi") is None
    assert parse_conversation("no roles at all") is None
    writer = ConversationWriter("llm", complete=lambda prompts: [text, "garbage"])
    out = writer(["cap one", "cap two"], [1, 2])
    assert len(out[0]) == 4 and out[1][1]["value"] == "cap two"
    assert writer.fallbacks == 1


def test_best_of_picks_the_most_similar():
    source = np.array([1.0, 0.0])
    candidates = np.array([[0.0, 1.0], [0.8, 0.6], [0.6, 0.8]])
    best, sims = best_of(source, candidates)
    assert best == 1 and sims.tolist() == pytest.approx([0.0, 0.8, 0.6])


# --- diffusion -------------------------------------------------------------------------------


def _images(n, size=16):
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        array = np.full((size, size, 3), 30, np.uint8)
        x, y = rng.integers(0, size - 6, size=2)
        array[y : y + 6, x : x + 6] = (200, 40 + 20 * i, 40)
        out.append(Image.fromarray(array))
    return out


def test_tensor_roundtrip():
    images = _images(2)
    back = to_images(to_tensor(images, 16))
    for a, b in zip(images, back, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.slow
def test_unet_is_cached_and_sdedit_is_seeded(tmp_path):
    cfg = UNetConfig(
        resolution=16,
        block_out_channels=[8, 16],
        train_steps=3,
        batch_size=4,
        inference_steps=10,
        strength=0.5,
    )
    images = _images(6)
    keys = [f"{i}.png" for i in range(6)]
    first, info = cached_unet(images, keys, cfg, 0, tmp_path)
    assert info["steps"] == 3 and (first / "diffusion_pytorch_model.safetensors").is_file()
    again, _ = cached_unet([], keys, cfg, 0, tmp_path)  # cached: the images are not needed
    assert again == first
    weighted, _ = cached_unet(images, keys, cfg, 0, tmp_path, weights=[1, 0, 0, 0, 0, 0.5])
    assert weighted != first and (weighted / "training.json").is_file()
    generate = SDEditVariations(first, cfg)
    out = generate(images[:2], [7, 8], 2)
    assert [len(group) for group in out] == [2, 2] and out[0][0].size == (16, 16)
    repeat = generate(images[:2], [7, 8], 2)
    assert np.array_equal(np.asarray(out[1][1]), np.asarray(repeat[1][1]))
    assert not np.array_equal(np.asarray(out[0][0]), np.asarray(out[0][1]))

    seeds = list(range(6))
    flips = mirrored(seeds, 2, cfg.mirror)
    assert 0 < sum(flips) < len(flips)
    starts, plain = generate.starts(images, seeds, 2), to_tensor(images, 16)
    targets = [im for group in generate.targets(images, seeds, 2) for im in group]
    for k, flip in enumerate(flips):
        expected = plain[k // 2].flip(-1) if flip else plain[k // 2]
        assert torch.equal(starts[k], expected)
        assert torch.equal(to_tensor([targets[k]], 16)[0], expected)


def test_mirrored_candidates_are_drawn_from_seed_and_candidate():
    assert mirrored([1, 2], 3, 0.0) == [False] * 6 and mirrored([1, 2], 3, 1.0) == [True] * 6
    half = mirrored(list(range(300)), 2, 0.5)
    assert half == mirrored(list(range(300)), 2, 0.5) and 240 < sum(half) < 360
    assert mirrored([5], 2, 0.5) == half[10:12]  # a candidate's draw ignores the batch


def test_grid_places_pairs(tmp_path):
    pairs = [(im, im) for im in _images(5)]
    picture = grid(pairs, scale=2, columns=2)
    assert picture.size == (2 * (2 * 32 + 6), 3 * (32 + 2) + 2)


# --- ADR end to end on ToyWorld --------------------------------------------------------------


@pytest.fixture(scope="module")
def adr_run(tmp_path_factory):
    from curation.methods.adr.synthesis import Adr, AdrParams
    from curation.run import curate
    from toyworld.config import ToyWorldConfig
    from toyworld.make import make_world

    root = tmp_path_factory.mktemp("adr")
    world = make_world(
        ToyWorldConfig(out_dir=str(root / "world"), pool_size=160, benchmark_items_per_skill=2),
        progress=False,
    )
    params = AdrParams()
    unet = params.synthesis.unet
    unet.block_out_channels, unet.train_steps, unet.batch_size = [16, 32, 32], 30, 16
    unet.inference_steps = 20
    params.synthesis.reference.training_overrides = ["trainer.epochs=1"]
    params.synthesis.caption_prompt = "Describe the image briefly."
    params.synthesis.caption_max_new_tokens = 12
    params.synthesis.grid_pairs = 8

    # the tiny reference as `vlmdata curate` trains it (experiments/), handed over as a checkpoint
    from experiments.commands.curate import train_reference
    from experiments.schemas import DataConfig

    method = Adr(params)
    train_reference(method, DataConfig(), world / "pool.json", world, root / "cache", False)
    assert not method.needs_training()

    def run(out, count=-1):
        params.synthesis.count = count
        return curate(
            method,
            pool_path=world / "pool.json",
            image_root=world,
            budget=None,
            seed=42,
            out_dir=out,
            cache_root=root / "cache",
            config={"method": "adr"},
            progress=False,
        )

    return world, run(root / "adr"), run


@pytest.mark.slow
def test_adr_refills_to_pool_size_with_new_captioned_images(adr_run):
    world, subset, _ = adr_run
    counts = subset.manifest["counts"]
    assert counts["selected"] == counts["pool"] == 160
    synthesis = subset.manifest["details"]["synthesis"]
    assert counts["synthetic"] == synthesis["count"] == 160 - counts["from_pool"] > 0
    records = json.loads((subset.path / "subset.json").read_text())
    synthetic = records[counts["from_pool"] :]
    pool = {r["id"]: r for r in json.loads((world / "pool.json").read_text())}
    work = subset.path.with_name(subset.path.name + ".work")
    for record, origin in zip(synthetic, synthesis["samples"], strict=True):
        own = RecordRules(own_image_dirs=(str(work),))  # as training admits a subset's own
        assert validate_record(record, image_root=world, rules=own) == []
        image = record["image"]
        assert image.startswith(str(work.resolve())) and image.endswith(".png")
        assert image not in {r.get("image") for r in pool.values()}
        source = pool[origin["source_id"]]
        with Image.open(image) as new, Image.open(world / source["image"]) as old:
            assert new.size == old.size
            change = np.abs(np.asarray(new, float) - np.asarray(old.convert("RGB"), float)).mean()
        assert change > 1.0 and change == pytest.approx(origin["pixel_change"], abs=1e-3)
        assert record["conversations"][1]["value"].strip()  # captioned
        assert origin["generator"] == "unet_sdedit" and isinstance(origin["seed"], int)
        assert -1.0 <= origin["similarity"] <= 1.0 and len(origin["candidate_similarities"]) == 2
    with Image.open(synthesis["grid"]) as picture:
        assert picture.width > 200


@pytest.mark.slow
def test_adr_resumes_finished_samples(adr_run, tmp_path):
    _, subset, run = adr_run
    again = run(subset.path.parent / "adr")  # same out_dir: every sample is on disk already
    synthesis = again.manifest["details"]["synthesis"]
    assert synthesis["resumed"] == synthesis["count"]
    assert (again.path / "subset.json").read_bytes() == (subset.path / "subset.json").read_bytes()


@pytest.mark.slow
def test_adr_makes_a_configured_number_of_samples(adr_run):
    _, subset, run = adr_run
    five = run(subset.path.parent / "adr-5", count=5)
    assert five.manifest["counts"]["synthetic"] == 5
    assert five.manifest["counts"]["from_pool"] == subset.manifest["counts"]["from_pool"]
    # the UNet and the tiny reference trained for the first run are reused from the cache
    assert (
        five.manifest["details"]["synthesis"]["unet_dir"]
        == subset.manifest["details"]["synthesis"]["unet_dir"]
    )


# --- the paper's components, with tiny random weights ----------------------------------------


@pytest.mark.slow
def test_sd_image_variation_path_with_a_tiny_pipeline(tmp_path):
    import torch
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionImageVariationPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    from curation.methods.adr.variations.diffusion import SDImageVariations, SDVariationConfig

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=8,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=[8],
        latent_channels=4,
        norm_num_groups=4,
        down_block_types=["DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D"],
    )
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=8,
            projection_dim=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=16,
            patch_size=8,
            intermediate_size=16,
        )
    )
    StableDiffusionImageVariationPipeline(
        vae=vae,
        image_encoder=encoder,
        unet=unet,
        scheduler=PNDMScheduler(skip_prk_steps=True),
        safety_checker=None,
        feature_extractor=CLIPImageProcessor(crop_size=16, size=16),
        requires_safety_checker=False,
    ).save_pretrained(tmp_path / "sd")
    generate = SDImageVariations(
        SDVariationConfig(
            model=str(tmp_path / "sd"),
            revision="",
            input_size=16,
            inference_steps=2,
            device="cpu",
            dtype="float32",
        )
    )
    out = generate(_images(2), [3, 4], 2)
    assert [len(group) for group in out] == [2, 2]
    assert not np.array_equal(np.asarray(out[0][0]), np.asarray(out[0][1]))


@pytest.mark.slow
def test_clip_embedder_with_a_tiny_model(tmp_path):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    from curation.methods.adr.variations.models import ClipEmbedder

    config = CLIPConfig(
        text_config={
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "vocab_size": 50,
        },
        vision_config={
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "image_size": 16,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(crop_size=16, size=16).save_pretrained(tmp_path / "clip")
    embed = ClipEmbedder(str(tmp_path / "clip")).embed
    features = embed(_images(3))
    assert features.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["adr_dr", "adr", "adr_toyworld"])
def test_shipped_adr_configs_validate_against_the_method_params(name, monkeypatch):
    from configs.compose import compose_node, config_path, load_yaml
    from curation.registry import get_method

    monkeypatch.setenv("VLMDATA_ADR_CAPTIONER", "/models/captioner")
    node = load_yaml(config_path("curation", name))
    method = get_method(node.method)
    params = compose_node(method.Params, node.params, "params")
    assert method.needs_budget is False and node.budget is None and node.seed == 42
    if name == "adr":
        assert params.synthesis.reference.model == "/models/captioner"
        assert params.rebalance.entities.object.backend == "grounding_dino"
    if name == "adr_toyworld":
        assert params.synthesis.generator == "unet_sdedit"
        assert params.synthesis.reference.model == "tiny"


def test_the_synthesis_key_keeps_the_flat_reference_fields_of_before():
    """The work folder (and the paths a subset names its synthetic images by) is keyed by the
    params as they were before the reference became a node: same key, same subset.json."""
    from curation.methods.adr.synthesis import SynthesisParams, _key_params

    params = SynthesisParams()
    key = _key_params(params)
    before = {
        "reference": "tiny",
        "reference_epochs": 6,
        "reference_lr": 3e-3,
        "reference_batch_size": 16,
        "reference_max_length": 512,
        "reference_seed": 0,
    }
    assert {k: key[k] for k in before} == before
    assert set(key) - set(before) == {
        f.name for f in dataclasses.fields(SynthesisParams) if f.name != "reference"
    }
    params.reference.training_overrides = ["trainer.epochs=1", "optim.warmup_ratio=0.1"]
    changed = _key_params(params)
    assert changed["reference_epochs"] == 1
    assert changed["reference_overrides"] == ["optim.warmup_ratio=0.1"]
    params.reference.model = "/models/llava"
    params.reference.training_overrides = []
    assert _key_params(params)["reference"] == "/models/llava"
