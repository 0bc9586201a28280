"""Every learning-curve recipe in benchmarks/recipes/ is a valid overlay on the default config.

Why: RESULTS.md cites these files as the exact commands behind its tables; a recipe that no longer
loads (a renamed key, a removed option) would make those commands fail long after the edit that broke
them. The model each recipe describes must also build, so a bad `model.overrides` fails here too.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from dscodec.config import load_config
from dscodec.models.sizes import get_size

RECIPES = sorted((Path(__file__).resolve().parent.parent / "benchmarks" / "recipes").glob("*.yaml"))


def test_there_are_recipes() -> None:
    assert len(RECIPES) >= 10


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_loads(recipe: Path) -> None:
    cfg = load_config(recipe)
    size = get_size(cfg["model"]["size"], cfg["model"].get("overrides"))
    stage1 = cfg["train"]["stage1"]
    assert stage1["steps"] > 0
    assert 0 <= stage1.get("adversarial_start_step", 0) <= stage1["steps"]
    assert size.decoder_head in ("waveform", "istft")
