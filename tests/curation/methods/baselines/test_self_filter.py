"""Self-Filter: the score network learns to down-weight high-loss records (stage 1); the greedy
stage trades difficulty against similarity (stage 2): by default the authors' dist_filter rule,
checked by hand and against a plain re-implementation of it; penalty=max_cosine is the option."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from curation.features.reference_pass import unit_rows
from curation.methods.baselines.neighbours import HnswSettings, nearest_neighbours
from curation.methods.baselines.self_filter import (
    ScoreNetRecipe,
    diverse_greedy,
    nearest_penalty_greedy,
    nearest_penalty_over_lists,
    projected_unit_rows,
    train_score_net,
)


@pytest.mark.parametrize(
    "network, weighting", [("linear", "tokens"), ("mlp", "samples"), ("linear", "samples")]
)
def test_score_net_weights_fall_as_the_loss_rises(network, weighting):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    losses = 2.0 + x[:, 0] + 0.1 * rng.normal(size=400)  # the loss is readable from feature 0
    losses[::50] = np.nan  # no answer token: not trained on, still scored
    tokens = np.full(400, 7.0)  # equal lengths: per token or per sample, the same ranking
    recipe = ScoreNetRecipe(
        hidden=16, epochs=20, batch_size=32, lr=3e-3, seed=0, network=network, weighting=weighting
    )
    weight = train_score_net(x, losses, recipe, tokens)
    assert np.isfinite(weight).all()
    assert spearmanr(-weight, x[:, 0]).statistic > 0.9  # difficulty = -weight tracks the loss
    again = train_score_net(x, losses, recipe, tokens)
    assert again.tobytes() == weight.tobytes()


def test_linear_score_net_has_no_bias():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5))
    a, b = x[:32], x[32:]
    probe = np.concatenate([x, np.zeros((1, 5)), a + b])
    losses = np.concatenate([rng.uniform(1, 3, size=64), [np.nan] * 33])
    tokens = np.full(len(probe), 4.0)
    g = train_score_net(probe, losses, ScoreNetRecipe(epochs=3, batch_size=16), tokens)
    assert g[64] == 0.0  # g(0) = 0
    np.testing.assert_allclose(g[65:], g[:32] + g[32:64], atol=1e-5)  # additive: g(a+b)


def test_token_weighting_weighs_each_answer_token():
    """Group A: mean loss 1 over 30 answer tokens; group B: mean loss 2 over 5. Per sample B is
    the harder group, per token A carries more of the batch's loss (30 vs 10): g down-weights B
    with weighting=samples and A with weighting=tokens."""
    rng = np.random.default_rng(2)
    group_b = np.arange(300) % 2 == 1
    x = np.column_stack([np.where(group_b, 1.0, -1.0), rng.normal(scale=0.05, size=(300, 3))])
    losses = np.where(group_b, 2.0, 1.0)
    tokens = np.where(group_b, 5.0, 30.0)
    for weighting, down_weighted in (("tokens", ~group_b), ("samples", group_b)):
        recipe = ScoreNetRecipe(epochs=5, batch_size=32, lr=1e-2, weighting=weighting)
        g = train_score_net(x, losses, recipe, tokens)
        assert g[down_weighted].max() < g[~down_weighted].min(), weighting


def test_tokens_weighting_without_counts_is_refused():
    with pytest.raises(ValueError, match="answer-token counts"):
        train_score_net(np.eye(3), np.ones(3), ScoreNetRecipe())


# --- stage 2, the authors' rule (penalty=nearest) --------------------------------------------

# a at 0 degrees, b at 60, c at 90, d at 180
SQ3 = np.sqrt(3) / 2
QUARTER = np.array([[1.0, 0.0], [0.5, SQ3], [0.0, 1.0], [-1.0, 0.0]])


def test_nearest_penalty_by_hand():
    difficulty = np.array([1.0, 0.9, 0.8, 0.3])
    # k=1: take a (1.0); its nearest remaining is b (cos 0.5): b -= 1.0 * 0.25 -> 0.65.
    # take c (0.8); its nearest remaining is b (cos 0.866): b -= 0.8 * 0.75 -> 0.05.
    # take d (0.3), then b.
    assert nearest_penalty_greedy(difficulty, QUARTER, 4, k_nearest=1).tolist() == [0, 2, 3, 1]
    # k=3: a also penalises c (cos 0: nothing) and d (cos -1, squared: 1): d -> 0.3 - 1 = -0.7.
    # take c; b -> 0.05, d unchanged (cos 0); then b before d.
    assert nearest_penalty_greedy(difficulty, QUARTER, 4, k_nearest=3).tolist() == [0, 2, 1, 3]
    # gamma scales the penalty: gamma 0 is a plain ranking
    assert nearest_penalty_greedy(difficulty, QUARTER, 4, gamma=0.0).tolist() == [0, 1, 2, 3]


def test_a_negative_difficulty_pulls_its_neighbours_up():
    # the penalty is d_picked * cos^2: once the picks have negative difficulty it turns into a bonus
    difficulty = np.array([-0.1, -0.5, -0.2, -0.4])
    # take a (-0.1): b -= -0.1 * 0.25 -> -0.475; take c (-0.2): b -= -0.2 * 0.75 -> -0.325;
    # then b (-0.325) before d (-0.4)
    assert nearest_penalty_greedy(difficulty, QUARTER, 4, k_nearest=1).tolist() == [0, 2, 1, 3]


def _dist_filter(difficulty, features, budget, gamma, k_nearest):
    """The authors' dist_filter as published, written plainly over a dict: pick the highest
    difficulty (first in pool order on ties), then walk all records by cosine to it, highest
    first, and lower the first `k_nearest` not yet picked by difficulty_picked * cos^2 * gamma."""
    remaining = {i: float(v) for i, v in enumerate(difficulty)}
    norms = np.linalg.norm(features, axis=1)
    picked = []
    for _ in range(budget):
        index, value = sorted(remaining.items(), key=lambda item: -item[1])[0]
        picked.append(index)
        del remaining[index]
        cosine = features @ features[index] / norms / norms[index]
        by_similarity = sorted(range(len(features)), key=lambda j: (-cosine[j], j))
        done = 0
        for j in by_similarity:
            if done == k_nearest:
                break
            if j in remaining:
                remaining[j] -= value * cosine[j] ** 2 * gamma
                done += 1
    return picked


@pytest.mark.parametrize("seed, gamma, k", [(0, 1.0, 10), (1, 0.5, 10), (2, 1.0, 3), (3, 2.0, 25)])
def test_default_rule_equals_the_authors_dist_filter(seed, gamma, k):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(70, 6))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    difficulty = rng.normal(size=70)  # negative ones too
    ours = nearest_penalty_greedy(difficulty, x, 50, gamma=gamma, k_nearest=k)
    assert ours.tolist() == _dist_filter(difficulty, x, 50, gamma, k)
    assert ours.tolist() != diverse_greedy(difficulty, x, 50, gamma).tolist()  # the option differs


# --- stage 2, penalty=max_cosine (the option) ---------------------------------------------


def test_greedy_penalises_records_similar_to_kept_ones():
    # 0 and 1 are the same direction; 2 is orthogonal and easier
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    difficulty = np.array([1.0, 0.99, 0.5])
    assert diverse_greedy(difficulty, x, 3, gamma=1.0).tolist() == [0, 2, 1]
    assert diverse_greedy(difficulty, x, 3, gamma=0.0).tolist() == [0, 1, 2]
    # a negative cosine is no bonus: the penalty is max(0, cosine)
    opposite = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert diverse_greedy(np.array([1.0, 0.6, 0.5]), opposite, 2, gamma=1.0).tolist() == [0, 1]


def test_greedy_ties_go_to_the_lowest_position():
    x = np.eye(3)
    assert diverse_greedy(np.zeros(3), x, 3, gamma=1.0).tolist() == [0, 1, 2]
    # the nearest rule: every cosine 0, every difficulty 0: pool order too
    assert nearest_penalty_greedy(np.zeros(3), x, 3, k_nearest=1).tolist() == [0, 1, 2]


# --- stage 2 at scale: the same rule over precomputed similarity lists ----------------------


def _over_lists(difficulty, x, budget, gamma, k, width, search=None):
    found = nearest_neighbours(x, width, "ip", search)
    return nearest_penalty_over_lists(difficulty, x, budget, found, gamma, k)


@pytest.mark.parametrize(
    "seed, gamma, k, width", [(0, 1.0, 10, 30), (1, 0.5, 10, 10), (2, 1.0, 3, 9), (3, 2.0, 5, 69)]
)
def test_lists_path_equals_the_exact_scan(seed, gamma, k, width):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(70, 6))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    difficulty = rng.normal(size=70)  # negative ones too: penalties that raise a record
    exact = nearest_penalty_greedy(difficulty, x, 60, gamma=gamma, k_nearest=k)
    order, fallbacks = _over_lists(difficulty, x, 60, gamma, k, width)
    assert order.tolist() == exact.tolist()
    visit_all = HnswSettings(m=32, ef_construction=100, ef_search=1000, search_dim=None)
    hnsw, _ = _over_lists(difficulty, x, 60, gamma, k, width, visit_all)
    assert hnsw.tolist() == exact.tolist()  # a search that visits every row: the exact lists
    if width == k:
        assert fallbacks > 0  # lists as short as k run out: the exact scan took over


def test_lists_path_keeps_the_tie_rule_on_duplicates():
    """Records 1-4 copy record 0's direction: their cosines to it tie; the lowest positions
    are penalised first, on lists that end inside the tie (so the exact scan decides)."""
    x = np.array([[1, 0]] * 5 + [[0.6, 0.8], [0, 1], [-1, 0]], dtype=np.float32)
    difficulty = np.array([5.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.5, 0.1])
    exact = nearest_penalty_greedy(difficulty, x, 6, gamma=0.1, k_nearest=2)
    order, fallbacks = _over_lists(difficulty, x, 6, 0.1, 2, 3)
    assert order.tolist() == exact.tolist()
    # pick 0 lowers 1 and 2 (ties by position) by 0.1 * 5: 3 and 4 go before them
    assert exact.tolist()[:3] == [0, 5, 3]
    assert fallbacks > 0


def test_projection_keeps_narrow_rows_and_normalises_wide_ones():
    rng = np.random.default_rng(5)
    narrow = rng.normal(size=(40, 8))
    np.testing.assert_array_equal(projected_unit_rows(narrow, 8), unit_rows(narrow))
    wide = rng.normal(size=(40, 64)).astype(np.float16)
    projected = projected_unit_rows(wide, 16, seed=3, block_rows=7)
    assert projected.shape == (40, 16) and projected.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(projected, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(projected, projected_unit_rows(wide, 16, seed=3), atol=1e-6)
    # the same direction at any scale projects to the same row
    np.testing.assert_allclose(
        projected_unit_rows(np.stack([wide[0], 4 * wide[0]]), 16, seed=3)[1],
        projected[0],
        rtol=1e-3,
    )
