"""`impact train`: panel file -> validated panel -> fitted model -> MLflow run, registered
version, promotion gate -> champion in the BentoML store.

Everything is reported in one MLflow run: an exception anywhere (bad data included) ends the
run as FAILED, and no model version is left registered (one registered before the failure is
deleted again). The panel is read first and the fit starts on it in the background, while MLflow
is imported and the store opened (on a new store, seconds of schema migrations); the run waits
for the fit. The run is named after the data file and its window, logs the panel as an
MLflow dataset, and its description states the gate's decision and the headline figures.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path

import pandas as pd

from data import PanelError, inspect_panel
from training import tracking
from training.model import fanout
from training.model.estimator import STAGES, ImpactModel
from training.model.persist import params_to_json, save_model, sha256
from training.model.queries import Attribution
from training.model.stepbacktest import StepBacktest, rollout_step_backtest

PIPELINE_STAGES = ("validate", *STAGES, "step_backtest", "log")
PACKAGES = ("numpy", "pandas", "statsmodels", "scipy", "scikit-learn", "mlflow", "bentoml")
MIN_TRAINING_ORIGINS = 2      # the gate compares backtests, and their coverage needs two origins
SCHEMA_ROWS = 1000            # rows the training dataset's schema is read from


def training_model(seed: int = 0, params: dict | None = None) -> ImpactModel:
    """The model `impact train` fits, its parameters checked before anything is logged.

    Raises ValueError (sklearn's InvalidParameterError for a bad parameter) with one line.
    """
    model = ImpactModel(**{"n_jobs": -1, **(params or {}), "seed": seed})      # fan out on every core by default
    model.validate_params()
    if model.backtest_origins < MIN_TRAINING_ORIGINS:
        raise ValueError(f"backtest_origins={model.backtest_origins}: training needs at least "
                         f"{MIN_TRAINING_ORIGINS} backtest origins, since the promotion gate compares backtests")
    return model


@dataclass
class TrainResult:
    run_id: str
    version: str | None
    promoted: bool
    reason: str
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)     # contract warnings and series left out
    model: ImpactModel | None = None                      # the fitted model (what the version holds)


def train(data: Path, experiment: str = tracking.DEFAULT_EXPERIMENT, promote: bool = True, seed: int = 0,
          params: dict | None = None, progress: Callable[[str, str], None] | None = None,
          cluster: str | None = None, experiments: Path | None = None) -> TrainResult:
    """Train, log, register and (through the gate) promote. Raises PanelError for bad data, and
    ClusterError, before the run starts, when the Dask scheduler (`cluster` or DASK_SCHEDULER_ADDRESS)
    cannot be reached. The fit fans out there (or on local processes); only this process talks to MLflow.
    `experiments`: a file of lift tests (`data.experiments`), checked against the panel before the
    run starts (ExperimentsError: nothing is logged), logged as the run's second dataset, and used
    to calibrate the fit."""
    progress = progress or (lambda stage, app: None)
    started = time.perf_counter()
    model = training_model(seed, params)
    panel, report = inspect_panel(data)   # read before the run: the fit starts while the store opens
    tests = None if experiments is None else checked_experiments(experiments, panel)
    version = None
    with fanout.cluster(cluster) as address, ExitStack() as stack:
        fitting = None if panel is None else fanout.in_background(address, model.fit, panel, progress,
                                                                  experiments=tests)
        import mlflow      # MLflow, the registry and the store load while the fit runs

        from training import registry
        from training.pyfunc_model import ARTIFACT
        try:
            run = stack.enter_context(_start_run(experiment, data, started))
            mlflow.set_tags({"data.path": str(data), "stage": "validate", "fit.cluster": address or "local processes"})
            mlflow.log_dict(report.to_dict(), "validation_report.json")
            if panel is None:
                mlflow.set_tags({"data.valid": "false", "gate.promote": "false",
                                 "gate.reason": "the data broke the contract"})
                raise PanelError(report.first_failure, str(data))
            mlflow.set_tags({"data.valid": "true", "mlflow.runName": run_name(data, panel)})
            mlflow.log_input(training_dataset(panel, data), context="training")
            progress("validate", "")
            if tests is not None:
                mlflow.log_input(experiments_dataset(tests, experiments), context="experiments")
            loading = _load_in_background()
            fitting.result()
            loading.join()
            steps = rollout_step_backtest(model, panel)
            model.step_backtest_ = steps.to_dict()
            progress("step_backtest", "")
            # the report again, now with what the model left out (a failed fit keeps the first one)
            mlflow.log_dict({**report.to_dict(), "left_out": model.left_out_}, "validation_report.json")
            if report.warnings or model.left_out_:
                mlflow.set_tag("data.warnings", "; ".join(report.warnings + model.left_out_)[:5000])
            from training import plots
            attributions = {app: model.attribute(app) for app in model.apps}
            tested = experiment_table(model)
            conflicts = experiment_conflicts(tested)
            with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1, thread_name_prefix="impact-plots") as pool:
                drawing = pool.submit(plots.draw, plots.run_plots(model, steps, attributions), model.n_jobs)
                model_dir = save_model(model, Path(tmp) / ARTIFACT)
                metrics, model_uri = _log_run(model, steps, attributions, tested, conflicts, panel, data, seed,
                                              model_dir)
                version = str(mlflow.register_model(model_uri, tracking.MODEL_NAME).version)
                decision = registry.gate(model, panel)
                mlflow.set_tags(decision.tags())
                _log_plots(drawing.result(), Path(tmp) / "plots")     # before the promotion: no champion without them
                promoted = False
                if promote and decision.promote:
                    registry.promote(version, run.info.run_id, model_dir)
                    promoted = True
                reason = decision.reason if promote else f"--no-promote ({decision.reason})"
                mlflow.set_tags({"gate.promoted": str(promoted).lower(),
                                 "mlflow.note.content": run_description(version, promoted, reason, metrics,
                                                                        model.left_out_)})
            progress("log", "")
        except BaseException:
            fanout.abandon(fitting)
            if version is not None:
                registry.client().delete_model_version(tracking.MODEL_NAME, version)
            raise
    return TrainResult(run.info.run_id, version, promoted, reason, metrics, time.perf_counter() - started,
                       report.warnings + model.left_out_ + conflicts, model)


def _start_run(experiment: str, data: Path, started: float):
    """The run of this training in `experiment` (created if needed), named after the data file and
    dated from the command's start (the fit starts before the store opens)."""
    import mlflow
    tracking.configure()
    start_time = round((time.time() - (time.perf_counter() - started)) * 1000)
    created = mlflow.MlflowClient().create_run(tracking.experiment_id(experiment), start_time=start_time,
                                               run_name=Path(data).name)
    return mlflow.start_run(run_id=created.info.run_id)


def _load_in_background() -> threading.Thread:
    """Load, while the fit's workers run, what the steps after it need and would otherwise load
    on the critical path: BentoML's model store (with its usage-tracking
    schemas, half a second), and MLflow's map of installed packages (which its model logging
    reads to check the pinned requirements; building it scans every installed distribution, most
    of a second)."""
    def load() -> None:
        import bentoml.models  # noqa: F401
        try:
            from mlflow.utils.requirements_utils import _init_packages_to_modules_map
            _init_packages_to_modules_map()
        except Exception:        # a private helper of MLflow's: without it, model logging builds the map itself
            pass

    thread = threading.Thread(target=load, name="impact-load", daemon=True)
    thread.start()
    return thread


def checked_experiments(path: Path, panel: pd.DataFrame | None) -> pd.DataFrame:
    """The lift tests of `path`, read and checked against the validated `panel` (ExperimentsError
    naming the row and field). Without a panel (it broke the contract) they are returned
    unchecked: the run then fails on the panel, as it would without them."""
    from data.experiments import check_experiments, read_experiments
    tests = read_experiments(path)
    if panel is not None:
        check_experiments(tests, panel, str(path))
    return tests


def experiments_dataset(tests: pd.DataFrame, path: Path):
    """The lift tests as an MLflow dataset: source path, digest of the file, every row."""
    import warnings

    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(str(Path(path).resolve()))
    return mlflow.data.from_pandas(tests, source=source, name=Path(path).name, digest=sha256(Path(path))[:16])


def run_name(data: Path, panel: pd.DataFrame) -> str:
    """What was trained: the data file and its window."""
    return f"{Path(data).name} {panel['week'].min():%Y-%m-%d}..{panel['week'].max():%Y-%m-%d}"


def training_dataset(panel: pd.DataFrame, data: Path):
    """The validated panel as an MLflow dataset: source path, digest of the file, schema and rows."""
    import warnings

    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.types.utils import _infer_schema
    with warnings.catch_warnings():     # MLflow registers its local-file source twice and says so
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        source = resolve_dataset_source(str(Path(data).resolve()))
    dataset = mlflow.data.from_pandas(panel, source=source, name=Path(data).name, digest=sha256(Path(data))[:16])
    # the contract fixes each column's type, so a few rows give the schema MLflow would infer from
    # every row (a second per column of text at 249 markets)
    dataset.schema = _infer_schema(panel.head(SCHEMA_ROWS))
    return dataset


def run_description(version: str, promoted: bool, reason: str, metrics: dict, left_out: list[str]) -> str:
    """The run's description (Markdown in the MLflow UI): the gate's decision and headline figures."""
    lines = [f"**Model version {version}: {'promoted to champion' if promoted else 'not promoted'}** ({reason}).", "",
             f"- backtest MASE at 13 weeks: {metrics['backtest_mase_13w']:.3f} "
             f"(seasonal-naive {metrics['seasonal_naive_mase_13w']:.3f})"]
    lines += [f"- {name.split('.')[0]}: incremental minutes {value:,.0f}"
              for name, value in metrics.items() if name.endswith(".incremental_minutes")]
    lines += [f"- left out: {note}" for note in left_out]
    return "\n".join(lines)


def _log_run(model: ImpactModel, steps: StepBacktest, attributions: dict[str, Attribution],
             tested: pd.DataFrame | None, conflicts: list[str], panel: pd.DataFrame,
             data: Path, seed: int, model_dir: Path) -> tuple[dict, str]:
    """Params, metrics, tables and the pyfunc model of a fitted model, its attribution, its
    rollout-step backtest and its lift tests (`tested`, `experiment_table`; `conflicts`, those left out).

    Returns the headline metrics and the logged model's URI.
    """
    import mlflow

    params = params_to_json(model.get_params())
    grid = params.pop("grid")
    mlflow.log_params({
        "data_file": str(Path(data).resolve()), "data_sha256": sha256(Path(data)), "rows": len(panel),
        "first_week": f"{panel['week'].min():%Y-%m-%d}", "last_week": f"{panel['week'].max():%Y-%m-%d}",
        "apps": ",".join(model.apps), "markets": panel["market"].nunique(), "seed": seed,
        "series_left_out": len(model.left_out_),
        "grid_points": len(grid), "grid_carryover": sorted({g[0] for g in grid}),
        "grid_half_saturation": sorted({g[1] for g in grid}), "grid_hill_exponent": sorted({g[2] for g in grid}),
        **params,
        "known_breaks": ",".join(params["known_breaks"]) or "none",
        **{f"{app}.{name}": value for app in model.apps for name, value in vars(model.response_shape(app)).items()},
        **{f"{app}.baseline_trend": json.dumps(model.backtest_summary(app).trend) for app in model.apps},
        **{f"{app}.baseline_common": json.dumps(model.backtest_summary(app).common) for app in model.apps},
        **{f"version.{p}": package_version(p) for p in PACKAGES},
    })
    metrics = {f"fit_seconds.{stage}": seconds for stage, seconds in model.stage_seconds_.items()}
    for app in model.apps:
        bt = model.backtest_summary(app)
        for q in bt.mase:
            for h in bt.mase[q]:
                metrics[f"{app}.backtest_mase_{q}_{h}w"] = bt.mase[q][h]
                metrics[f"{app}.seasonal_naive_mase_{q}_{h}w"] = bt.mase_seasonal_naive[q][h]
                metrics[f"{app}.backtest_coverage90_{q}_{h}w"] = bt.coverage[q][h]
                metrics[f"{app}.backtest_coverage90_ALL_{q}_{h}w"] = bt.coverage_all[q][h]
        for row, by_quantity in bt.coverage_weeks_ahead.items():       # each bucket of weeks ahead, 50% and 90%
            for q, buckets in by_quantity.items():
                for weeks, levels in buckets.items():
                    for level in (0.5, 0.9):
                        name = f"{app}.backtest_coverage{round(level * 100)}_{'' if row == 'market' else 'ALL_'}{q}"
                        metrics[f"{name}_weeks_{weeks.replace('-', '_')}"] = levels[level]
        for name, shape in model.shape_summary(app, 0.9).items():
            metrics[f"{app}.shape_{name}_lo90"], metrics[f"{app}.shape_{name}_hi90"] = shape["lo"], shape["hi"]
        for name, effect in model.effect_summary(app, 0.9).items():
            metrics[f"{app}.effect_{name}"] = effect["estimate"]
            metrics[f"{app}.effect_{name}_lo90"], metrics[f"{app}.effect_{name}_hi90"] = effect["lo"], effect["hi"]
        pooling, by_market = model.market_effect_summary(app, 0.9)
        metrics[f"{app}.market_spread"], metrics[f"{app}.market_spread_z"] = pooling.spread, pooling.spread_z
        mlflow.log_text(by_market.to_csv(index=False), f"tables/{app}_market_effects.csv")
        attribution = attributions[app]
        for quantity in ("minutes", "ad_revenue_usd"):
            inc = attribution.totals[quantity]["incremental"]
            metrics.update({f"{app}.incremental_{quantity}": inc["mean"], f"{app}.incremental_{quantity}_lo90": inc["lo"],
                            f"{app}.incremental_{quantity}_hi90": inc["hi"]})
        study = model.event_study(app)
        if study.get("available"):
            table = pd.DataFrame({"event_week": study["event_week"], "att": study["att"], "se": study["se"]})
            mlflow.log_text(table.to_csv(index=False), f"tables/{app}_event_study.csv")
        mlflow.log_text(attribution.by_market.to_csv(index=False), f"tables/{app}_attribution_by_market.csv")
    if tested is not None:
        mlflow.log_text(tested.to_csv(index=False), "tables/experiments.csv")
        mlflow.set_tags({"experiments.count": str(len(tested)), "experiments.used": str(int(tested["used"].sum())),
                         "experiments.flagged": "; ".join(conflicts)[:5000] or "none"})
        metrics["experiments_flagged"] = float(len(conflicts))
    step_metrics = {f"{app}.step_backtest_{q}_{name}": value for app, by_q in steps.summary().items()
                    for q, figures in by_q.items() for name, value in figures.items()}
    metrics.update(step_metrics)
    mlflow.log_text(steps.rows.to_csv(index=False), "tables/step_backtest.csv")
    headline, naive = model.headline_mase()
    metrics["backtest_mase_13w"], metrics["seasonal_naive_mase_13w"] = headline, naive
    logged = _log_pyfunc(model, model_dir)
    # the metrics once, linked to the logged model (logged before it, MLflow would read each one's
    # history back to link it: a query per metric)
    mlflow.log_metrics(metrics, model_id=logged.model_id)
    headline_metrics = {"backtest_mase_13w": headline, "seasonal_naive_mase_13w": naive,
                        **{k: v for k, v in metrics.items() if k.endswith("incremental_minutes")},
                        **{k: v for k, v in metrics.items() if k.endswith(".market_spread")},
                        **{k: metrics[k] for k in ("experiments_flagged",) if k in metrics},
                        **{k: v for k, v in step_metrics.items() if "_minutes_" in k and not k.endswith("_ratio")}}
    return headline_metrics, logged.model_uri


def experiment_table(model: ImpactModel) -> pd.DataFrame | None:
    """Every app's lift tests with their predictions (`experiment_predictions`, 90%), or None."""
    tables = [model.experiment_predictions(app, 0.9) for app in model.apps]
    tables = [t.assign(app=app)[["app", *t.columns]] for app, t in zip(model.apps, tables) if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else None


def experiment_conflicts(tested: pd.DataFrame | None) -> list[str]:
    """One line per lift test left out of the calibration because it disagrees with the panel by
    more than CONFLICT_Z standard errors of the difference."""
    if tested is None:
        return []
    return [f"experiments row {r.row} ({r.app} {r.market} {r.first_week}..{r.last_week}): measured "
            f"{r.lift_log_time:.4g}, the panel predicts {r.before:.4g} (z {r.z:+.1f}); left out of the calibration"
            for r in tested[~tested["used"]].itertuples()]


def _log_plots(drawn: dict[str, bytes], folder: Path) -> None:
    """The run's plots (PNG, by name) under its artifacts' `plots/`."""
    import mlflow
    folder.mkdir()
    for name, image in drawn.items():
        (folder / name).write_bytes(image)
    mlflow.log_artifacts(str(folder), "plots")


def _log_pyfunc(model: ImpactModel, model_dir: Path):
    """The fitted model as an MLflow pyfunc model of this run; MLflow's ModelInfo."""
    import mlflow
    from mlflow.models import infer_signature

    import data as data_package
    import training
    from training.pyfunc_model import ARTIFACT, predict_rows
    app = model.apps[0]
    markets = model.markets(app, forecastable=True)[:2]
    weeks = model.forecast_weeks(app, 2).strftime("%Y-%m-%d")
    example = pd.DataFrame([{"app": app, "market": m, "week": w, "rollout_share": 1.0} for m in markets for w in weeks])
    signature = infer_signature(example, predict_rows(model, example), params={"interval": 0.9})
    code = [str(Path(training.__file__).parent), str(Path(data_package.__file__).parent)]
    info = mlflow.pyfunc.log_model(
        name="model", python_model=str(Path(__file__).parent / "pyfunc_model.py"),
        artifacts={ARTIFACT: str(model_dir)}, code_paths=code, signature=signature, input_example=example,
        pip_requirements=[f"{p}=={package_version(p)}" for p in ("mlflow", "numpy", "pandas", "scipy", "statsmodels", "pyarrow")],
    )
    return info
