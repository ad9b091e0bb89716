"""`impact train`: panel file -> validated panel -> fitted model -> MLflow run, registered
version, promotion gate -> champion in the BentoML store.

Everything runs inside one MLflow run: an exception anywhere (bad data included) ends the run
as FAILED, and no model version is left registered (one registered before the failure is
deleted again).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

import numpy as np
import pandas as pd

from data import PanelError, inspect_panel
from training import plots, registry, tracking
from training.model import STAGES, ImpactModel, headline_mase
from training.persist import save_model, sha256
from training.pyfunc_model import ARTIFACT, predict_rows

PIPELINE_STAGES = ("validate", *STAGES, "log")
PACKAGES = ("numpy", "pandas", "statsmodels", "scipy", "mlflow", "bentoml")


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


def train(data: Path, experiment: str = tracking.DEFAULT_EXPERIMENT, promote: bool = True, seed: int = 0,
          params: dict | None = None, progress: Callable[[str, str], None] | None = None) -> TrainResult:
    """Train, log, register and (through the gate) promote. Raises PanelError for bad data."""
    import mlflow
    progress = progress or (lambda stage, app: None)
    started = time.perf_counter()
    tracking.configure()
    experiment_id = tracking.experiment_id(experiment)
    version = None
    with mlflow.start_run(experiment_id=experiment_id) as run:
        try:
            mlflow.set_tags({"data.path": str(data), "stage": "validate"})
            panel, report = inspect_panel(data)
            mlflow.log_dict(report.to_dict(), "validation_report.json")
            if panel is None:
                mlflow.set_tags({"data.valid": "false", "gate.promote": "false",
                                 "gate.reason": "the data broke the contract"})
                raise PanelError(report.first_failure, str(data))
            mlflow.set_tag("data.valid", "true")
            progress("validate", "")
            model = ImpactModel(seed=seed, **(params or {})).fit(panel, progress)
            with tempfile.TemporaryDirectory() as tmp:
                model_dir = save_model(model, Path(tmp) / ARTIFACT)
                metrics, model_uri = _log_run(model, panel, data, seed, model_dir)
                version = str(mlflow.register_model(model_uri, tracking.MODEL_NAME).version)
                decision = registry.gate(model, panel)
                mlflow.set_tags(decision.tags())
                promoted = False
                if promote and decision.promote:
                    registry.promote(version, run.info.run_id, model_dir)
                    promoted = True
                reason = decision.reason if promote else f"--no-promote ({decision.reason})"
                mlflow.set_tag("gate.promoted", str(promoted).lower())
            progress("log", "")
        except BaseException:
            if version is not None:
                registry.client().delete_model_version(tracking.MODEL_NAME, version)
            raise
    return TrainResult(run.info.run_id, version, promoted, reason, metrics, time.perf_counter() - started)


def _log_run(model: ImpactModel, panel: pd.DataFrame, data: Path, seed: int, model_dir: Path) -> tuple[dict, str]:
    """Params, metrics, plots, tables and the pyfunc model of a fitted model.

    Returns the headline metrics and the logged model's URI.
    """
    import mlflow
    params = model.get_params()
    grid = params.pop("grid")
    mlflow.log_params({
        "data_file": str(Path(data).resolve()), "data_sha256": sha256(Path(data)), "rows": len(panel),
        "first_week": f"{panel['week'].min():%Y-%m-%d}", "last_week": f"{panel['week'].max():%Y-%m-%d}",
        "apps": ",".join(model.apps_), "markets": panel["market"].nunique(), "seed": seed,
        "grid_points": len(grid), "grid_carryover": sorted({g[0] for g in grid}),
        "grid_half_saturation": sorted({g[1] for g in grid}), "grid_shape": sorted({g[2] for g in grid}),
        **params,
        **{f"{app}.carryover": fit.shape.carryover for app, fit in model.apps_.items()},
        **{f"{app}.half_saturation": fit.shape.half_saturation for app, fit in model.apps_.items()},
        **{f"{app}.hill_shape": fit.shape.shape for app, fit in model.apps_.items()},
        **{f"{app}.baseline_trend": json.dumps(fit.backtest.trend) for app, fit in model.apps_.items()},
        **{f"version.{p}": package_version(p) for p in PACKAGES},
    })
    metrics = {f"fit_seconds.{stage}": seconds for stage, seconds in model.stage_seconds_.items()}
    for app, fit in model.apps_.items():
        bt = fit.backtest
        for q in ("minutes", "revenue"):
            for h in bt.mase[q]:
                metrics[f"{app}.backtest_mase_{q}_{h}w"] = bt.mase[q][h]
                metrics[f"{app}.seasonal_naive_mase_{q}_{h}w"] = bt.mase_seasonal_naive[q][h]
                metrics[f"{app}.backtest_coverage90_{q}_{h}w"] = bt.coverage[q][h]
        for name in ("log_time", "log_dau", "revenue_elasticity", "direct_log_revenue"):
            metrics[f"{app}.effect_{name}"] = getattr(fit.effect, name)
            lo, hi = np.quantile(fit.draws[name], [0.05, 0.95])
            metrics[f"{app}.effect_{name}_lo90"], metrics[f"{app}.effect_{name}_hi90"] = float(lo), float(hi)
        attribution = model.attribute(app)
        for quantity in ("minutes", "ad_revenue_usd"):
            inc = attribution.totals[quantity]["incremental"]
            metrics.update({f"{app}.incremental_{quantity}": inc["mean"], f"{app}.incremental_{quantity}_lo90": inc["lo"],
                            f"{app}.incremental_{quantity}_hi90": inc["hi"]})
        for name, figure in (("dose_response", plots.dose_response(fit)), ("event_study", plots.event_study(fit)),
                             ("attribution", plots.attribution_over_time(attribution)),
                             ("backtest", plots.backtest_example(fit))):
            mlflow.log_figure(figure, f"plots/{app}_{name}.png")
            plots.plt.close(figure)
        study = fit.event_study
        if study.get("available"):
            table = pd.DataFrame({"event_week": study["event_week"], "att": study["att"], "se": study["se"]})
            mlflow.log_text(table.to_csv(index=False), f"tables/{app}_event_study.csv")
        mlflow.log_text(attribution.by_market.to_csv(index=False), f"tables/{app}_attribution_by_market.csv")
    headline, naive = headline_mase({app: fit.backtest for app, fit in model.apps_.items()})
    metrics["backtest_mase_13w"], metrics["seasonal_naive_mase_13w"] = headline, naive
    mlflow.log_metrics(metrics)
    model_uri = _log_pyfunc(model, model_dir)
    headline_metrics = {"backtest_mase_13w": headline, "seasonal_naive_mase_13w": naive,
                        **{k: v for k, v in metrics.items() if k.endswith("incremental_minutes")}}
    return headline_metrics, model_uri


def _log_pyfunc(model: ImpactModel, model_dir: Path) -> str:
    import mlflow
    from mlflow.models import infer_signature
    import training
    import data as data_package
    app = next(iter(model.apps_))
    markets = model.apps_[app].panel.markets[:2]
    weeks = model.forecast_weeks(app, 2).strftime("%Y-%m-%d")
    example = pd.DataFrame([{"app": app, "market": m, "week": w, "rollout_share": 1.0} for m in markets for w in weeks])
    signature = infer_signature(example, predict_rows(model, example), params={"interval": 0.9})
    code = [str(Path(training.__file__).parent), str(Path(data_package.__file__).parent)]
    info = mlflow.pyfunc.log_model(
        name="model", python_model=str(Path(__file__).parent / "pyfunc_model.py"),
        artifacts={ARTIFACT: str(model_dir)}, code_paths=code, signature=signature, input_example=example,
        pip_requirements=[f"{p}=={package_version(p)}" for p in ("mlflow", "numpy", "pandas", "scipy", "statsmodels", "pyarrow")],
    )
    return info.model_uri
