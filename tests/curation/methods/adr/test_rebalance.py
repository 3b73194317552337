import itertools
import json
import math

import numpy as np
import pytest
from PIL import Image

from curation.data.records import write_records
from curation.method import CurationContext
from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.rebalance import (
    AdrRebalance,
    RebalanceError,
    RebalanceParams,
    pass_probability,
    rebalance,
)
from curation.run import curate

# Three perspectives over six samples; token lists repeat entities (mentions).
LISTS = {
    "token": [["dog", "dog", "cat"], ["dog"], ["emu", "dog"], [], ["cat", "cat"], ["yak"]],
    "object": [["car"], ["car", "bus"], ["car"], ["tram"], [], ["car", "bus"]],
    "interrogation": [["how many"], ["what"], [], ["what"], ["how many"], ["what", "why"]],
}
TAU = {"token": 1, "object": 1, "interrogation": 1}


def _tables():
    return {name: EntityTable.from_lists(name, lists) for name, lists in LISTS.items()}


def _oracle_pass(lists, tau):
    """P_k per sample, by the definition, one entity mention at a time."""
    counts = {}
    for entities in lists:
        for e in entities:
            counts[e] = counts.get(e, 0) + 1
    out = []
    for entities in lists:
        fail = 1.0
        for e in entities:
            fail *= 1.0 - min(1.0, tau / counts[e])
        out.append(1.0 - fail if entities else 0.0)
    return out


def _oracle_keep(pass_num, alpha, keep_empty):
    per = [_oracle_pass(LISTS[k], TAU[k]) for k in LISTS]
    keep = []
    for i in range(6):
        p = [per[k][i] for k in range(len(per))]
        more = 0.0
        for outcome in itertools.product([0, 1], repeat=len(p)):
            if sum(outcome) > pass_num:
                more += math.prod(p[k] if o else 1 - p[k] for k, o in enumerate(outcome))
        empty = all(not LISTS[k][i] for k in LISTS)
        keep.append(alpha * (1.0 if keep_empty and empty else more))
    return np.array(keep)


def _frequencies(params, n_seeds):
    tables = _tables()
    hits = np.zeros(6)
    for seed in range(n_seeds):
        hits[rebalance(tables, params, seed).kept] += 1
    return hits / n_seeds


def test_pass_probability_matches_the_definition():
    for name, lists in LISTS.items():
        table = EntityTable.from_lists(name, lists)
        expected = _oracle_pass(lists, TAU[name])
        np.testing.assert_allclose(pass_probability(table, TAU[name]), expected)


@pytest.mark.parametrize("pass_num, alpha", [(0, 1.0), (1, 1.0), (0, 0.6), (2, 0.8)])
def test_keep_frequency_matches_composed_probability(pass_num, alpha):
    params = RebalanceParams(perspectives=list(LISTS), pass_num=pass_num, alpha=alpha, tau=TAU)
    n = 2000
    expected = _oracle_keep(pass_num, alpha, keep_empty=False)
    observed = _frequencies(params, n)
    sigma = np.sqrt(np.maximum(expected * (1 - expected), 1e-12) / n)
    assert np.all(np.abs(observed - expected) <= 4.5 * sigma + 1e-9), (observed, expected)
    assert expected.min() < 0.9 and len(set(np.round(expected, 3))) >= 4  # a real test


def test_pass_num_and_alpha_extremes():
    tables = _tables()
    everything = RebalanceParams(perspectives=list(LISTS), tau={k: 10**6 for k in LISTS})
    kept = rebalance(tables, everything, 0).kept
    assert kept.tolist() == [0, 1, 2, 3, 4, 5]  # p >= 1 everywhere: all pass
    strict = RebalanceParams(perspectives=list(LISTS), pass_num=2, tau={k: 10**6 for k in LISTS})
    # pass_num=2 needs all three perspectives: samples 2, 3 and 4 lack one each.
    assert rebalance(tables, strict, 0).kept.tolist() == [0, 1, 5]
    none = RebalanceParams(perspectives=list(LISTS), alpha=0.0, tau=TAU)
    assert rebalance(tables, none, 0).kept.size == 0
    with pytest.raises(RebalanceError, match="pass_num"):
        rebalance(tables, RebalanceParams(perspectives=list(LISTS), pass_num=3), 0)
    with pytest.raises(RebalanceError, match="alpha"):
        rebalance(tables, RebalanceParams(perspectives=list(LISTS), alpha=1.5), 0)


