"""`impact train`: fit, log, register, gate and promote, then publish a new champion."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from data import PanelError
from data.experiments import ExperimentsError
from training.cli.common import DEFAULT_PANEL, console, fail, store_errors
from training.cli.publish import SCENARIOS_OPTION, WAREHOUSE_OPTION, check_scenario_file, publish_version
from training.cli.settings import parse_settings


def train(
    data: Path = typer.Option(DEFAULT_PANEL, "--data", help="Panel file (CSV or Parquet) that the data contract accepts."),
    experiment: str = typer.Option("engagement-impact", "--experiment", help="MLflow experiment name."),
    no_promote: bool = typer.Option(False, "--no-promote", help="Register the model but never move the champion alias."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap and the sample paths."),
    settings: list[str] = typer.Option([], "--set", help="Model hyperparameter, key=value (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; print only the summary."),
    if_no_champion: bool = typer.Option(False, "--if-no-champion", help="Do nothing when a champion exists (for `make run`)."),
    no_publish: bool = typer.Option(False, "--no-publish", help="Do not publish a new champion to the warehouse."),
    warehouse: str | None = WAREHOUSE_OPTION,
    scenarios: Path | None = SCENARIOS_OPTION,
    experiments: Path | None = typer.Option(None, "--experiments", metavar="FILE",
                                            help="Lift tests (CSV or YAML, one row per test: app, market, first_week, "
                                                 "last_week, test_share, reference_share, lift_log_time, se_log_time, "
                                                 "optional lift/se of log_dau and log_revenue, source) that calibrate "
                                                 "the curve; see the README."),
    cluster: str | None = typer.Option(None, "--cluster", metavar="ADDRESS",
                                       help="Fit on the Dask cluster whose scheduler is at ADDRESS (default: "
                                            "DASK_SCHEDULER_ADDRESS, else local processes; `--set n_jobs=1` for none)."),
) -> None:
    """Fit the model on a panel, log the run to MLflow, register it, and promote it if it passes the gate;
    a new champion is published to the warehouse."""
    import logging
    import os

    from training.model.fanout import warm_up
    if cluster is None and not if_no_champion and not any(s.startswith("n_jobs=") for s in settings):
        warm_up(-1, ("matplotlib.figure",))   # the fit's local workers start while the rest is imported
                                              # and the data read; they draw the run's plots later

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from sklearn.utils._param_validation import InvalidParameterError

    from training import tracking
    from training.model.fanout import ClusterError
    from training.model.panel import PanelShapeError
    from training.pipeline import PIPELINE_STAGES, train as run_training, training_model

    params = parse_settings(settings)
    if scenarios is not None and not no_publish:
        check_scenario_file(scenarios)
    try:
        training_model(seed, params)
    except ValueError as exc:
        fail(f"--set: {exc}")
    # our progress bars say what happens; MLflow sets its level when imported (in the run, after this)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if if_no_champion:
        from training import registry
        with store_errors("nothing was trained"):
            tracking.configure()
            current = registry.champion_version()
        if current is not None:
            console.print(f"champion is version {current}; not training (drop --if-no-champion to retrain)")
            return
    with Progress(TextColumn("{task.description:<12}"), BarColumn(), TextColumn("{task.fields[app]}"),
                  TimeElapsedColumn(), console=Console(stderr=True), disable=quiet) as bars:
        tasks = {stage: bars.add_task(stage, total=None, app="") for stage in PIPELINE_STAGES}

        def on_stage(stage: str, app_name: str) -> None:
            """A stage finished for an app (or for the whole run)."""
            bars.update(tasks[stage], advance=1, app=app_name)
            if stage in ("validate", "step_backtest", "log"):
                bars.update(tasks[stage], total=1, completed=1)

        with store_errors("nothing was registered, rerun when it is back", before=bars.stop):
            try:
                result = run_training(data, experiment, promote=not no_promote, seed=seed, params=params,
                                      progress=on_stage, cluster=cluster, experiments=experiments)
            except ExperimentsError as exc:       # before the run: nothing was logged
                bars.stop()
                fail(f"--experiments {exc}")
            except (PanelError, PanelShapeError, InvalidParameterError) as exc:   # the data, or a parameter it contradicts
                bars.stop()
                fail(str(exc))
            except ClusterError as exc:
                bars.stop()
                fail(f"{exc}; nothing was trained", code=1)
        for task in tasks.values():
            bars.update(task, total=bars.tasks[task].completed or 1, completed=bars.tasks[task].completed or 1)
    console.print(f"[bold]run[/bold] {result.run_id}  [bold]model version[/bold] {result.version}  "
                  f"[bold]{'promoted to champion' if result.promoted else 'not promoted'}[/bold]: {result.reason}")
    table = Table("metric", "value", box=None)
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:,.3f}" if abs(value) < 1e6 else f"{value:,.0f}")
    console.print(table)
    for warning in result.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")
    console.print(f"took {result.seconds:.1f} s; look at it with: {tracking.ui_command()}")
    if result.promoted and not no_publish:
        publish_version(result.version, warehouse, scenarios, quiet=quiet, model=result.model,
                        failed=f"version {result.version} is trained and champion, but was not published")
