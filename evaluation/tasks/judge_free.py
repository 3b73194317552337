"""Judge-free aggregations for tasks that fall back to a GPT judge when rules fail (MMBench).

lmms-eval ships one for MMBench-EN dev (mmbench_aggregate_dev_results_static); this is its
MMBench-CN twin: LLaVA's rule-based option matching, then lmms-eval's robust letter
extraction instead of an API call, with MMBench's circular evaluation unchanged.
"""

from __future__ import annotations

import json
from typing import Any


def mmbench_cn_dev_static(results: list[dict[str, Any]], args: Any) -> float:
    from lmms_eval.tasks._task_utils.file_utils import generate_submission_file
    from lmms_eval.tasks.mmbench.cn_utils import mmbench_evaluator

    evaluated = mmbench_evaluator.eval_result(results, eval_method="static")
    overall, by_category, by_l2_category = evaluated
    path = generate_submission_file("mmbench_cn_dev_static_results.json", args)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "overall_acc": overall,
                "category_acc": by_category,
                "l2_category_acc": by_l2_category,
            },
            handle,
            ensure_ascii=False,
        )
    return overall * 100