def test_empty_samples_follow_keep_empty():
    tables = {"object": EntityTable.from_lists("object", [["a"], [], ["a"]])}
    params = RebalanceParams(perspectives=["object"], tau={"object": 0})
    assert rebalance(tables, params, 1).kept.size == 0  # by default, as the reference: dropped
    params = RebalanceParams(perspectives=["object"], tau={"object": 0}, keep_empty=True)
    kept = rebalance(tables, params, 1).kept
    assert kept.tolist() == [1]  # tau 0: entities never pass; the empty sample is kept


def _paper_recipe_rebalance() -> RebalanceParams:
    """The DR parameters `vlmdata run experiment=adr_llava665k` curates with."""
    from configs.compose import compose, config_path
    from curation.registry import build_method
    from experiments.schemas import GROUP_SCHEMAS

    cfg = compose(GROUP_SCHEMAS["experiment"], config_path("experiment", "adr_llava665k"))
    assert cfg.curation.method == "adr"
    return build_method(cfg.curation.method, cfg.curation.params).params.rebalance


@pytest.mark.parametrize("preset", ["adr_llava665k", "adr_dr"])
def test_paper_recipe_drops_samples_without_entities(preset):
    """As the reference's compose_alpha: a sample passes a perspective only through one of its
    entities, so a sample with none in any perspective never passes; p = 1 everywhere else."""
    if preset == "adr_llava665k":
        params = _paper_recipe_rebalance()
    else:
        from configs.compose import compose, config_path
        from curation.config import CurationConfig
        from curation.registry import build_method

        cfg = compose(CurationConfig, config_path("curation", preset))
        params = build_method(cfg.method, cfg.params).params
    assert params.keep_empty is False and params.pass_num == 0 and params.alpha == 1.0
    lists = {  # sample 1 has no entity in any perspective; sample 3 only an interrogation
        "token": [["dog"], [], ["cat"], []],
        "object": [["car"], [], ["bus"], []],
        "co_occurrence": [[], [], ["bus,car"], []],
        "interrogation": [["what"], [], [], ["why"]],
    }
    tables = {name: EntityTable.from_lists(name, rows) for name, rows in lists.items()}
    params.tau = {name: 10**6 for name in lists}  # every entity passes: only emptiness drops
    assert set(params.perspectives) == set(lists)
    result = rebalance(tables, params, seed=42)
    assert result.kept.tolist() == [0, 2, 3]
    assert result.details(tables, params)["empty_samples"] == 1
    params.keep_empty = True
    assert rebalance(tables, params, seed=42).kept.tolist() == [0, 1, 2, 3]


def test_details_give_the_papers_head_count_beside_ours():
    # object counts a 5, b 3, c 3, d 3, e 1 (15); q 0.75 -> 11.25 reached at d (5+3+3+3 = 14):
    # tau 3; the paper's head is d's index, 3; ours counts every n_e >= 3: a, b, c, d = 4.
    rows = [["a"]] * 5 + [["b"]] * 3 + [["c"]] * 3 + [["d"]] * 3 + [["e"]]
    tables = {"object": EntityTable.from_lists("object", rows)}
    params = RebalanceParams(perspectives=["object"], q_object=0.75)
    details = rebalance(tables, params, 0).details(tables, params)["perspectives"]["object"]
    assert (details["tau"], details["head_entities_paper"], details["head_entities_ge_tau"]) == (
        3,
        3,
        4,
    )
    # q 0.5 -> 7.5 reached at b (5+3): tau 3 still, the paper's head 1, ours 4
    params = RebalanceParams(perspectives=["object"], q_object=0.5)
    details = rebalance(tables, params, 0).details(tables, params)["perspectives"]["object"]
    assert (details["tau"], details["head_entities_paper"], details["head_entities_ge_tau"]) == (
        3,
        1,
        4,
    )


