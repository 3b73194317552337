import json

import numpy as np
import pytest

from curation.data.longtail import tau_threshold
from curation.methods.adr.entities.config import EntityConfig, EntityError
from curation.methods.adr.entities.extract import EntitySource, entity_tables, extract_lists
from curation.methods.adr.entities.models import LLMEntities, StanzaNouns, parse_list
from curation.methods.adr.entities.objects import AnnotationError, load_annotations, object_label
from curation.methods.adr.entities.table import EntityTable, co_occurrence_lists
from curation.methods.adr.entities.text import LeadingWordsQuestionTypes, LexiconNouns, singular


def _record(rid, human, gpt, image=None):
    record = {
        "id": rid,
        "conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}],
    }
    if image:
        record["image"] = image
        record["conversations"][0]["value"] = "<image>\n" + human
    return record


# --- text backends ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plural, lemma",
    [
        ("circles", "circle"),
        ("boxes", "box"),
        ("berries", "berry"),
        ("people", "person"),
        ("children", "child"),
        ("leaves", "leaf"),
        ("glasses", "glass"),
        ("bus", "bus"),
        ("dishes", "dish"),
        ("tomatoes", "tomato"),
        ("shoes", "shoe"),
        ("gloves", "glove"),
    ],
)
def test_singular(plural, lemma):
    assert singular(plural) == lemma


def test_lexicon_nouns_count_every_mention_and_lemmatise():
    nouns = LexiconNouns()
    text = "The image shows a man holding two umbrellas near the buildings; the man smiles."
    assert nouns.nouns(text) == ["image", "man", "umbrella", "building", "man"]


def test_lexicon_nouns_adjectives_and_verbs_by_context():
    nouns = LexiconNouns()
    assert nouns.nouns("Is there a green heart to the left of the square?") == [
        "heart",
        "left",
        "square",
    ]
    assert nouns.nouns("The square box is red.") == ["box"]
    assert nouns.nouns("Describe the picture and answer the question.") == ["picture", "question"]
    assert nouns.nouns("What color is the circle?") == ["color", "circle"]


def test_lexicon_file_adds_nouns(tmp_path):
    lexicon = tmp_path / "nouns.txt"
    lexicon.write_text("red\n")
    assert LexiconNouns.from_file(lexicon).nouns("it is red") == ["red"]


def test_question_types_longest_vqa_prefix_and_instructions():
    qt = LeadingWordsQuestionTypes()
    assert (
        qt.question_type(
            "<image>\nWhat color is the circle?\nAnswer the question using a single word or phrase."
        )
        == "what color is the"
    )
    assert qt.question_type("How many stars are there?") == "how many"
    assert qt.question_type("Please describe this picture.") == "describe"
    assert (
        qt.question_type(
            "Which one?\nA. red\nB. blue\nAnswer with the option's letter from "
            "the given choices directly."
        )
        == "which"
    )
    record = {
        "id": "x",
        "conversations": [
            {"from": "human", "value": "<image>\nIs there a star?"},
            {"from": "gpt", "value": "Yes"},
            {"from": "human", "value": "Is there a moon?"},
            {"from": "gpt", "value": "No"},
            {"from": "human", "value": "Describe it."},
            {"from": "gpt", "value": "..."},
        ],
    }
    assert qt(record) == ["is there a", "describe"]  # de-duplicated, in order


# --- annotations -----------------------------------------------------------------------------


