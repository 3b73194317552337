"""ToyWorld: a synthetic visual-instruction world with a known, controllable long tail.

Usage::

    from toyworld import ToyWorldConfig, describe_world, make_world

    world = make_world(ToyWorldConfig(out_dir="outputs/toyworld", seed=0))
    describe_world(world)
"""

from __future__ import annotations

from typing import Any

from toyworld.config import ToyWorldConfig

__all__ = ["ToyWorldConfig", "describe_world", "make_world"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the config schema does not load the generator.
    if name == "make_world":
        from toyworld.make import make_world

        return make_world
    if name == "describe_world":
        from toyworld.describe import describe_world

        return describe_world
    raise AttributeError(f"module 'toyworld' has no attribute {name!r}")
