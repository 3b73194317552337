"""The evaluation tests run on one torch thread.

Their shared inputs (tiny_checkpoint, toyworld_bench_root, real_data_root, no_network) are in
tests/conftest.py: the CLI's tests in tests/experiments use them too.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _one_thread(one_torch_thread) -> None:
    """Every evaluation test on one torch thread (tests/conftest.py says why)."""