def test_annotations_jsonl_toyworld_labels(tmp_path):
    path = tmp_path / "annotations.jsonl"
    rows = [
        {
            "id": "a",
            "image": "images/a.png",
            "objects": [
                {"shape": "circle", "colour": "red", "size": "small", "bbox": [0, 0, 4, 4]},
                {"shape": "circle", "colour": "red", "size": "large", "bbox": [5, 5, 9, 9]},
                {"shape": "star", "colour": "blue", "size": "small", "bbox": [1, 1, 3, 3]},
            ],
        }
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    index = load_annotations(path)
    assert index.lookup({"id": "a"}) == ["red circle", "blue star"]
    assert index.lookup({"id": "zz", "image": "images/a.png"}) == ["red circle", "blue star"]
    assert index.lookup({"id": "zz", "image": "other/b.png"}) is None
    shapes = load_annotations(path, label_format="{shape}")
    assert shapes.lookup({"id": "a"}) == ["circle", "star"]


def test_annotations_coco_and_vg_join_by_file_name(tmp_path):
    coco = tmp_path / "instances.json"
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 7, "file_name": "000000000007.jpg"}],
                "annotations": [
                    {"image_id": 7, "category_id": 1},
                    {"image_id": 7, "category_id": 2},
                    {"image_id": 7, "category_id": 1},
                ],
                "categories": [{"id": 1, "name": "Dogs"}, {"id": 2, "name": "frisbee"}],
            }
        )
    )
    index = load_annotations(coco)
    assert index.lookup({"id": "q", "image": "coco/train2017/000000000007.jpg"}) == [
        "dog",
        "frisbee",
    ]
    vg = tmp_path / "objects.json"
    vg.write_text(
        json.dumps([{"image_id": 2345, "objects": [{"names": ["trees"]}, {"name": "man"}]}])
    )
    index = load_annotations(vg)
    assert index.lookup({"id": "2345", "image": "vg/VG_100K/2345.jpg"}) == ["tree", "man"]


def test_annotation_errors_name_the_problem(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a"}\n')
    with pytest.raises(AnnotationError, match="line 1"):
        load_annotations(path)
    with pytest.raises(AnnotationError, match="needs field"):
        object_label({"shape": "x"}, "{colour} {shape}")


# --- tables, reverse index, counts feeding tau -----------------------------------------------


def test_table_counts_mentions_and_reverse_index():
    table = EntityTable.from_lists("token", [["dog", "dog", "cat"], [], ["cat"], ["emu"]])
    assert table.vocab == ["cat", "dog", "emu"]
    assert table.count_dict() == {"cat": 2, "dog": 2, "emu": 1}
    assert table.entities_of(0) == ["cat", "dog", "dog"]
    assert table.has_entities.tolist() == [True, False, True, True]
    assert table.samples_of("cat").tolist() == [0, 2]
    index = table.reverse_index()
    dog = table.vocab.index("dog")
    assert index.indices[index.indptr[dog] : index.indptr[dog + 1]].tolist() == [0]


def test_table_save_load_roundtrip_without_pickle(tmp_path):
    table = EntityTable.from_lists("object", [["ünïcode thing", "a,b"], ["x"]])
    table.save(tmp_path / "t.npz")
    back = EntityTable.load(tmp_path / "t.npz")
    assert back.vocab == table.vocab and back.perspective == "object"
    assert (back.matrix != table.matrix).nnz == 0


def test_co_occurrence_pairs_sorted_and_distinct():
    assert co_occurrence_lists([["b", "a", "c", "a"], ["x"]]) == [["a,b", "a,c", "b,c"], []]


def test_token_counts_feed_tau_as_computed_by_hand():
    # dog: 4 mentions, cat: 3, emu: 1, yak: 1 -> total 9; sorted cumulative 4, 7, 8, 9.
    # q=0.4 -> first cumulative >= 3.6 is 4 at dog -> tau 4; q=0.75 -> >= 6.75 is 7 at cat
    # -> tau 3; q=0.9 -> >= 8.1 is 9 at yak -> tau 1.
    records = [
        _record("1", "The dog and the dog.", "A dog sees a cat."),
        _record("2", "Is the dog near the cat?", "The cat is near an emu."),
        _record("3", "Describe the yak.", "It is nothing."),
    ]
    counts = entity_tables(EntitySource(records), EntityConfig(), ["token"])["token"].count_dict()
    assert counts == {"dog": 4, "cat": 3, "emu": 1, "yak": 1}
    assert tau_threshold(counts, 0.4) == 4
    assert tau_threshold(counts, 0.75) == 3
    assert tau_threshold(counts, 0.9) == 1


# --- all four perspectives, caching ----------------------------------------------------------


@pytest.fixture
def tiny_pool(tmp_path):
    records = [
        _record("a", "What color is the circle?", "Red.", image="a.png"),
        _record("b", "How many stars are there?", "Two stars.", image="b.png"),
        _record("c", "Tell me a joke.", "No."),
    ]
    (tmp_path / "annotations.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"id": "a", "image": "a.png", "objects": ["circle", "star", "moon"]},
                {"id": "b", "image": "b.png", "objects": [{"name": "stars"}]},
            ]
        )
        + "\n"
    )
    return EntitySource(records, image_root=tmp_path, cache_dir=tmp_path / "cache")


