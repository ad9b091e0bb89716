"""Saving and loading a fitted `ImpactModel` as plain JSON + NPZ: a model file can never run code.

A model directory holds `model.json` (parameters, per-app metadata and small results),
`arrays.npz` (every array, read with allow_pickle=False) and `manifest.json` (the SHA-256 of
both). Loading checks the manifest first, so a truncated or altered file is refused with a
message instead of serving garbage. Writes go to a temporary directory renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from training.model.backtest import SCALE_LEVELS, BacktestResult, ScaleLaw
from training.model.baseline import BaselineFit
from training.model.effects import EffectEstimate, MarketEffects, ResponseShape
from training.model.estimator import ImpactModel
from training.model.experiments import AppTests
from training.model.fitted import AppFit
from training.model.panel import AppPanel

FORMAT_VERSION = 5      # 2: unbalanced panels (observed mask, baselines of the forecastable markets)
                        # 3: common and own noise, each with its calibrated scale law; 4: the shape posterior
                        # 5: market effects, partially pooled
READS = (4, FORMAT_VERSION)   # a format-4 model (before market effects) is read with one effect for every market
FILES = ("model.json", "arrays.npz")
PANEL_ARRAYS = ("observed", "share", "log_time", "log_dau", "log_revenue")
BASELINE_ARRAYS = ("mean", "phi", "residuals", "integrated", "weights")
MARKET_ARRAYS = ("relative", "sd", "own")


class ModelFileError(ValueError):
    """A model directory is missing, incomplete, altered or of an unknown format."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(model: ImpactModel, directory: str | Path) -> Path:
    """Write the fitted model to `directory` (replaced if it exists) and return it."""
    directory = Path(directory)
    meta = {"format_version": FORMAT_VERSION, "params": params_to_json(model.get_params()),
            "stage_seconds": model.stage_seconds_, "left_out": model.left_out_,
            "step_backtest": getattr(model, "step_backtest_", None), "apps": {}}
    arrays: dict[str, np.ndarray] = {}
    for app, fit in model.apps_.items():
        meta["apps"][app] = _app_meta(fit)
        prefix = f"{app}/"
        for name in PANEL_ARRAYS:
            arrays[prefix + name] = getattr(fit.panel, name)
        for name, values in fit.draws.items():
            arrays[prefix + "draws/" + name] = values
        arrays[prefix + "shape_covariance"] = fit.shape_covariance
        arrays[prefix + "shapes"] = np.array([[s.carryover, s.half_saturation, s.hill_exponent] for s in fit.shapes])
        arrays[prefix + "max_t"] = fit.max_t
        arrays[prefix + "last_exposure"] = fit.last_exposure
        for name in BASELINE_ARRAYS:
            arrays[prefix + "baseline/" + name] = getattr(fit.baseline, name)
        for name in MARKET_ARRAYS:
            arrays[prefix + "market/" + name] = getattr(fit.market_effects, name)
        if fit.market_draws is not None:
            arrays[prefix + "market_draws"] = fit.market_draws
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=directory.parent))
    try:
        (staging / "model.json").write_text(json.dumps(meta, indent=1, default=_json_default))
        np.savez(staging / "arrays.npz", **arrays)
        manifest = {name: sha256(staging / name) for name in FILES}
        (staging / "manifest.json").write_text(json.dumps({"format_version": FORMAT_VERSION, "sha256": manifest}))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def verify_model_files(directory: str | Path) -> None:
    """Raise ModelFileError unless every file is present and matches the manifest."""
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ModelFileError(f"{directory}: no manifest.json; this is not a saved engagement-impact model")
    try:
        manifest = json.loads(manifest_path.read_text())
        expected = manifest["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if manifest.get("format_version") not in READS:
        raise ModelFileError(f"{directory}: model format {manifest.get('format_version')}, "
                             f"this code reads formats {', '.join(map(str, READS))}")
    for name in FILES:
        path = directory / name
        if not path.is_file():
            raise ModelFileError(f"{directory}: {name} is missing")
        if sha256(path) != expected.get(name):
            raise ModelFileError(f"{path}: checksum mismatch (the file was truncated or altered); refusing to load it")


def load_model(directory: str | Path) -> ImpactModel:
    """Read a model written by `save_model` (checksums first; no pickle anywhere)."""
    directory = Path(directory)
    verify_model_files(directory)
    try:
        meta = json.loads((directory / "model.json").read_text())
        with np.load(directory / "arrays.npz", allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        params = params_from_json(meta["params"])
        model = ImpactModel(**params)
        model.stage_seconds_ = meta["stage_seconds"]
        model.left_out_ = list(meta["left_out"])
        if meta.get("step_backtest") is not None:
            model.step_backtest_ = meta["step_backtest"]
        model.apps_ = {app: _app_fit(app, info, arrays) for app, info in meta["apps"].items()}
    except (ValueError, KeyError, TypeError, OSError) as exc:   # np.load refuses pickled objects with ValueError
        raise ModelFileError(f"{directory}: not a readable model ({type(exc).__name__}: {exc})") from None
    return model


def params_to_json(params: dict) -> dict:
    """Model parameters as JSON values: the grid as [carryover, half_saturation, hill_exponent] lists."""
    return {**params, "grid": [[s.carryover, s.half_saturation, s.hill_exponent] for s in params["grid"]]}


def params_from_json(params: dict) -> dict:
    """The inverse of `params_to_json`."""
    return {**params, "grid": tuple(ResponseShape(*point) for point in params["grid"]),
            "known_breaks": tuple(params.get("known_breaks", ()))}


# ---------------------------------------------------------------------- per app

def _app_meta(fit: AppFit) -> dict:
    backtest = fit.backtest
    return {
        "markets": fit.panel.markets,
        "first_week": str(fit.panel.weeks[0].date()),
        "n_weeks": len(fit.panel.weeks),
        "shape": [fit.shape.carryover, fit.shape.half_saturation, fit.shape.hill_exponent],
        "effect": vars(fit.effect),
        "noise_seed": fit.noise_seed,
        "backtest": {"horizon": backtest.horizon, "origins": backtest.origins, "level": backtest.level,
                     "mase": backtest.mase, "mase_seasonal_naive": backtest.mase_seasonal_naive,
                     "coverage": backtest.coverage, "coverage_all": backtest.coverage_all,
                     "coverage_levels": backtest.coverage_levels,
                     "coverage_weeks_ahead": backtest.coverage_weeks_ahead, "trend": backtest.trend, "common": backtest.common,
                     "scale_levels": list(SCALE_LEVELS),
                     "scales": {q: {part: vars(law) for part, law in laws.items()} for q, laws in backtest.scales.items()},
                     "example": backtest.example, "calibration_skipped": backtest.calibration_skipped},
        "event_study": fit.event_study,
        "market_effects": {name: getattr(fit.market_effects, name) for name in ("spread", "spread_z", "variance_factor")},
        "tests": None if fit.tests is None else fit.tests.to_dict(fit.panel.markets, fit.panel.weeks),
    }


def _app_fit(app: str, info: dict, arrays: dict[str, np.ndarray]) -> AppFit:
    prefix = f"{app}/"

    def get(name: str) -> np.ndarray:
        return arrays[prefix + name]

    weeks = pd.date_range(info["first_week"], periods=info["n_weeks"], freq="7D", unit="ns")
    panel = AppPanel(app=app, markets=list(info["markets"]), weeks=weeks,
                     **{name: get(name) for name in PANEL_ARRAYS})
    if panel.observed.dtype != bool or panel.observed.shape != panel.share.shape:
        raise ValueError(f"{app}: the observed mask is not a markets x weeks boolean array")
    draw_names = [k[len(prefix + "draws/"):] for k in arrays if k.startswith(prefix + "draws/")]
    bt = info["backtest"]

    def by_horizon(table: dict) -> dict:
        return {q: {int(h): v for h, v in values.items()} for q, values in table.items()}

    backtest = BacktestResult(horizon=bt["horizon"], origins=bt["origins"], level=bt["level"],
                              mase=by_horizon(bt["mase"]), mase_seasonal_naive=by_horizon(bt["mase_seasonal_naive"]),
                              coverage=by_horizon(bt["coverage"]), coverage_all=by_horizon(bt["coverage_all"]),
                              coverage_levels={row: {q: {float(lv): v for lv, v in levels.items()}
                                                     for q, levels in table.items()}
                                               for row, table in bt["coverage_levels"].items()},
                              trend=bt["trend"], common=bt["common"], example=bt.get("example"),
                              calibration_skipped=bt.get("calibration_skipped", {}),
                              coverage_weeks_ahead={row: {q: {weeks: {float(lv): v for lv, v in levels.items()}
                                                              for weeks, levels in buckets.items()}
                                                          for q, buckets in table.items()}
                                                    for row, table in bt.get("coverage_weeks_ahead", {}).items()},
                              scales={q: {part: ScaleLaw(**law) for part, law in laws.items()}
                                      for q, laws in bt["scales"].items()})
    baseline = BaselineFit(**{name: get("baseline/" + name) for name in BASELINE_ARRAYS})
    return AppFit(panel=panel, shape=ResponseShape(*info["shape"]), shape_covariance=get("shape_covariance"),
                  effect=EffectEstimate(**info["effect"]), shapes=tuple(ResponseShape(*map(float, row))
                                                                        for row in get("shapes")),
                  draws={k: get("draws/" + k) for k in draw_names},
                  max_t=get("max_t"), last_exposure=get("last_exposure"), baseline=baseline, backtest=backtest,
                  event_study=info["event_study"], noise_seed=info["noise_seed"],
                  market_effects=MarketEffects(**{name: get("market/" + name) for name in MARKET_ARRAYS},
                                               **info["market_effects"]) if "market_effects" in info
                  else MarketEffects.shared(len(panel.markets)),
                  market_draws=arrays.get(prefix + "market_draws"),
                  tests=None if info.get("tests") is None else AppTests.from_dict(info["tests"], panel.markets, weeks))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in model.json")
