"""Self-Filter (Chen et al., "Your Vision-Language Model Itself Is a Strong Filter", ACL 2024).

Stage 1 (difficulty): a score network g maps each record's features to a weight; within a
minibatch B the weights are w_i = softmax_B(g(x_i)) and the weighted loss is minimised, so
records with high loss get low weight. Difficulty = -g(x).
  - `score_net: linear` (default, the authors'): g(x) = <w, x>, a bias-free linear layer
    initialised N(0, 0.02) as LLaVA initialises new layers; `mlp`: Linear(D, hidden) -> ReLU ->
    Linear(hidden, 1) with torch's default initialisation.
  - `loss_weighting: tokens` (default, the authors'): every answer token carries its record's
    weight and the batch is averaged over tokens, |B| sum_i w_i n_i L_i / sum_i n_i with n_i
    answer tokens and L_i their mean NLL; `samples`: sum_i w_i L_i.
Stage 2 (diversity), greedy:
  - `penalty: nearest` (default, the authors' dist_filter): take the record of highest current
    difficulty d (ties: lowest pool position); subtract gamma * d_picked * cos^2 from the current
    difficulty of the `k_nearest` remaining records most similar to it (cosine; ties: lowest
    position); repeat. The subtractions accumulate; d is the raw -g(x).
  - `penalty: max_cosine`: d standardised over the pool; each step takes
    argmax_j d_j - gamma * max(0, max_{k kept} cos(x_j, x_k)) (ties: lowest position).

How this departs from the paper, precisely:
- The paper trains g jointly with the VLM being finetuned (both minimise the weighted loss;
  g reads features of frozen pre-trained encoders such as CLIP). Here the VLM is the
  reference LVLM, trained beforehand with the ordinary unweighted loss (COINCIDE's reference,
  shared by all baselines), and g is trained afterwards against that model's FIXED
  per-sample losses (mean answer-token NLL and answer-token count from the cached pass) on the
  reference's own features (`feature`, default COINCIDE's visual+language features, rows
  L2-normalised), with its own optimiser (AdamW, `lr`, `weight_decay`, `epochs`,
  `score_batch_size`). So g does not shape the VLM's training, and the losses it weighs do not
  move while it learns.
- Records without an answer token (NaN loss) do not train g; g still scores them.
Cost: stage 2 is O(budget x N x D) (one matrix-vector product per pick) below
`approximate_from` records. From there on (the scalable path, `select_at_scale`):
- rows wider than `project_dim` are mapped, in one memory-bounded pass over the (memory-mapped)
  features, by a fixed seeded Gaussian random projection to `project_dim` dimensions and
  renormalised; both stages read these rows (cosines approximate: ~1/sqrt(project_dim));
- stage 2 reads each record's `3 k_nearest` most similar records, computed once by the
  HNSW search of curation/methods/baselines/neighbours.py (approximate: `knn_m`,
  `knn_ef_construction`, `knn_ef_search`), and applies the same cumulative rule over them
  with a lazy max-heap. A pick
  whose list no longer holds k_nearest remaining records above its last entry's cosine falls
  back to the exact scan over every remaining record, so with exact lists the rule is exactly
  the brute-force one (tested).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from configs.compose import ConfigError, choice
from curation.data.mapped import read_rows
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
from curation.methods.baselines.neighbours import HnswSettings, Neighbours, nearest_neighbours
from curation.methods.baselines.scoring import score_summary

SCORE_NETS = ("linear", "mlp")
LOSS_WEIGHTINGS = ("tokens", "samples")
PENALTIES = ("nearest", "max_cosine")


@dataclass
class SelfFilterParams(ReferenceParams):
    feature: str = choice("coincide", EMBEDDINGS)
    score_net: str = choice("linear", SCORE_NETS)
    hidden: int = 64  # score_net=mlp only
    loss_weighting: str = choice("tokens", LOSS_WEIGHTINGS)
    epochs: int = 10
    score_batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    penalty: str = choice("nearest", PENALTIES)
    k_nearest: int = 10  # penalty=nearest: how many remaining neighbours each pick penalises
    gamma: float = 1.0  # penalty weight
    # from this pool size on: projected rows and stage 2 over approximate neighbour lists
    approximate_from: int = 100_000
    project_dim: int = 256  # rows wider than this are randomly projected (at scale)
    knn_m: int = 16  # HNSW links per node of the similarity search
    knn_ef_construction: int = 80
    knn_ef_search: int = 96


@dataclass(frozen=True)
class ScoreNetRecipe:
    hidden: int = 64
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1  # fixed torch threads: the same weights on any machine, and the fastest
    network: str = "linear"
    weighting: str = "tokens"


def train_score_net(
    features: np.ndarray,
    losses: np.ndarray,
    recipe: ScoreNetRecipe,
    token_counts: np.ndarray | None = None,
) -> np.ndarray:
    """Stage 1: fit g to the fixed per-sample losses; returns g(x) for every row (float64).
    `token_counts` (answer tokens per record) is needed for weighting=tokens."""
    if recipe.network not in SCORE_NETS or recipe.weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"unknown score net or loss weighting in {recipe}")
    if recipe.weighting == "tokens" and token_counts is None:
        raise ValueError("weighting=tokens needs the records' answer-token counts")
    with torch_threads(recipe.threads):
        return _train(features, losses, recipe, token_counts)


def _network(dim: int, recipe: ScoreNetRecipe) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.seed)
        if recipe.network == "mlp":
            return torch.nn.Sequential(
                torch.nn.Linear(dim, recipe.hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(recipe.hidden, 1),
            )
        net = torch.nn.Linear(dim, 1, bias=False)
        torch.nn.init.normal_(net.weight, std=0.02)
        return net


def _train(
    features: np.ndarray,
    losses: np.ndarray,
    recipe: ScoreNetRecipe,
    token_counts: np.ndarray | None,
) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    train = np.flatnonzero(np.isfinite(losses))
    loss_t = torch.from_numpy(np.nan_to_num(losses, nan=0.0).astype(np.float32))
    if recipe.weighting == "tokens":
        assert token_counts is not None
        tokens_t = torch.from_numpy(np.nan_to_num(token_counts, nan=0.0).astype(np.float32))
    rng = np.random.default_rng(recipe.seed)
    net = _network(x.shape[1], recipe)
    optimiser = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    for _ in range(recipe.epochs):
        order = torch.from_numpy(rng.permutation(train))
        for start in range(0, len(order), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            if len(batch) < 2:
                continue  # one record: its weight is 1 whatever g says
            weights = torch.softmax(net(x[batch]).squeeze(1), dim=0)
            if recipe.weighting == "tokens":
                tokens = tokens_t[batch]
                objective = len(batch) * (weights * tokens * loss_t[batch]).sum() / tokens.sum()
            else:
                objective = (weights * loss_t[batch]).sum()
            optimiser.zero_grad()
            objective.backward()
            optimiser.step()
    with torch.inference_mode():
        return net(x).squeeze(1).double().numpy()


def nearest_penalty_greedy(
    difficulty: np.ndarray,
    features: np.ndarray,
    budget: int,
    gamma: float = 1.0,
    k_nearest: int = 10,
    progress: bool = False,
) -> np.ndarray:
    """Stage 2, the authors' rule: pool positions in the order taken (unit-norm `features`)."""
    if k_nearest < 1:
        raise ValueError(f"k_nearest must be >= 1, got {k_nearest}")
    x = np.asarray(features, dtype=np.float32)
    d = np.array(difficulty, dtype=np.float64)
    available = np.ones(len(x), dtype=bool)
    order = np.empty(budget, dtype=np.int64)
    for step in tqdm(range(budget), desc="self-filter selection", disable=not progress):
        pick = int(np.argmax(np.where(available, d, -np.inf)))
        order[step] = pick
        available[pick] = False
        remaining = np.flatnonzero(available)
        cosine = (x @ x[pick]).astype(np.float64)[remaining]
        near = _most_similar(cosine, k_nearest)
        d[remaining[near]] -= gamma * d[pick] * cosine[near] ** 2
    return order


