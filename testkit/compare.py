"""Comparisons of saved models: whether two fits learned the same thing, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

# What a saved model records about how its fit ran, not what it learned.
RUN_DETAILS = ("stage_seconds",)
RUN_PARAMS = ("n_jobs",)


def saved_content(directory: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """A saved model's arrays and description without how its fit ran (stage timings, n_jobs):
    two fits of the same panel and parameters hold equal content wherever they ran."""
    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text())
    for key in RUN_DETAILS:
        meta.pop(key, None)
    for key in RUN_PARAMS:
        meta["params"].pop(key, None)
    with np.load(directory / "arrays.npz", allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}, meta


def same_content(one: tuple[dict, dict], other: tuple[dict, dict]) -> list[str]:
    """What differs between two `saved_content`s: the names of unequal arrays (NaN equal to NaN),
    and "description" when the descriptions differ; [] when the fits are the same, bit for bit."""
    names = sorted(set(one[0]) | set(other[0]))
    different = [name for name in names if name not in one[0] or name not in other[0]
                 or not np.array_equal(one[0][name], other[0][name], equal_nan=True)]
    return different + (["description"] if one[1] != other[1] else [])
