import ast
from pathlib import Path

from curation.data.messages import IMAGE_TOKEN, record_to_messages

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("configs", "curation", "training", "evaluation", "experiments", "toyworld")


def test_image_token_is_defined_once_in_the_data_layer():
    defined = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                targets = node.targets if isinstance(node, ast.Assign) else []
                if isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                if any(isinstance(t, ast.Name) and t.id == "IMAGE_TOKEN" for t in targets):
                    defined.append(path.relative_to(REPO).as_posix())
    assert defined == ["curation/data/messages.py"]
    assert IMAGE_TOKEN == "<image>"


def test_every_stage_uses_the_one_token():
    from curation.data import records
    from toyworld import pool
    from training import template

    assert records.IMAGE_TOKEN is pool.IMAGE_TOKEN is template.IMAGE_TOKEN is IMAGE_TOKEN


def test_record_to_messages_moves_the_image_first():
    record = {
        "image": "a.png",
        "conversations": [
            {"from": "human", "value": f"What is this?\n{IMAGE_TOKEN}"},
            {"from": "gpt", "value": "A cube."},
        ],
    }
    assert record_to_messages(record) == [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cube."}]},
    ]


def test_a_multi_image_record_keeps_each_image_in_its_turn_in_order():
    record = {
        "image": ["a.png", "b.png", "c.png"],
        "conversations": [
            {"from": "human", "value": f"{IMAGE_TOKEN}\nLeft or {IMAGE_TOKEN}?"},
            {"from": "gpt", "value": "Left."},
            {"from": "human", "value": f"And {IMAGE_TOKEN}"},
            {"from": "gpt", "value": "Right."},
        ],
    }
    image = {"type": "image"}
    assert [m["content"] for m in record_to_messages(record)] == [
        [image, image, {"type": "text", "text": "Left or ?"}],
        [{"type": "text", "text": "Left."}],
        [image, {"type": "text", "text": "And"}],
        [{"type": "text", "text": "Right."}],
    ]