def test_computed_tau_uses_q_per_perspective():
    tables = _tables()
    result = rebalance(tables, RebalanceParams(perspectives=list(LISTS)), 0)
    # token counts: dog 4, cat 3, emu 1, yak 1 -> q 0.9 -> tau 1; objects car 4, bus 2, tram 1
    # -> 0.9 of 7 = 6.3 -> cumulative 6 at bus < 6.3, 7 at tram -> tau 1.
    assert result.taus == {"token": 1, "object": 1, "interrogation": 1}


# --- through curate(): determinism and provenance ------------------------------------------


def _pool(tmp_path, n=60):
    rng = np.random.default_rng(0)
    shapes = ["circle"] * 6 + ["star"] * 2 + ["moon"]
    records, annotations = [], []
    (tmp_path / "img").mkdir()
    for i in range(n):
        shape = shapes[int(rng.integers(len(shapes)))]
        image = f"img/{i}.png"
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / image)
        records.append(
            {
                "id": f"s{i}",
                "image": image,
                "conversations": [
                    {"from": "human", "value": f"<image>\nIs there a {shape}?"},
                    {"from": "gpt", "value": f"Yes, there is a {shape}."},
                ],
            }
        )
        annotations.append({"id": f"s{i}", "objects": [shape, "square"]})
    write_records(tmp_path / "pool.json", records)
    (tmp_path / "annotations.jsonl").write_text("\n".join(map(json.dumps, annotations)) + "\n")
    return tmp_path / "pool.json"


def _curate(pool, out, seed=42):
    method = AdrRebalance(RebalanceParams(perspectives=["object", "co_occurrence"]))
    return curate(
        method,
        pool_path=pool,
        image_root=pool.parent,
        budget=None,
        seed=seed,
        out_dir=out,
        cache_root=pool.parent / "cache",
        config={"method": "adr_dr"},
        progress=False,
    )


def test_same_seed_gives_byte_identical_subset(tmp_path):
    pool = _pool(tmp_path)
    a, b = _curate(pool, tmp_path / "a"), _curate(pool, tmp_path / "b")
    for name in ("indices.npy", "subset.json"):
        assert (a.path / name).read_bytes() == (b.path / name).read_bytes()
    c = _curate(pool, tmp_path / "c", seed=7)
    assert (c.path / "indices.npy").read_bytes() != (a.path / "indices.npy").read_bytes()
    details = a.manifest["details"]["rebalance"]
    assert details["kept"] == len(a) < 60
    assert list(details["perspectives"]) == ["object", "co_occurrence"]
    assert np.all(np.diff(a.indices) > 0)  # pool order


def test_method_reports_tail_shares(tmp_path):
    pool = _pool(tmp_path)
    from curation.data.records import load_records

    records = load_records(pool).records
    ctx = CurationContext(
        pool_path=pool,
        image_root=tmp_path,
        records=records,
        pool_sha256="x",
        cache_dir=tmp_path / "cache",
        run_dir=tmp_path / "run",
        seed=3,
        progress=False,
    )
    selection = AdrRebalance(RebalanceParams(perspectives=["object"])).select(ctx, None)
    shares = selection.details["rebalance"]["perspectives"]["object"]
    assert shares["tail_share_after"] > shares["tail_share_before"]


def test_a_multi_image_record_is_refused_with_one_line(tmp_path):
    from curation.methods.adr.rebalance import MultiImageRecordError

    records = [{"id": "a", "image": "x.png", "conversations": []}]
    records.append({"id": "pair", "image": ["x.png", "y.png"], "conversations": []})
    ctx = CurationContext(tmp_path / "p.json", tmp_path, records, "x", tmp_path, tmp_path, 0)
    with pytest.raises(MultiImageRecordError, match=r"record 1 \(id='pair'\) has 2 images") as e:
        AdrRebalance(RebalanceParams(perspectives=["object"])).select(ctx, None)
    assert "\n" not in str(e.value)


