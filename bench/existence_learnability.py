"""Benchmark: how many examples does the foundation's language model need to learn existence?

    .venv/bin/python bench/existence_learnability.py [--examples 3000 20000] [--epochs 4]
        [--lr 3e-4 1e-3 2e-3 3e-3] [--negatives adversarial random] [--layers 2]

ToyWorld's stage-2 models answer "Is there a blue triangle?" at their blind score while they
read colours and counts off the image (bench/RESULTS.md, issue 15). This asks whether that is
the image tokens' fault or the language model's, by giving the LM the best image tokens there
can be: each of 16 "patch" positions holds the LM's own word embeddings of the object there
(colour word + shape word) or of "nothing". The question follows as word tokens and the model
answers yes or no at the last position, as a benchmark item is scored. The LM has the shape of
the foundation's (training/foundation/recipe.py: LanguageRecipe), initialised as stage 1 starts
it, and trains as stages 1 and 2 do (AdamW, batch 32, cosine schedule with 3% warmup); scenes
hold 1-4 of 10 x 10 concepts, half the questions name a present object.
  adversarial: an absent object shares its colour or its shape with a present one (POPE's
               adversarial split; ToyWorld's benchmark draws absent objects near the scene's);
  random:      an absent object is any concept not in the scene.
Prints held-out accuracy (1,000 scenes, chance 50%) after each epoch, per setting, and a
markdown table of the last epoch for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import time

import numpy as np
import torch
import torch.nn.functional as F

SHAPES, COLOURS, PATCHES = 10, 10, 16
NOTHING = SHAPES + COLOURS
IS, THERE, A, MARK, YES, NO = NOTHING + 1 + np.arange(6)
VOCAB = NOTHING + 7


def draw_scenes(count: int, negatives: str, rng: np.random.Generator):
    """(patches, question, answer) per scene: patches as (shape, colour) ids, NOTHING-filled."""
    grids, questions, answers = [], [], []
    for _ in range(count):
        k = int(rng.integers(1, 5))
        present = [(int(rng.integers(SHAPES)), int(rng.integers(COLOURS))) for _ in range(k)]
        if rng.random() < 0.5:
            asked = present[int(rng.integers(k))]
        else:
            while True:
                if negatives == "adversarial":
                    shape, colour = present[int(rng.integers(k))]
                    if rng.random() < 0.5:
                        asked = (shape, int(rng.integers(COLOURS)))
                    else:
                        asked = (int(rng.integers(SHAPES)), colour)
                else:
                    asked = (int(rng.integers(SHAPES)), int(rng.integers(COLOURS)))
                if asked not in present:
                    break
        grid = np.full((PATCHES, 2), NOTHING)
        for slot, (shape, colour) in zip(
            rng.choice(PATCHES, k, replace=False), present, strict=True
        ):
            grid[slot] = (shape, SHAPES + colour)
        grids.append(grid)
        questions.append([IS, THERE, A, SHAPES + asked[1], asked[0], MARK])
        answers.append(YES if asked in present else NO)
    return torch.tensor(np.array(grids)), torch.tensor(questions), torch.tensor(answers)


def inputs(model, grids: torch.Tensor, questions: torch.Tensor) -> torch.Tensor:
    embed = model.get_input_embeddings()
    return torch.cat([embed(grids).sum(2), embed(questions)], dim=1)


def run(examples: int, epochs: int, lr: float, negatives: str, layers: int, seed: int):
    from transformers import LlamaConfig, LlamaForCausalLM, get_cosine_schedule_with_warmup

    from training.foundation.recipe import LanguageRecipe

    recipe = LanguageRecipe()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=recipe.hidden_size,
            intermediate_size=recipe.intermediate_size,
            num_hidden_layers=layers,
            num_attention_heads=recipe.heads,
            num_key_value_heads=recipe.heads,
            max_position_embeddings=64,
        )
    )
    rng = np.random.default_rng(seed)
    train = draw_scenes(examples, negatives, rng)
    test = draw_scenes(1000, negatives, np.random.default_rng(seed + 1))
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * -(-examples // 32)
    schedule = get_cosine_schedule_with_warmup(optimiser, int(0.03 * steps), steps)
    accuracy = []
    for _ in range(epochs):
        model.train()
        for batch in torch.from_numpy(rng.permutation(examples)).split(32):
            logits = model(inputs_embeds=inputs(model, train[0][batch], train[1][batch])).logits
            loss = F.cross_entropy(logits[:, -1], train[2][batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            logits = model(inputs_embeds=inputs(model, test[0], test[1])).logits[:, -1]
        said_yes = logits[:, YES] > logits[:, NO]
        accuracy.append(float((said_yes == (test[2] == YES)).float().mean()))
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, nargs="+", default=[3000, 20000])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, nargs="+", default=[3e-4, 1e-3, 2e-3, 3e-3])
    parser.add_argument("--negatives", nargs="+", default=["adversarial", "random"])
    parser.add_argument("--layers", type=int, nargs="+", default=[2])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for examples, lr, negatives, layers in itertools.product(
        args.examples, args.lr, args.negatives, args.layers
    ):
        started = time.perf_counter()
        curve = run(examples, args.epochs, lr, negatives, layers, args.seed)
        seconds = time.perf_counter() - started
        print(
            f"{examples} examples x {args.epochs} epochs, lr {lr:g}, {negatives} negatives, "
            f"{layers} layers: "
            + " ".join(f"{100 * a:.1f}" for a in curve)
            + f" ({seconds:.0f} s)",
            flush=True,
        )
        rows.append((examples, lr, negatives, layers, curve, seconds))
    machine = platform.processor() or platform.machine()
    print(f"\nMachine: {machine}, torch {torch.__version__}, 1 thread")
    print(
        "| examples | presentations | lr | negatives | LM layers | held-out accuracy: last (best) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for examples, lr, negatives, layers, curve, _ in rows:
        print(
            f"| {examples} | {examples * args.epochs} | {lr:g} | {negatives} | {layers} | "
            f"{100 * curve[-1]:.1f}% ({100 * max(curve):.1f}%) |"
        )


if __name__ == "__main__":
    main()