def nearest_penalty_over_lists(
    difficulty: np.ndarray,
    features: np.ndarray,
    budget: int,
    neighbours: Neighbours,
    gamma: float = 1.0,
    k_nearest: int = 10,
    progress: bool = False,
) -> tuple[np.ndarray, int]:
    """Stage 2, the authors' rule over precomputed similarity lists (`neighbours`, metric ip on
    the same unit-norm `features`): pool positions in the order taken, and how many picks fell
    back to the exact scan over all remaining records."""
    if k_nearest < 1:
        raise ValueError(f"k_nearest must be >= 1, got {k_nearest}")
    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    d = np.array(difficulty, dtype=np.float64)
    version = np.zeros(n, dtype=np.int64)
    available = np.ones(n, dtype=bool)
    heap = [(-v, i, 0) for i, v in enumerate(d.tolist())]
    heapq.heapify(heap)
    order = np.empty(budget, dtype=np.int64)
    fallbacks = 0
    complete = neighbours.ids.shape[1] >= n - 1  # the lists hold every other record
    with tqdm(total=budget, desc="self-filter selection", disable=not progress) as bar:
        for step in range(budget):
            while True:
                _, pick, v = heapq.heappop(heap)
                if available[pick] and v == version[pick]:
                    break
            order[step] = pick
            available[pick] = False
            bar.update(1)
            ids, cosine = neighbours.ids[pick], neighbours.values[pick]
            free = available[ids]
            near, near_cos = ids[free][:k_nearest], cosine[free][:k_nearest]
            exact = complete or (len(near) == k_nearest and near_cos[-1] > cosine[-1])
            if not exact:
                fallbacks += 1
                remaining = np.flatnonzero(available)
                all_cos = x[remaining].astype(np.float64) @ x[pick].astype(np.float64)
                chosen = _most_similar(all_cos, k_nearest)
                near, near_cos = remaining[chosen], all_cos[chosen]
            d[near] -= gamma * d[pick] * near_cos**2
            version[near] += 1
            pushes = zip(near.tolist(), d[near].tolist(), version[near].tolist(), strict=True)
            for j, value, ver in pushes:
                heapq.heappush(heap, (-value, j, ver))
    return order, fallbacks


