"""Benchmark: do the frozen CLIP tokens the language model reads say where an object is?

    .venv/bin/python bench/spatial_position_probe.py [--clip DIR] [--questions 4000]

ToyWorld's models answer spatial questions ("Where is the blue triangle relative to the orange
square?") at their blind score, and stage 1 does not learn them from 25,000 examples
(bench/RESULTS.md). This asks whether the image tokens carry the answer: held-out spatial
questions of the demo world, each object's token taken at the patch holding its centre from the
tower's layer -2 (the one stage 2 reads), and linear probes (multinomial logistic regression,
trained on 3/4 of the questions, scored on the rest):
  - the relation from the two objects' patch indices (one-hot): what the patch grid allows;
  - the relation from the two objects' tokens, concatenated: what the tokens carry;
  - an object's patch column from its token alone (chance 1 / columns).
Default tower: the shipped foundation's (training/foundation/shipped/). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import re
from pathlib import Path

import numpy as np
import torch

from toyworld.config import ToyWorldConfig
from toyworld.pretraining import grounded_questions
from toyworld.render import render_scene
from toyworld.skills import PHRASINGS

RELATIONS = ("left", "right", "above", "below")
SHIPPED = Path(__file__).resolve().parents[1] / "training" / "foundation" / "shipped"


def asked_pair(scene, question: str):
    """The objects a spatial question asks about: (where is this one, relative to that one)."""
    for phrasing in PHRASINGS["spatial"]:
        pattern = re.escape(phrasing.text).replace(r"\{a\}", "(?P<a>.+)")
        found = re.fullmatch(pattern.replace(r"\{b\}", "(?P<b>.+)"), question)
        if found:
            by_name = {obj.name: obj for obj in scene.objects}
            return by_name[found["a"]], by_name[found["b"]]
    raise ValueError(f"not a spatial question: {question!r}")


def probe_accuracy(features: np.ndarray, labels: np.ndarray, classes: int) -> float:
    """Held-out accuracy of a multinomial logistic regression (standardised features, L2 1e-3,
    L-BFGS), trained on the first 3/4 of the rows."""
    x = torch.tensor(features, dtype=torch.float64)
    y = torch.tensor(labels)
    n = len(y) * 3 // 4
    mean, std = x[:n].mean(0), x[:n].std(0) + 1e-6
    x = (x - mean) / std
    weight = torch.zeros(x.shape[1], classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weight, bias], max_iter=500, line_search_fn="strong_wolfe")

    def loss():
        optimiser.zero_grad()
        value = torch.nn.functional.cross_entropy(x[:n] @ weight + bias, y[:n])
        value = value + 1e-3 * weight.pow(2).sum()
        value.backward()
        return value

    optimiser.step(loss)
    with torch.no_grad():
        return float(((x[n:] @ weight + bias).argmax(1) == y[n:]).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shipped = sorted(SHIPPED.glob("toyworld-*/clip"))
    parser.add_argument("--clip", type=Path, default=shipped[-1] if shipped else None)
    parser.add_argument("--questions", type=int, default=4000)
    args = parser.parse_args()
    if args.clip is None or not (args.clip / "config.json").is_file():
        parser.error(f"--clip {args.clip}: not a CLIP folder (a foundation's clip/)")
    from transformers import CLIPImageProcessor, CLIPVisionModel

    torch.manual_seed(0)
    world = ToyWorldConfig()
    model = CLIPVisionModel.from_pretrained(args.clip).eval()
    processor = CLIPImageProcessor.from_pretrained(args.clip)
    patch = model.config.patch_size
    grid = world.image_size // patch

    def patch_of(obj) -> int:
        x, y = obj.centre
        return int(y) // patch * grid + int(x) // patch

    asked = grounded_questions(world, "spatial", args.questions, "position-probe")
    tokens, pairs, relations = [], [], []
    for start in range(0, len(asked), 256):
        chunk = asked[start : start + 256]
        images = [render_scene(s, world.image_size, world.background_noise) for s, _ in chunk]
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            states = model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2]
        for (scene, turn), state in zip(chunk, states[:, 1:], strict=True):
            a, b = (patch_of(obj) for obj in asked_pair(scene, turn.qa.question))
            tokens.append(torch.cat([state[a], state[b]]).numpy())
            pairs.append((a, b))
            relations.append(RELATIONS.index(turn.qa.reference))
    labels = np.array(relations)
    onehot = np.zeros((len(pairs), 2 * grid * grid))
    for row, (a, b) in enumerate(pairs):
        onehot[row, a] = onehot[row, grid * grid + b] = 1
    both = np.array(tokens)
    first = both[:, : both.shape[1] // 2]
    columns = np.array([a % grid for a, _ in pairs])
    held_out = labels[len(labels) * 3 // 4 :]
    majority = np.bincount(held_out, minlength=4).max() / len(held_out)
    print(f"machine: {platform.machine()}; tower: {args.clip}; {len(labels)} questions")
    print("| probe | held-out accuracy | chance (majority) |")
    print("| --- | --- | --- |")
    print(
        f"| relation from the two patch indices | {probe_accuracy(onehot, labels, 4):.1%} "
        f"| {majority:.1%} |"
    )
    print(
        f"| relation from the two tokens | {probe_accuracy(both, labels, 4):.1%} | {majority:.1%} |"
    )
    print(
        f"| first object's column from its token | "
        f"{probe_accuracy(first, columns, grid):.1%} | {1 / grid:.1%} |"
    )


if __name__ == "__main__":
    main()
