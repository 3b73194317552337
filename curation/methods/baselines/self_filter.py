"""Self-Filter (Chen et al., "Your Vision-Language Model Itself Is a Strong Filter", ACL 2024).

Stage 1 (difficulty): a small score network g maps each record's features to a weight; the
per-sample losses are weighted w_i = B softmax_batch(g(x_i)) and sum(w_i L_i) / B is minimised,
so records with high loss get low weight. Difficulty = -g(x), standardised over the pool.
Stage 2 (diversity): greedy; at each step take the record maximising
    difficulty_j - gamma * max(0, max_{k kept} cos(x_j, x_k))
(ties: lowest pool position), so records similar to already kept ones are penalised.

How this departs from the paper, precisely:
- The paper trains g jointly with the VLM being finetuned (both minimise the weighted loss;
  g reads features of frozen pre-trained encoders such as CLIP). Here the VLM is the
  reference LVLM, trained beforehand with the ordinary unweighted loss (COINCIDE's reference,
  shared by all baselines), and g is trained afterwards against that model's FIXED
  per-sample losses (mean answer-token NLL from the cached pass) on the reference's own
  features (`feature`, default COINCIDE's visual+language features). So g does not shape the
  VLM's training, and the losses it weighs do not move while it learns.
- Records without an answer token (NaN loss) do not train g; g still scores them.
- The penalty form (max cosine to the kept set, weight gamma) is ours; the paper penalises
  the difficulty of samples near already selected ones with its own distance rule.
Cost: stage 2 is O(budget x N x D) (one matrix-vector product per pick).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from configs.compose import choice
from curation.data.threads import torch_threads
from curation.features.reference_pass import (
    EMBEDDINGS,
    ReferenceParams,
    ReferencePassMethod,
    answer_stat,
    provenance,
    reference_features,
    unit_rows,
)
from curation.method import CurationContext, Selection
from curation.methods.baselines.scoring import score_summary


@dataclass
class SelfFilterParams(ReferenceParams):
    feature: str = choice("coincide", EMBEDDINGS)
    hidden: int = 64  # score network: Linear(D, hidden) -> ReLU -> Linear(hidden, 1)
    epochs: int = 10
    score_batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    gamma: float = 1.0  # diversity penalty weight (difficulties are standardised)


@dataclass(frozen=True)
class ScoreNetRecipe:
    hidden: int = 64
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1  # fixed torch threads: the same weights on any machine, and the fastest


def train_score_net(features: np.ndarray, losses: np.ndarray, recipe: ScoreNetRecipe) -> np.ndarray:
    """Stage 1: fit g to the fixed per-sample losses; returns g(x) for every row (float64)."""
    with torch_threads(recipe.threads):
        return _train(features, losses, recipe)


def _train(features: np.ndarray, losses: np.ndarray, recipe: ScoreNetRecipe) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    train = np.flatnonzero(np.isfinite(losses))
    loss_t = torch.from_numpy(np.nan_to_num(losses, nan=0.0).astype(np.float32))
    rng = np.random.default_rng(recipe.seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        net = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], recipe.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(recipe.hidden, 1),
        )
    optimiser = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for _ in range(recipe.epochs):
        order = torch.from_numpy(rng.permutation(train))
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            if len(batch) < 2:
                continue  # one record: its weight is 1 whatever g says
            weights = torch.softmax(net(x[batch]).squeeze(1), dim=0)
            objective = (weights * loss_t[batch]).sum()
            optimiser.zero_grad()
            objective.backward()
            optimiser.step()
    with torch.inference_mode():
        return net(x).squeeze(1).double().numpy()


def diverse_greedy(
    difficulty: np.ndarray, features: np.ndarray, budget: int, gamma: float, progress: bool = False
) -> np.ndarray:
    """Stage 2: pool positions in the order taken (unit-norm `features`)."""
    x = np.asarray(features, dtype=np.float32)
    closest = np.zeros(len(x), dtype=np.float64)  # max(0, max cosine to a kept record)
    available = np.ones(len(x), dtype=bool)
    order = np.empty(budget, dtype=np.int64)
    for step in tqdm(range(budget), desc="self-filter selection", disable=not progress):
        objective = np.where(available, difficulty - gamma * closest, -np.inf)
        pick = int(np.argmax(objective))
        order[step] = pick
        available[pick] = False
        closest = np.maximum(closest, x @ x[pick])
    return order


class SelfFilterSelection(ReferencePassMethod):
    name = "self_filter"
    Params = SelfFilterParams

    def select(self, ctx: CurationContext, budget: int | None) -> Selection:
        assert budget is not None
        p: SelfFilterParams = self.params
        features, reference = reference_features(p, ctx)
        vectors = unit_rows(features.load(p.feature))
        losses = answer_stat(features, "mean_nll")
        recipe = ScoreNetRecipe(
            p.hidden, p.epochs, p.score_batch_size, p.lr, p.weight_decay, seed=ctx.seed
        )
        weight = train_score_net(vectors, losses, recipe)
        difficulty = -(weight - weight.mean()) / max(float(weight.std()), 1e-12)
        order = diverse_greedy(difficulty, vectors, budget, p.gamma, ctx.progress)
        details = {
            "score": "standardised difficulty = -g(x)",
            "gamma": p.gamma,
            "difficulty": score_summary(difficulty),
            "selected_difficulty": score_summary(difficulty[order]),
            "losses": score_summary(losses),
            **provenance(reference, features, p.feature),
        }
        return Selection(indices=order, details=details)
