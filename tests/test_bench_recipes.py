"""Every learning-curve recipe in benchmarks/recipes/ is a valid overlay on the default config.

Why: RESULTS.md cites these files as the exact commands behind its tables; a recipe that no longer
loads (a renamed key, a removed option, a bad `model.overrides`: load_config validates all of them)
would make those commands fail long after the edit that broke them.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dscodec.config import load_config

RECIPES = sorted((Path(__file__).resolve().parent.parent / "benchmarks" / "recipes").glob("*.yaml"))


def test_there_are_recipes() -> None:
    assert len(RECIPES) >= 10


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_loads(recipe: Path) -> None:
    stage1 = load_config(recipe)["train"]["stage1"]
    # the schema bounds each key alone; a GAN start past the schedule's end would silently run no GAN
    assert stage1.get("adversarial_start_step", 0) <= stage1["steps"]