def test_four_perspectives(tiny_pool):
    tables = entity_tables(tiny_pool, EntityConfig())
    assert list(tables) == ["token", "object", "co_occurrence", "interrogation"]
    assert tables["object"].entities_of(0) == ["circle", "moon", "star"]
    assert tables["object"].entities_of(1) == ["star"]
    assert tables["co_occurrence"].entities_of(0) == ["circle,moon", "circle,star", "moon,star"]
    assert tables["interrogation"].entities_of(1) == ["how many"]
    assert tables["object"].has_entities.tolist() == [True, True, False]
    synthetic = [_record("s", "How many moons?", "One moon.", image="s.png")]
    assert extract_lists(tiny_pool, EntityConfig(), "token", synthetic) == [["moon", "moon"]]


def test_entities_are_cached_per_backend(tiny_pool, monkeypatch):
    first = entity_tables(tiny_pool, EntityConfig(), ["token", "object"])
    cached = sorted((tiny_pool.cache_dir / "entities").glob("*.npz"))
    assert len(cached) == 2

    def fail(*args, **kwargs):
        raise AssertionError("extractor called although the tables are cached")

    monkeypatch.setattr("curation.methods.adr.entities.extract._extractor", fail)
    again = entity_tables(tiny_pool, EntityConfig(), ["token", "object"])
    assert again["token"].count_dict() == first["token"].count_dict()
    other = EntityConfig()
    other.object.label_format = "{name}"
    with pytest.raises(AssertionError, match="cached"):  # another setting -> another key
        entity_tables(tiny_pool, other, ["object"])


def test_missing_annotations_is_a_clear_error(tmp_path):
    source = EntitySource([_record("a", "q?", "a", image="a.png")], image_root=tmp_path)
    with pytest.raises(EntityError, match="entities.object.annotations"):
        entity_tables(source, EntityConfig(), ["object"])


def test_unknown_perspective():
    with pytest.raises(EntityError, match="unknown perspective"):
        entity_tables(EntitySource([]), EntityConfig(), ["colour"])


# --- model backends: the parts that run without the models ----------------------------------


def test_parse_llm_lists():
    assert parse_list("1. Dogs\n2. red frisbees\n- none", singularise=True) == [
        "dog",
        "red frisbee",
    ]
    assert parse_list("What color is it? -> what color, be there, Describe.", False) == [
        "what color",
        "be there",
        "describe",
    ]


def test_llm_backend_with_injected_completion():
    seen = []

    def complete(prompts):
        seen.extend(prompts)
        return ["how many, what color" for _ in prompts]

    llm = LLMEntities(EntityConfig().llm, "interrogation", complete=complete)
    out = llm.batch([_record("a", "How many cats?", "Two.")])
    assert out == [["how many", "what color"]]
    assert "How many cats?" in seen[0] and "Two." not in seen[0]  # questions only


def test_stanza_backend_reports_missing_package():
    pytest.importorskip("numpy")
    try:
        import stanza  # noqa: F401
    except ImportError:
        with pytest.raises(EntityError, match="pip install stanza"):
            StanzaNouns(EntityConfig().token)
    else:
        pytest.skip("stanza is installed here")


def test_counts_are_integers():
    table = EntityTable.from_lists("token", [["a"] * 3])
    assert table.counts.dtype == np.int64 and table.counts.tolist() == [3]


@pytest.mark.slow
def test_transformers_chat_runs_a_tiny_causal_lm(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from curation.methods.adr.entities.config import LLMConfig
    from curation.methods.adr.entities.models import TransformersChat

    words = ["<unk>", "<pad>", "</s>", "list", "the", "objects", "dog", "cat", ",", "none"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    tokenizer.save_pretrained(tmp_path)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(words),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
        )
    ).save_pretrained(tmp_path)
    chat = TransformersChat(
        LLMConfig(
            model=str(tmp_path), device="cpu", dtype="float32", max_new_tokens=4, batch_size=2
        )
    )
    answers = chat.complete(["list the objects", "dog", "cat cat cat"])
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert answers == chat.complete(["list the objects", "dog", "cat cat cat"])  # greedy


