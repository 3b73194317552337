"""Long-tail report: the paper's head figure (index of the tau entity) beside ours (n_e >= tau),
worked out by hand on counts with ties at tau."""

import numpy as np

from curation.methods.adr.entities.table import EntityTable
from curation.methods.adr.longtail_report import (
    format_reports,
    paper_head_count,
    perspective_report,
)

# a 5, b 3, c 3, d 3, e 1: total 15
COUNTS = np.array([3, 5, 1, 3, 3])


def test_paper_head_count_is_the_index_of_the_tau_entity():
    # sorted 5 3 3 3 1, cumulative 5 8 11 14 15
    assert paper_head_count(COUNTS, 0.5, 3) == 1  # 7.5 first reached at 8: index 1
    assert paper_head_count(COUNTS, 0.75, 3) == 3  # 11.25 first reached at 14: index 3
    assert paper_head_count(COUNTS, 0.2, 5) == 0  # 3 reached by the first entity
    assert paper_head_count(COUNTS, 1.0, 1) == 4  # all the mass: the last entity
    # 0.6 of 15 = 9, first reached at 11: index 2
    assert paper_head_count(COUNTS, 0.6, 3) == 2
    assert paper_head_count(np.array([], dtype=np.int64), 0.9, 0) == 0


def test_with_a_fixed_tau_the_paper_figure_counts_entities_above_it():
    assert paper_head_count(COUNTS, None, 3) == 1  # only a (5) lies above 3
    assert paper_head_count(COUNTS, None, 1) == 4


def test_report_and_table_label_both_head_counts():
    rows = [["a"]] * 5 + [["b"]] * 3 + [["c"]] * 3 + [["d"]] * 3 + [["e"]]
    pool = EntityTable.from_lists("object", rows)
    report = perspective_report(pool, 0.75)
    assert (report.tau, report.head_entities_paper, report.head_entities_ge_tau) == (3, 3, 4)
    assert report.tail_entities == 1  # e: n_e < tau, whichever head figure
    fixed = perspective_report(pool, 0.75, tau=3)
    assert (fixed.head_entities_paper, fixed.head_entities_ge_tau) == (1, 4)
    subset = perspective_report(pool, 0.75, subset=pool.rows(np.array([0, 14])))
    assert subset.subset_tail_entities_covered == 1
    table = format_reports([report, subset])
    header, _, line = table.splitlines()[:3]
    assert "head (paper)" in header and "head (n>=tau)" in header
    assert line.split()[:6] == ["object", "0.75", "3", "5", "3", "4"]
    assert "index of the tau entity" in table
    assert "1/1" in table  # tail entities kept by the subset / in the pool