def projected_unit_rows(
    features: np.ndarray, dim: int, seed: int = 0, block_rows: int = 2048
) -> np.ndarray:
    """Unit rows (float32, in RAM); rows wider than `dim` are first scaled to unit norm, then
    multiplied by a fixed Gaussian (D, dim) matrix drawn from `seed` and renormalised, a block
    of rows at a time (the features may be memory-mapped and larger than memory)."""
    n, width = features.shape
    if width <= dim:
        return unit_rows(features)
    matrix = np.random.default_rng(seed).standard_normal((width, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, block_rows):
        block = unit_rows(read_rows(features, start, start + block_rows))
        out[start : start + len(block)] = unit_rows(block @ matrix)
    return out


def _most_similar(values: np.ndarray, k: int) -> np.ndarray:
    """Positions in `values` of its k largest entries (ties: lower position first)."""
    if len(values) <= k:
        return np.arange(len(values))
    candidates = np.argpartition(-values, k - 1)[:k]
    cut = values[candidates].min()
    above = np.flatnonzero(values > cut)
    at_cut = np.flatnonzero(values == cut)
    return np.concatenate([above, at_cut[: k - len(above)]])


def diverse_greedy(
    difficulty: np.ndarray, features: np.ndarray, budget: int, gamma: float, progress: bool = False
) -> np.ndarray:
    """Stage 2, penalty=max_cosine: pool positions in the order taken (unit-norm `features`)."""
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
        if p.penalty == "nearest" and p.k_nearest < 1:
            raise ConfigError(f"config key 'params.k_nearest' must be >= 1, got {p.k_nearest}")
        features, reference = reference_features(p, ctx)
        at_scale = len(ctx) >= p.approximate_from
        if at_scale:
            vectors = projected_unit_rows(features.load(p.feature), p.project_dim)
        else:
            vectors = unit_rows(features.load(p.feature))
        losses = answer_stat(features, "mean_nll")
        recipe = ScoreNetRecipe(
            p.hidden,
            p.epochs,
            p.score_batch_size,
            p.lr,
            p.weight_decay,
            seed=ctx.seed,
            network=p.score_net,
            weighting=p.loss_weighting,
        )
        tokens = answer_stat(features, "n_answer_tokens")
        weight = train_score_net(vectors, losses, recipe, tokens)
        scale: dict = {}
        if p.penalty == "nearest" and at_scale:
            difficulty = -weight
            width = min(3 * p.k_nearest, len(vectors) - 1)
            search = HnswSettings(p.knn_m, p.knn_ef_construction, p.knn_ef_search, None)
            found = nearest_neighbours(vectors, width, "ip", search)
            order, fallbacks = nearest_penalty_over_lists(
                difficulty, vectors, budget, found, p.gamma, p.k_nearest, ctx.progress
            )
            scale = {
                "project_dim": min(p.project_dim, features.load(p.feature).shape[1]),
                "hnsw": {"m": p.knn_m, "ef_search": p.knn_ef_search},
                "list_width": width,
                "exact_fallbacks": fallbacks,
            }
        elif p.penalty == "nearest":
            difficulty = -weight
            order = nearest_penalty_greedy(
                difficulty, vectors, budget, p.gamma, p.k_nearest, ctx.progress
            )
        else:
            difficulty = -(weight - weight.mean()) / max(float(weight.std()), 1e-12)
            order = diverse_greedy(difficulty, vectors, budget, p.gamma, ctx.progress)
        details = {
            "score": "difficulty = -g(x)" + (", standardised" if p.penalty != "nearest" else ""),
            "score_net": p.score_net,
            "loss_weighting": p.loss_weighting,
            "penalty": p.penalty,
            "gamma": p.gamma,
            "difficulty": score_summary(difficulty),
            "selected_difficulty": score_summary(difficulty[order]),
            "losses": score_summary(losses),
            **provenance(reference, features, p.feature),
        }
        if p.penalty == "nearest":
            details["k_nearest"] = p.k_nearest
        if at_scale:
            details["at_scale"] = scale or {"project_dim": p.project_dim}
        return Selection(indices=order, details=details)
