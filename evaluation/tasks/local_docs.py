"""process_docs replacements for benchmarks read from local parquet copies.

The hub version of GQA joins each question with its image from a second dataset
(testdev_balanced_images) in process_docs, which downloads it. A local GQA copy carries the
image in the question rows instead (join the two on imageId once, when making the copy).
"""

from __future__ import annotations

from typing import Any

from evaluation.errors import EvalError


def gqa_with_images(dataset: Any) -> Any:
    if "image" not in dataset.column_names:
        raise EvalError(
            "gqa: local data needs an 'image' column (join testdev_balanced_images "
            "on imageId into the testdev_balanced_instructions rows)"
        )
    return dataset
