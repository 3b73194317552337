"""The reference-model feature pass on a tiny LLaVA: values, layout, shards, kill and resume."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from curation.features.extract import (
    FeatureError,
    FeatureRequest,
    Reference,
    extract_features,
    hf_reference,
)

REPO = Path(__file__).resolve().parents[3]
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 40),
}
KINDS = ("coincide", "last_token", "mean_last", "answer_stats")
REQUEST = FeatureRequest(
    layers=(0, 1), kinds=KINDS, batch_size=4, chunk_size=8, max_length=256, device="cpu"
)


def _write_pool(root: Path, n: int = 30) -> list[dict]:
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = list(COLOURS)
    records = []
    for i in range(n):
        colour = names[i % 4]
        if i % 7 == 3:
            records.append(
                {
                    "id": f"text{i}",
                    "conversations": [
                        {"from": "human", "value": f"Name colour number {i}."},
                        {"from": "gpt", "value": colour},
                    ],
                }
            )
            continue
        size = (32, 24 + 4 * (i % 3))  # not square: padded to square like LLaVA-1.5
        pixels = np.array(COLOURS[colour], dtype=np.float64) * rng.uniform(0.7, 1.0)
        image = np.clip(pixels + rng.normal(0, 12, size=(size[1], size[0], 3)), 0, 255)
        Image.fromarray(image.astype(np.uint8)).save(root / "images" / f"{i}.png")
        turns = [
            {"from": "human", "value": "What colour is the picture?\n<image>"},
            {"from": "gpt", "value": colour},
        ]
        if i % 2:
            turns += [{"from": "human", "value": "Are you sure?"}, {"from": "gpt", "value": "Yes."}]
        records.append({"id": f"img{i}", "image": f"images/{i}.png", "conversations": turns})
    (root / "pool.json").write_text(json.dumps(records))
    return records


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from training.models import build_tiny_llava
    from training.tokenizer import record_texts

    root = tmp_path_factory.mktemp("features")
    records = _write_pool(root)
    model, processor = build_tiny_llava(list(record_texts(records)), seed=0)
    model.save_pretrained(root / "ref")
    processor.save_pretrained(root / "ref")
    reference = hf_reference(root / "ref")
    clean = extract_features(
        records, root, reference, REQUEST, root / "clean", "pool-sha", progress=False
    )
    return {"root": root, "records": records, "reference": reference, "clean": clean}


def _bytes(features, kind: str) -> bytes:
    return (features.path / f"{kind}.npy").read_bytes()


def test_coincide_vectors_are_unit_norm_with_zero_visual_blocks_for_text_only(world):
    features, records = world["clean"], world["records"]
    x = features.load("coincide").astype(np.float32)
    hidden = features.hidden
    assert x.shape == (len(records), 2 * 2 * hidden)
    assert features.load("coincide").dtype == np.float16
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=2e-3)
    blocks = x.reshape(len(records), 2, 2, hidden)  # layer, [visual, language], hidden
    for i, record in enumerate(records):
        visual = np.abs(blocks[i, :, 0]).max(axis=1)
        language = np.linalg.norm(blocks[i, :, 1], axis=1)
        if "image" in record:
            assert (visual > 0).all()
            assert np.allclose(language, 0.5, atol=2e-3)  # 1 / sqrt(2 L), L = 2
        else:
            assert (visual == 0).all()
            assert np.allclose(language, 2**-0.5, atol=2e-3)  # the language blocks carry it all


def test_other_kinds_from_the_same_pass(world):
    features, records = world["clean"], world["records"]
    last = features.load("last_token").astype(np.float32)
    assert np.allclose(np.linalg.norm(last, axis=1), 1.0, atol=2e-3)
    assert features.load("mean_last").shape == (len(records), features.hidden)
    stats = features.load("answer_stats")
    assert stats.dtype == np.float32 and np.isfinite(stats).all()
    nll, el2n, aum, count = stats.T
    assert (nll > 0).all() and ((el2n >= 0) & (el2n <= 2**0.5)).all() and (np.abs(aum) <= 1).all()
    assert (count >= 2).all()  # an answer word and the end-of-turn token at least


def test_answer_tokens_are_the_tokens_training_puts_loss_on(world):
    from transformers import AutoProcessor

    from training.encode import ConversationEncoder

    processor = AutoProcessor.from_pretrained(world["root"] / "ref")
    encoder = ConversationEncoder(processor.tokenizer, 16, 256)
    counts = world["clean"].load("answer_stats")[:, 3]
    for record, count in zip(world["records"], counts, strict=True):
        labels = encoder(record).labels
        assert int((labels[1:] != -100).sum()) == count


def test_a_batched_vector_equals_the_record_alone(world):
    """Padding and batch-mates do not leak into a record's features."""
    features, records = world["clean"], world["records"]
    alone = FeatureRequest(
        layers=(0, 1), kinds=("coincide",), batch_size=1, chunk_size=1, device="cpu"
    )
    for i in (1, 3, 5):  # an image record with two answers, a text-only one, a short one
        single = extract_features(
            records[i : i + 1],
            world["root"],
            world["reference"],
            alone,
            world["root"] / f"alone{i}",
            f"sha{i}",
            progress=False,
        )
        assert np.allclose(
            single.load("coincide")[0].astype(np.float32),
            features.load("coincide")[i].astype(np.float32),
            atol=2e-3,
        )