def test_missing_llm_is_an_entity_error(tmp_path):
    from curation.methods.adr.entities.config import LLMConfig
    from curation.methods.adr.entities.models import TransformersChat

    with pytest.raises(EntityError, match="entities.llm.model"):
        TransformersChat(LLMConfig(model=str(tmp_path / "nowhere"), device="cpu"))


def test_match_detection_labels_to_prompt_phrases():
    from curation.methods.adr.entities.models import match_phrase

    phrases = ["red circle", "dogs", "blue star"]
    assert match_phrase("Red Circle", phrases) == "red circle"
    assert match_phrase("dog", phrases) == "dog"
    assert match_phrase("red", phrases) == "red circle"
    assert match_phrase("[SEP]", phrases) is None and match_phrase("", phrases) is None


@pytest.mark.slow
def test_grounding_dino_backend_with_a_tiny_random_detector(tmp_path):
    from PIL import Image
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    from curation.methods.adr.entities.models import GroundingDinoObjects

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "red", "circle", "star"]
    (tmp_path / "vocab.txt").write_text("\n".join(words) + "\n")
    GroundingDinoProcessor(
        image_processor=GroundingDinoImageProcessor(size={"shortest_edge": 32, "longest_edge": 32}),
        tokenizer=BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt")),
    ).save_pretrained(tmp_path)
    GroundingDinoForObjectDetection(
        GroundingDinoConfig(
            backbone_config=SwinConfig(
                embed_dim=8,
                depths=[1, 1],
                num_heads=[1, 1],
                window_size=2,
                image_size=32,
                patch_size=4,
                out_features=["stage1", "stage2"],
            ),
            text_config=BertConfig(
                vocab_size=len(words),
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=16,
            ),
            d_model=32,
            encoder_layers=1,
            decoder_layers=2,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=16,
            decoder_ffn_dim=16,
            num_queries=5,
            num_feature_levels=2,
            encoder_n_points=1,
            decoder_n_points=1,
            max_text_len=16,
            use_timm_backbone=False,
        )
    ).save_pretrained(tmp_path)
    Image.new("RGB", (32, 32), (200, 0, 0)).save(tmp_path / "a.png")
    cfg = EntityConfig()
    cfg.object.detector, cfg.object.prompt_with_llm_objects = str(tmp_path), False
    cfg.object.box_threshold = cfg.object.text_threshold = 0.0  # keep every random detection
    detector = GroundingDinoObjects(cfg, tmp_path)
    record = _record("a", "Is there a red circle or a star?", "A circle.", image="a.png")
    assert detector.prompts([record]) == [["circle", "star"]]
    found = detector.batch([record, _record("t", "Hi?", "Hello.")])
    assert set(found[0]) <= {"circle", "star"} and found[1] == []


def test_a_killed_extraction_resumes_from_its_finished_parts(tiny_pool, monkeypatch):
    import curation.methods.adr.entities.extract as entities

    monkeypatch.setattr(entities, "PART_SIZE", 1)
    seen = []
    real = entities._extractor

    def flaky(source, cfg, perspective):
        extract = real(source, cfg, perspective)

        def run(records):
            seen.extend(r["id"] for r in records)
            if len(seen) == 2 and not hasattr(flaky, "failed"):
                flaky.failed = True
                raise KeyboardInterrupt
            return extract(records)

        return run

    monkeypatch.setattr(entities, "_extractor", flaky)
    with pytest.raises(KeyboardInterrupt):
        entity_tables(tiny_pool, EntityConfig(), ["token"])
    assert not list((tiny_pool.cache_dir / "entities").glob("*.npz"))
    table = entity_tables(tiny_pool, EntityConfig(), ["token"])["token"]
    assert seen == ["a", "b", "b", "c"]  # "a" was saved as a part and not extracted again
    assert table.entities_of(1) == ["star", "star"]
    assert not list((tiny_pool.cache_dir / "entities").glob("*.parts"))
