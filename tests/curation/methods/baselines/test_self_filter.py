"""Self-Filter: the score network learns to down-weight high-loss records (stage 1); the greedy
stage trades difficulty against similarity to kept records (stage 2)."""

import numpy as np
from scipy.stats import spearmanr

from curation.methods.baselines.self_filter import ScoreNetRecipe, diverse_greedy, train_score_net


def test_score_net_weights_fall_as_the_loss_rises():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    losses = 2.0 + x[:, 0] + 0.1 * rng.normal(size=400)  # the loss is readable from feature 0
    losses[::50] = np.nan  # no answer token: not trained on, still scored
    weight = train_score_net(
        x, losses, ScoreNetRecipe(hidden=16, epochs=20, batch_size=32, lr=3e-3, seed=0)
    )
    assert np.isfinite(weight).all()
    assert spearmanr(-weight, x[:, 0]).statistic > 0.9  # difficulty = -weight tracks the loss
    again = train_score_net(
        x, losses, ScoreNetRecipe(hidden=16, epochs=20, batch_size=32, lr=3e-3, seed=0)
    )
    assert again.tobytes() == weight.tobytes()


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