def test_the_hooked_module_is_the_attention_output_projection(world):
    """Recompute one record's first-layer visual block by hand from o_proj's output."""
    model, processor = world["reference"].load()
    record = world["records"][0]
    image = Image.open(world["root"] / record["image"]).convert("RGB")
    side = max(image.size)
    mean = tuple(int(v * 255) for v in processor.image_processor.image_mean)
    square = Image.new("RGB", (side, side), mean)
    square.paste(image, ((side - image.size[0]) // 2, (side - image.size[1]) // 2))
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "x"}]}],
        tokenize=False,
    )
    inputs = processor(text=text, images=[square], return_tensors="pt")
    captured = {}
    layer = model.model.language_model.layers[0].self_attn.o_proj
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    with torch.inference_mode():
        model(**inputs)
    handle.remove()
    positions = inputs["input_ids"][0] == model.config.image_token_index
    visual = torch.nn.functional.normalize(torch.tanh(captured["out"][0, positions].mean(0)), dim=0)
    got = world["clean"].load("coincide")[0, : world["clean"].hidden].astype(np.float32)
    assert np.allclose(got, visual.numpy() / 2, atol=2e-3)  # / sqrt(2 L)


def test_shards_give_the_same_bytes_as_one_pass(world, tmp_path):
    args = (world["records"], world["root"], world["reference"], REQUEST, tmp_path, "pool-sha")
    for shard in (2, 0, 1):
        assert extract_features(*args, shard=shard, num_shards=3, progress=False) is None
    merged = extract_features(*args, progress=False)
    for kind in KINDS:
        assert _bytes(merged, kind) == _bytes(world["clean"], kind)
    assert merged.sha256("coincide") == world["clean"].sha256("coincide")
    assert not (merged.path / "parts").exists()


def test_another_thread_count_changes_at_most_the_last_bits(world, tmp_path):
    """Thread counts change GEMM reduction order, so only closeness is guaranteed."""
    one_thread = dataclasses.replace(REQUEST, cpu_threads=1)
    other = extract_features(
        world["records"],
        world["root"],
        world["reference"],
        one_thread,
        tmp_path,
        "pool-sha",
        progress=False,
    )
    for kind in KINDS:
        got, want = other.load(kind).astype(np.float64), world["clean"].load(kind)
        assert np.allclose(got, want, rtol=1e-3, atol=1e-3, equal_nan=True), kind


KERNEL_PATHS = {  # environment variables that pin torch's, oneDNN's and MKL's code paths
    "native": {},
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "baseline": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },
}