# --- ToyWorld: real long tails (the `toyworld` fixture is in tests/conftest.py) --------------


@pytest.mark.slow
def test_offline_entities_agree_with_toyworld_ground_truth(toyworld):
    from collections import Counter

    from curation.data.records import load_records
    from curation.methods.adr.entities.extract import EntityConfig, EntitySource, entity_tables

    records = load_records(toyworld / "pool.json").records
    truth = {row["id"]: row for row in map(json.loads, open(toyworld / "entities.jsonl"))}
    tables = entity_tables(
        EntitySource(records, image_root=toyworld),
        EntityConfig(),
        ["token", "object", "co_occurrence"],
    )
    for perspective in ("object", "co_occurrence"):
        for i, record in enumerate(records):
            assert sorted(tables[perspective].entities_of(i)) == sorted(
                truth[record["id"]][perspective]
            )
    found = expected = common = 0
    for i, record in enumerate(records):
        mine, gold = Counter(tables["token"].entities_of(i)), Counter(truth[record["id"]]["token"])
        found, expected = found + sum(mine.values()), expected + sum(gold.values())
        common += sum((mine & gold).values())
    assert common / found > 0.97 and common / expected > 0.95  # token precision, recall


@pytest.mark.slow
def test_dr_on_toyworld_moves_mass_from_head_to_tail(toyworld, tmp_path):
    from curation.methods.adr.entities.extract import EntityConfig, EntitySource, entity_tables
    from curation.methods.adr.longtail_report import write_report

    subset = curate(
        AdrRebalance(RebalanceParams()),
        pool_path=toyworld / "pool.json",
        image_root=toyworld,
        budget=None,
        seed=42,
        out_dir=tmp_path / "dr",
        cache_root=tmp_path / "cache",
        config={"method": "adr_dr"},
        progress=False,
    )
    details = subset.manifest["details"]["rebalance"]
    assert 0.3 * 800 < details["kept"] < 800
    records = json.loads((subset.path / "subset.json").read_text())
    from curation.data.records import load_records

    pool = load_records(toyworld / "pool.json").records
    pool_tables = entity_tables(EntitySource(pool, image_root=toyworld), EntityConfig())
    kept_tables = {k: t.rows(subset.indices) for k, t in pool_tables.items()}
    reports, plots = write_report(tmp_path / "report", pool_tables, None, kept_tables)
    for report in reports:
        assert report.tail_share > 0, report.perspective  # every perspective has a real tail
        assert report.subset_tail_share > report.tail_share, report.perspective
        assert report.subset_head_share < report.head_share, report.perspective
        numbers = details["perspectives"][report.perspective]
        assert numbers["tail_share_after"] == pytest.approx(report.subset_tail_share)
        assert numbers["tau"] == report.tau
    assert len(records) == details["kept"]
    for plot in plots:
        with Image.open(plot) as img:
            assert img.format == "PNG" and img.size[0] > 300
    assert "tail share" in (tmp_path / "report" / "longtail.txt").read_text()


def test_budget_sets_alpha_to_keep_exactly_that_many():
    from curation.method import BudgetError

    tables = _tables()
    params = RebalanceParams(perspectives=list(LISTS), tau=TAU)
    for seed in range(20):
        eligible = set(rebalance(tables, params, seed).kept.tolist())  # alpha = 1
        for budget in range(len(eligible) + 1):
            kept = rebalance(tables, params, seed, budget).kept.tolist()
            assert len(kept) == budget and set(kept) <= eligible and kept == sorted(kept)
            # a smaller budget keeps a subset of a larger one: one threshold on the same draws
            if budget:
                assert set(rebalance(tables, params, seed, budget - 1).kept) <= set(kept)
        with pytest.raises(BudgetError, match="fewer than the budget"):
            rebalance(tables, params, seed, len(eligible) + 1)