SHARD_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, torch
    from curation.features.extract import FeatureRequest, extract_features, hf_reference

    root, out = sys.argv[1], sys.argv[2]
    records = json.load(open(root + "/pool.json"))
    request = FeatureRequest(layers=(0, 1), kinds=("coincide", "last_token", "mean_last",
                             "answer_stats"), batch_size=4, chunk_size=8, max_length=256,
                             device="cpu", cpu_threads=1)
    args = (records, root, hf_reference(root + "/ref"), request)
    one = extract_features(*args, out + "/one", "pool-sha", progress=False)
    for shard in (1, 2, 0):
        extract_features(*args, out + "/sharded", "pool-sha", shard=shard, num_shards=3,
                         progress=False)
    sharded = extract_features(*args, out + "/sharded", "pool-sha", progress=False)
    same = {k: one.sha256(k) == sharded.sha256(k) for k in request.kinds}
    np.save(out + "/last_token.npy", one.load("last_token"))
    print(json.dumps({"cpu": torch.backends.cpu.get_cpu_capability(), "same": same}))
""")


@pytest.mark.slow
def test_shard_layout_invariance_holds_on_every_kernel_path(world, tmp_path):
    """CI may run on an AVX2 or an AVX-512 machine: force each vector path in turn (they give
    different bytes) and check that within each one, 3 shards equal one pass byte for byte."""
    results, features = {}, {}
    for name, variables in KERNEL_PATHS.items():
        out = tmp_path / name
        out.mkdir()
        env = {**os.environ, "PYTHONPATH": str(REPO), **variables}
        proc = subprocess.run(
            [sys.executable, "-c", SHARD_SCRIPT, str(world["root"]), str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        features[name] = np.load(out / "last_token.npy").astype(np.float64)
    for name, result in results.items():
        assert all(result["same"].values()), (name, result)
    assert results["avx2"]["cpu"] == "AVX2" and results["baseline"]["cpu"] == "DEFAULT"
    for name in ("avx2", "baseline"):
        assert np.allclose(features[name], features["native"], rtol=1e-3, atol=1e-3)


def test_a_finished_set_is_read_without_loading_the_model(world):
    def refuse():
        raise AssertionError("the model should not be loaded for a cached feature set")

    cached = Reference(world["reference"].fingerprint, refuse, "cached")
    args = (world["records"], world["root"], cached)
    again = extract_features(*args, REQUEST, world["root"] / "clean", "pool-sha", progress=False)
    assert again.path == world["clean"].path
    # a request for fewer kinds of the same pass is served by the bigger set
    for kinds in (("last_token",), ("coincide", "answer_stats")):
        fewer = FeatureRequest(
            layers=(0, 1), kinds=kinds, batch_size=4, chunk_size=8, max_length=256
        )
        served = extract_features(*args, fewer, world["root"] / "clean", "pool-sha", progress=False)
        assert served.path == world["clean"].path
    other_layers = FeatureRequest(
        layers=(1,), kinds=("coincide",), batch_size=4, chunk_size=8, max_length=256
    )
    with pytest.raises(AssertionError, match="should not be loaded"):
        extract_features(*args, other_layers, world["root"] / "clean", "pool-sha", progress=False)


KILL_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys
    from curation.features.extract import FeatureRequest, extract_features, hf_reference

    root, cache, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])

    class KilledMidway(list):
        def __getitem__(self, i):
            if i == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().__getitem__(i)

    records = KilledMidway(json.load(open(os.path.join(root, "pool.json"))))
    request = FeatureRequest(layers=(0, 1), kinds=("coincide", "last_token", "mean_last",
                             "answer_stats"), batch_size=4, chunk_size=8, max_length=256,
                             device="cpu")
    extract_features(records, root, hf_reference(os.path.join(root, "ref")), request, cache,
                     "pool-sha", progress=False)
""")


@pytest.mark.slow
def test_killed_midway_then_resumed_gives_identical_features(world, tmp_path):
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(world["root"]), str(cache), "20"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    folder = next((cache / "features").iterdir())
    assert not (folder / "meta.json").exists()
    done = sorted(p.name for p in (folder / "parts").iterdir() if not p.name.startswith("."))
    assert done == ["chunk-0000000", "chunk-0000001"]  # records 0-15 done, killed at 20
    resumed = extract_features(
        world["records"],
        world["root"],
        world["reference"],
        REQUEST,
        cache,
        "pool-sha",
        progress=False,
    )
    for kind in KINDS:
        assert _bytes(resumed, kind) == _bytes(world["clean"], kind)
    assert not any(p.name.startswith(".tmp") for p in resumed.path.iterdir())


def test_bad_requests_and_records(world, tmp_path):
    with pytest.raises(FeatureError, match="kinds"):
        FeatureRequest(kinds=("pixels",))
    bad_layers = FeatureRequest(layers=(0, 5), kinds=("coincide",), device="cpu")
    with pytest.raises(FeatureError, match="layers"):
        extract_features(
            world["records"][:2],
            world["root"],
            world["reference"],
            bad_layers,
            tmp_path,
            "x",
            progress=False,
        )
    missing = [
        {
            "id": "m",
            "image": "images/none.png",
            "conversations": [
                {"from": "human", "value": "<image>\nHi"},
                {"from": "gpt", "value": "Hi"},
            ],
        }
    ]
    with pytest.raises(FeatureError, match="none.png"):
        extract_features(
            missing, world["root"], world["reference"], REQUEST, tmp_path, "y", progress=False
        )


def test_fingerprint_ignores_export_provenance_but_not_weights(world, tmp_path):
    import shutil

    from curation.features.extract import directory_sha256

    copy = tmp_path / "ref"
    shutil.copytree(world["root"] / "ref", copy)
    (copy / "vlmdata_export.json").write_text('{"finished": "another day", "out_dir": "elsewhere"}')
    assert hf_reference(copy).fingerprint == world["reference"].fingerprint
    weights = next(copy.glob("*.safetensors"))
    data = weights.read_bytes()
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))  # one byte surely different
    assert directory_sha256(copy) != world["reference"].fingerprint


# --- multi-image records ---------------------------------------------------------------------


def _multi(images: list[str], record_id: str = "multi") -> dict:
    """Three <image> tokens: two in the first turn (kept in place), one in the second."""
    return {
        "id": record_id,
        "image": images,
        "conversations": [
            {"from": "human", "value": "<image>\n<image>\nWhich colour comes first?"},
            {"from": "gpt", "value": "red"},
            {"from": "human", "value": "And this one? <image>"},
            {"from": "gpt", "value": "blue"},
        ],
    }


def test_a_multi_image_record_goes_through_the_reference_with_all_its_images(world, tmp_path):
    """Its vectors are those of the training batch (token_stream=whole: the processor's own
    tokenization) through the reference: every image block, the images in token order."""
    from training.data import Collator, LlavaDataset

    wide = FeatureRequest(
        layers=(0, 1), kinds=KINDS, batch_size=3, chunk_size=3, max_length=256, device="cpu"
    )
    records = [
        world["records"][0],
        _multi(["images/0.png", "images/1.png", "images/2.png"], "m1"),
        world["records"][3],
    ]
    features = extract_features(
        records, world["root"], world["reference"], wide, tmp_path / "multi", "m", progress=False
    )
    model, processor = world["reference"].load()
    dataset = LlavaDataset(records, world["root"], processor, 256, token_stream="whole")
    batch = Collator(processor.tokenizer.pad_token_id)([dataset[i] for i in range(3)])
    assert batch["pixel_values"].shape[0] == 1 + 3
    with torch.inference_mode():
        states = model.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            pixel_values=batch["pixel_values"],
        ).last_hidden_state
    mask = batch["attention_mask"].bool()
    for row in range(3):
        mean = states[row][mask[row]].mean(0).numpy()
        assert np.allclose(features.load("mean_last")[row], mean, atol=1e-4)
    labels = batch["labels"]
    assert features.load("answer_stats")[:, 3].tolist() == (labels[:, 1:] != -100).sum(1).tolist()

    swapped = _multi(["images/2.png", "images/1.png", "images/0.png"], "m1")
    again = extract_features(
        [swapped], world["root"], world["reference"], wide, tmp_path / "swap", "s", progress=False
    )
    x, y = features.load("coincide")[1].astype(np.float32), again.load("coincide")[0]
    assert np.allclose(np.linalg.norm(x), 1.0, atol=2e-3)
    assert not np.allclose(x, y.astype(np.float32), atol=1e-2)  # the order is seen


def test_a_multi_image_record_whose_second_image_is_missing_names_it(world, tmp_path):
    record = _multi(["images/0.png", "images/none.png", "images/2.png"])
    with pytest.raises(FeatureError, match=r"id='multi'.*none\.png"):
        extract_features(
            [record], world["root"], world["reference"], REQUEST, tmp_path, "z", progress=False
        )
