"""`impact`: the command line of engagement-impact.

User errors (a panel that breaks the contract, a bad option) end in one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from data import PanelError, WorldSpec, inspect_panel, simulate_world
from data.markets import MARKETS, world_markets
from data.simulator import DESIGNS, RESPONSES, response_effects
from training.warehouse import DEFAULT_HORIZON_WEEKS, DEFAULT_LEVELS

app = typer.Typer(
    name="impact",
    help="Forecast how AI-feature rollouts move time spent and ad revenue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
DEFAULT_DATA_DIR = Path("data/generated")
# The CLI reports in its own lines (one line on failure); MLflow's download progress bars (drawn
# whenever tqdm is importable) would break that.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit: 2 for bad input, 1 for a failure around it."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    raise typer.Exit(code=code)


def tracking_failure(exc: Exception) -> str | None:
    """One line for a tracking store that is unreachable or locked; None if `exc` is something else."""
    from mlflow.exceptions import MlflowException
    from requests.exceptions import RequestException
    from sqlalchemy.exc import SQLAlchemyError
    if isinstance(exc, (MlflowException, RequestException, SQLAlchemyError)):
        text = str(getattr(exc, "message", exc)).strip().splitlines()
        return text[0][:300] if text else type(exc).__name__
    return None


@app.command()
def simulate(
    out: Path = typer.Option(DEFAULT_DATA_DIR, "--out", help="Folder for panel.parquet, panel.csv, truth.json."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; the same seed gives the same world."),
    null: bool = typer.Option(False, "--null", help="The same world with no rollout effect (for placebo tests)."),
    design: str = typer.Option("default", "--design",
                               help=f"How baselines behave: {', '.join(DESIGNS)} (see data/simulator.py)."),
    response: str = typer.Option("default", "--response",
                                 help=f"How the rollout acts: {', '.join(RESPONSES)} (see data/simulator.py)."),
    markets: int = typer.Option(len(MARKETS), "--markets",
                                help=f"Markets in the world: the {len(MARKETS)} named ones, and more up to every "
                                     "assigned country code (249), with drawn sizes and launch weeks."),
) -> None:
    """Write a simulated panel whose true rollout effects are known (truth.json)."""
    try:
        spec = WorldSpec(design=design)
    except ValueError as exc:
        fail(f"--design {design}: {exc}")
    try:
        spec = replace(spec, effects=response_effects(response))
    except ValueError as exc:
        fail(f"--response {response}: {exc}")
    try:
        spec = replace(spec, markets=world_markets(markets, seed))
    except ValueError as exc:
        fail(f"--markets {markets}: {exc}")
    try:
        world = simulate_world(seed=seed, null=null, spec=spec)
        paths = world.write(out)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    panel = world.panel
    console.print(f"[bold]simulated world[/bold] seed={seed}{' (null: no effect)' if null else ''}, design {design}, response {response}: "
                  f"{len(panel):,} rows, {panel['app'].nunique()} apps x {panel['market'].nunique()} markets, "
                  f"{panel['week'].min():%Y-%m-%d} .. {panel['week'].max():%Y-%m-%d}")
    table = Table("app", "true incremental minutes", "true incremental ad revenue (USD)", box=None)
    for name, inc in world.truth["incremental"].items():
        table.add_row(name, f"{inc['minutes']:,.0f}", f"{inc['ad_revenue_usd']:,.0f}")
    console.print(table)
    for kind, path in paths.items():
        console.print(f"  {kind:8s} {path}")


@app.command()
def validate(path: Path = typer.Argument(..., help="Panel file, CSV or Parquet.")) -> None:
    """Check a panel file against the data contract; exit 2 with the broken rule if it fails."""
    panel, report = inspect_panel(path)
    if panel is None:
        fail(str(PanelError(report.first_failure, str(path))))
    passed = sum(r.passed for r in report.results)
    console.print(f"[green]ok[/green] {path}: {len(panel):,} rows, {passed} rules passed; "
                  f"apps {', '.join(sorted(panel['app'].unique()))}; "
                  f"{panel['market'].nunique()} markets; "
                  f"weeks {panel['week'].min():%Y-%m-%d} .. {panel['week'].max():%Y-%m-%d}")
    for warning in report.warnings:
        console.print(f"[yellow]warning[/yellow] {warning}")


DEFAULT_PANEL = DEFAULT_DATA_DIR / "panel.parquet"
WAREHOUSE_OPTION = typer.Option(None, "--warehouse", help="SQLAlchemy URL of the warehouse (default: "
                                "IMPACT_WAREHOUSE_URL, else DuckDB in IMPACT_HOME/warehouse.duckdb).")
SCENARIOS_OPTION = typer.Option(None, "--scenarios", help="JSON or YAML file of named /forecast requests published "
                                "with the standard scenarios.")
USER_ERRORS = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")   # MLflow error codes a user's input causes
NOT_SETTABLE = {"seed": "use --seed"}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("needs true or false")


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("needs a whole number") from None


def _parse_grid(text: str) -> tuple:
    """A JSON list of [carryover, half_saturation, hill_exponent] triples."""
    import json

    from training.model.effects import ResponseShape
    try:
        points = json.loads(text)
        return tuple(ResponseShape(*map(float, point)) for point in points)
    except (ValueError, TypeError):
        raise ValueError("needs a JSON list of [carryover, half_saturation, hill_exponent] triples, "
                         "e.g. [[0.7,0.35,1.5],[0.5,0.6,1.0]]") from None


def _parse_known_breaks(text: str) -> tuple[str, ...]:
    """Comma-separated app:quantity:first:last spans (see `backtest.parse_known_break`)."""
    from training.model.backtest import parse_known_break
    breaks = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in breaks:
        parse_known_break(item)
    return breaks


PARSERS_BY_NAME = {"grid": _parse_grid, "known_breaks": _parse_known_breaks, "n_jobs": _parse_int}


def settable_parameters() -> dict:
    """`--set` keys and their parsers, from the model's own parameters and their default types."""
    from training.model.estimator import ImpactModel
    parsers = {bool: _parse_bool, int: _parse_int}
    return {key: PARSERS_BY_NAME.get(key) or parsers[type(default)]
            for key, default in ImpactModel().get_params().items() if key not in NOT_SETTABLE}


def parse_settings(settings: list[str]) -> dict:
    """`--set key=value` model parameters, each parsed by its type; exit 2 with one line if wrong."""
    parsers = settable_parameters()
    params = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if key in NOT_SETTABLE:
            fail(f"--set {item}: {key} is not set with --set ({NOT_SETTABLE[key]})")
        if not sep or key not in parsers:
            fail(f"--set {item}: use key=value with key one of {', '.join(parsers)}")
        try:
            params[key] = parsers[key](value)
        except ValueError as exc:
            fail(f"--set {item}: {key} {exc}")
    return params


@app.command()
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
    cluster: str | None = typer.Option(None, "--cluster", metavar="ADDRESS",
                                       help="Fit on the Dask cluster whose scheduler is at ADDRESS (default: "
                                            "DASK_SCHEDULER_ADDRESS, else local processes; `--set n_jobs=1` for none)."),
) -> None:
    """Fit the model on a panel, log the run to MLflow, register it, and promote it if it passes the gate;
    a new champion is published to the warehouse."""
    import logging

    from training.model.fanout import warm_up
    if cluster is None and not if_no_champion and not any(s.startswith("n_jobs=") for s in settings):
        warm_up(-1)         # the fit's local workers start while the rest is imported and the data read

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from sklearn.utils._param_validation import InvalidParameterError

    from training import tracking
    from training.model.fanout import ClusterError
    from training.model.panel import PanelShapeError
    from training.pipeline import PIPELINE_STAGES, train as run_training, training_model

    params = parse_settings(settings)
    if scenarios is not None and not no_publish:
        _check_scenario_file(scenarios)
    try:
        training_model(seed, params)
    except ValueError as exc:
        fail(f"--set: {exc}")
    logging.getLogger("mlflow").setLevel(logging.WARNING)      # our progress bars say what happens
    if if_no_champion:
        from training import registry
        try:
            tracking.configure()
            current = registry.champion_version()
        except Exception as exc:
            if (problem := tracking_failure(exc)) is None:
                raise
            fail(f"tracking store {tracking.tracking_uri()} failed: {problem}", code=1)
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

        try:
            result = run_training(data, experiment, promote=not no_promote, seed=seed, params=params,
                                  progress=on_stage, cluster=cluster)
        except (PanelError, PanelShapeError, InvalidParameterError) as exc:   # the data, or a parameter it contradicts
            bars.stop()
            fail(str(exc))
        except ClusterError as exc:
            bars.stop()
            fail(f"{exc}; nothing was trained", code=1)
        except Exception as exc:
            problem = tracking_failure(exc)
            if problem is None:
                raise
            bars.stop()
            fail(f"tracking store {tracking.tracking_uri()} failed: {problem}; nothing was registered, "
                 "rerun when it is back", code=1)
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
        _publish(result.version, warehouse, scenarios, quiet=quiet, model=result.model,
                 failed=f"version {result.version} is trained and champion, but was not published")


@app.command()
def models() -> None:
    """List the registered model versions, their backtest and which one is champion."""
    from training import registry, tracking
    tracking.configure()
    rows = registry.versions()
    if not rows:
        console.print("no registered versions yet: run `impact train`")
        return
    table = Table("version", "champion", "created", "backtest MASE 13w", "run", "gate", box=None)
    for row in rows:
        table.add_row(row["version"], "*" if row["champion"] else "", row["created"],
                      "" if row["mase_13w"] is None else f"{row['mase_13w']:.3f}", row["run_id"], row["gate"])
    console.print(table)


@app.command()
def promote(
    version: str = typer.Argument(..., help="The registered version to make champion (e.g. for a rollback)."),
    no_publish: bool = typer.Option(False, "--no-publish", help="Do not publish it to the warehouse."),
    warehouse: str | None = WAREHOUSE_OPTION,
    scenarios: Path | None = SCENARIOS_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Move the champion alias to VERSION by hand, import it into the BentoML store and publish it."""
    import logging

    from bentoml.exceptions import BentoMLException
    from mlflow.exceptions import MlflowException

    from training import registry, tracking
    from training.model.persist import ModelFileError
    logging.getLogger("mlflow").setLevel(logging.CRITICAL)      # a failure is reported below, in one line
    tracking.configure()
    try:
        tag = registry.promote(version)
    except (OSError, BentoMLException) as exc:
        fail(f"cannot import version {version} into the BentoML store: {exc}; the champion alias was left "
             "where it was", code=1)
    except ModelFileError as exc:
        fail(str(exc))
    except MlflowException as exc:
        if exc.error_code in USER_ERRORS:       # e.g. no such version: the user's mistake
            fail(f"cannot promote version {version}: {exc.message.splitlines()[0]}")
        fail(f"tracking store {tracking.tracking_uri()} failed: {tracking_failure(exc)}; the champion was not "
             "changed", code=1)
    except Exception as exc:
        if (problem := tracking_failure(exc)) is None:
            raise
        fail(f"tracking store {tracking.tracking_uri()} failed: {problem}; the champion was not changed", code=1)
    console.print(f"champion is now version {version} (BentoML model {tag})")
    if not no_publish:
        _publish(version, warehouse, scenarios, quiet=quiet,
                 failed=f"version {version} is champion, but was not published")


@app.command()
def publish(
    version: str | None = typer.Option(None, "--version", help="The registered version to publish (default: the champion)."),
    warehouse: str | None = WAREHOUSE_OPTION,
    scenarios: Path | None = SCENARIOS_OPTION,
    horizon_weeks: int = typer.Option(DEFAULT_HORIZON_WEEKS, "--horizon-weeks", min=1, max=104,
                                      help="Weeks the standard scenarios forecast."),
    levels: str = typer.Option(",".join(f"{level:g}" for level in DEFAULT_LEVELS), "--levels",
                               help="Interval levels published, comma-separated (each in 0.5..0.99)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Publish a model version's forecasts, attribution and the accuracy of earlier vintages to the warehouse."""
    chosen = sorted(set(_number_list(levels, "--levels") or []))
    if not chosen or not all(0.5 <= level <= 0.99 for level in chosen):
        fail(f"--levels {levels}: give one or more levels, each between 0.5 and 0.99")
    if scenarios is not None:
        _check_scenario_file(scenarios)
    _publish(version, warehouse, scenarios, quiet=quiet, horizon_weeks=horizon_weeks, levels=tuple(chosen))


def _check_scenario_file(path: Path) -> None:
    from training.warehouse.scenarios import ScenarioFileError, load_scenario_file
    try:
        load_scenario_file(path)
    except ScenarioFileError as exc:
        fail(str(exc))


def _publish(version: str | None, warehouse: str | None, scenarios: Path | None, quiet: bool,
             horizon_weeks: int = DEFAULT_HORIZON_WEEKS, levels: tuple[float, ...] = DEFAULT_LEVELS,
             failed: str = "nothing was published", model=None) -> None:
    """Publish `version` (default: the champion) from the registry, or `model` (the version's
    fitted model, when the caller has it), and print what was written; exit 1 with one line if the
    warehouse or the registry fails (2 for a bad URL or scenario file)."""
    import logging

    from mlflow.exceptions import MlflowException
    from tqdm import tqdm

    from training import registry, tracking
    from training.warehouse.publish import WarehouseError, connect, default_url
    from training.warehouse.publish import publish as publish_version
    from training.warehouse.scenarios import ScenarioFileError, read_scenarios
    logging.getLogger("mlflow").setLevel(logging.CRITICAL)
    url = warehouse or default_url()
    try:
        connect(url).dispose()      # a warehouse that is down fails here, before the model is loaded
    except WarehouseError as exc:
        fail(f"{exc}; {failed}", code=1 if exc.unreachable else 2)
    try:
        tracking.configure()
        version = version or registry.champion_version()
        if version is None:
            fail("no champion to publish: train one with `impact train`, or name a version with --version")
        info = registry.version_info(version)
        model = model or registry.load_version(version)
    except MlflowException as exc:
        if exc.error_code in USER_ERRORS:
            fail(f"cannot publish version {version}: {exc.message.splitlines()[0]}")
        fail(f"tracking store {tracking.tracking_uri()} failed: {tracking_failure(exc)}; {failed}", code=1)

    def earlier(vintage: str):
        try:
            return registry.load_version(vintage)
        except Exception:       # a vintage deleted from the registry: skipped, and said so
            return None

    bars = []        # drawn from the first batch on, so a failure to connect prints one line only

    def progress(table: str, done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(desc=f"publish v{version}", total=total, unit="batch", disable=quiet,
                             file=sys.stderr, dynamic_ncols=True))
        bars[0].set_postfix_str(table, refresh=False)
        bars[0].update(done - bars[0].n)

    try:
        custom = read_scenarios(scenarios, model) if scenarios else []
        result = publish_version(url, model, info, custom, earlier=earlier, levels=levels,
                                 horizon_weeks=horizon_weeks, progress=progress)
    except ScenarioFileError as exc:
        fail(f"{exc}; {failed}")
    except WarehouseError as exc:
        for bar in bars:
            bar.close()
        fail(f"{exc}; {failed}", code=1 if exc.unreachable else 2)
    for bar in bars:
        bar.close()
    rows = ", ".join(f"{table} {n:,}" for table, n in result.rows.items())
    console.print(f"[bold]published[/bold] version {version} to {result.url} in {result.seconds:.1f} s: {rows}")
    for vintage, figures in result.vintages_scored.items():
        if figures["weeks"]:
            console.print(f"  vintage {vintage} against this training panel: {figures['weeks']} weeks, market rows "
                          f"MASE {figures['mase']:.3f}, {figures['level']:.0%} band held {figures['coverage']:.1%}")
        else:
            console.print(f"  vintage {vintage}: no week it forecast is in this training panel yet")
    if result.migrated:
        console.print(f"  schema: {', '.join(result.migrated)}")
    for note in result.skipped:
        console.print(f"  [yellow]warning[/yellow] {note}")


def _number_list(text: str | None, name: str, kind=float) -> list | None:
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"{name}: '{text}' is not a comma-separated list of numbers")


def _optimise_body(request: Path | None, options: dict) -> dict:
    """The /optimise body: the --request file (if any), then every option given on the command line."""
    import json

    from training.optimiser.request import Constraints
    body: dict = {}
    if request is not None:
        try:
            body = json.loads(request.read_text())
        except (OSError, ValueError) as exc:
            fail(f"--request: cannot read {request} as JSON: {exc}")
        if not isinstance(body, dict):
            fail(f"--request: {request} must hold a JSON object (the /optimise body)")
    constraints = body.get("constraints") or {}
    if not isinstance(constraints, dict):
        fail(f"--request: constraints in {request} must be a JSON object")
    constraints = dict(constraints)
    for key, value in options.items():
        if value is None:
            continue
        if key in Constraints.model_fields:
            constraints[key] = value
        else:
            body[key] = value
    if constraints:
        body["constraints"] = constraints
    return body


def _load_served_model(model_dir: Path | None):
    """The model to optimise with: a saved model folder, or the registry's champion."""
    import logging
    import tempfile

    from training.model.persist import ModelFileError, load_model
    try:
        if model_dir is not None:
            return load_model(model_dir), str(model_dir)
        from training import registry, tracking
        logging.getLogger("mlflow").setLevel(logging.WARNING)     # a failure is reported in one line
        tracking.configure()
        version = registry.champion_version()
        if version is None:
            fail("no champion model: train one with `impact train` (or pass --model DIR)")
        with tempfile.TemporaryDirectory() as folder:
            return load_model(registry.download_model(version, Path(folder))), f"champion version {version}"
    except ModelFileError as exc:
        fail(str(exc))
    except Exception as exc:
        if (problem := tracking_failure(exc)) is None:
            raise
        fail(f"tracking store failed: {problem}", code=1)


def _write_json(path: Path, value: dict) -> None:
    """Write all of it or nothing (a temporary file renamed into place)."""
    import json
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)


def _band(value: dict, scale: float = 1e6, digits: int = 2) -> str:
    """{mean, lo, hi} in millions: "mean [lo, hi]"."""
    return f"{value['mean'] / scale:,.{digits}f} [{value['lo'] / scale:,.{digits}f}, {value['hi'] / scale:,.{digits}f}]"


@app.command()
def optimise(
    app_name: str | None = typer.Option(None, "--app", help="The app (facebook, instagram, whatsapp)."),
    markets: str | None = typer.Option(None, "--markets", help="Markets the plan may change, e.g. BR,IN (default: every forecastable one)."),
    horizon_weeks: int | None = typer.Option(None, "--horizon-weeks", help="Weeks after the last trained week, 1..104 (default 26)."),
    interval: float | None = typer.Option(None, "--interval", help="Central interval level of every band, 0.5..0.99 (default 0.9)."),
    objective: str | None = typer.Option(None, "--objective", help="ad_revenue_usd (default) or minutes."),
    cost_low: float | None = typer.Option(None, "--cost-low", help="Serving cost per exposed DAU-week, USD: lowest."),
    cost_high: float | None = typer.Option(None, "--cost-high", help="Serving cost per exposed DAU-week, USD: highest."),
    max_launches_per_week: int | None = typer.Option(None, "--max-launches-per-week", help="Markets whose share may rise in any one week."),
    max_step: float | None = typer.Option(None, "--max-step", help="Largest weekly rise of a market's share, 0.05..1 (default 1)."),
    levels: str | None = typer.Option(None, "--levels", help="Allowed target shares, e.g. 0.5,1 (default 1)."),
    earliest: list[str] = typer.Option([], "--earliest", help="MARKET=YYYY-MM-DD: no rise before that week (repeatable)."),
    fixed: str | None = typer.Option(None, "--fixed", help="Markets held at the status quo, e.g. FR,IT."),
    max_exposed_dau: float | None = typer.Option(None, "--max-exposed-dau", help="Cap on exposed DAU summed over the markets in any week."),
    allow_decrease: bool | None = typer.Option(None, "--allow-decrease/--no-decrease", help="Allow levels below a market's current share."),
    risk: str | None = typer.Option(None, "--risk", help="mean (default) or a quantile q in 0.01..0.5 (maximise the worst q share's mean)."),
    time_limit_seconds: float | None = typer.Option(None, "--time-limit-seconds", help="Solver time limit, 0.1..15 s (default 10)."),
    optimality_gap: float | None = typer.Option(None, "--optimality-gap", help="Stop within this relative gap of the best, 0..0.1 (default 0.001)."),
    request: Path | None = typer.Option(None, "--request", help="A JSON file with an /optimise body; options given here override it."),
    model_dir: Path | None = typer.Option(None, "--model", help="A saved model folder (default: the registry's champion)."),
    out: Path = typer.Option(Path("optimised_plan.json"), "--out", help="Where to write the plan, as a /forecast request body."),
    answer_out: Path | None = typer.Option(None, "--answer", help="Also write the whole answer (as /optimise gives it) here."),
) -> None:
    """Choose the rollout plan with the most net value under constraints (as POST /optimise); print it and
    write it as a /forecast request."""
    from pydantic import ValidationError

    from training.optimiser import OptimiseError, OptimiseRequest
    from training.optimiser import optimise as optimise_plan

    if (cost_low is None) != (cost_high is None):
        fail("--cost-low and --cost-high go together")
    dates = {}
    for item in earliest:
        market, sep, week = item.partition("=")
        if not sep:
            fail(f"--earliest {item}: expected MARKET=YYYY-MM-DD")
        dates[market.strip()] = week.strip()
    risk_value = risk
    if risk not in (None, "mean"):
        try:
            risk_value = float(risk)
        except ValueError:
            fail(f"--risk: '{risk}' is neither mean nor a quantile such as 0.1")
    body = _optimise_body(request, {
        "app": app_name, "markets": None if markets is None else [m.strip() for m in markets.split(",") if m.strip()],
        "horizon_weeks": horizon_weeks, "interval": interval, "objective": objective,
        "cost": None if cost_low is None else {"per_exposed_dau_week_usd": {"low": cost_low, "high": cost_high}},
        "max_launches_per_week": max_launches_per_week, "max_step": max_step, "levels": _number_list(levels, "--levels"),
        "earliest": dates or None, "fixed": None if fixed is None else [m.strip() for m in fixed.split(",") if m.strip()],
        "max_exposed_dau": max_exposed_dau, "allow_decrease": allow_decrease, "risk": risk_value,
        "time_limit_seconds": time_limit_seconds, "optimality_gap": optimality_gap})
    try:
        checked = OptimiseRequest.model_validate(body)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"] if not str(part).startswith(("literal[", "constrained-")))
        fail(f"{where or 'request'}: {problem['msg']}")
    model, source = _load_served_model(model_dir)
    try:
        answer = optimise_plan(model, checked)
    except OptimiseError as exc:
        fail(str(exc))
    _write_json(out, answer["forecast_request"])
    if answer_out is not None:
        _write_json(answer_out, answer)
    _print_optimised(answer, checked, source, out)


def _print_optimised(answer: dict, checked, source: str, out: Path) -> None:
    """The plan, its value, the alternatives and the solver's report, as tables."""
    unit = "M USD" if checked.objective == "ad_revenue_usd" else "M minutes"
    console.print(f"[bold]{checked.app}[/bold], {checked.horizon_weeks} weeks from {answer['first_week']} "
                  f"({source}); objective {checked.objective}, risk {checked.risk}, bands at {checked.interval:.0%}")
    table = Table("market", "now", "start", "target", "ramp", f"net, {unit}", box=None)
    for row in answer["by_market"]:
        if row["start_week"] is not None:
            table.add_row(row["market"], f"{row['status_quo_share']:.2f}", row["start_week"], f"{row['target_share']:.2f}",
                          f"{row['ramp_weeks']} w", _band(row["net"]))
    console.print(table)
    kept = sum(row["start_week"] is None for row in answer["by_market"])
    console.print(f"{kept} market(s) keep their share")
    value = answer["value"]
    console.print(f"incremental {_band(value['incremental'])} {unit}; cost {_band(value['cost'])} M USD; "
                  f"net {_band(value['net'])} {unit}")
    table = Table("alternative", f"net, {unit}", f"regret, {unit}", "feasible", box=None)
    for alternative in answer["alternatives"]:
        table.add_row(alternative["name"], _band(alternative["net"], digits=1), _band(alternative["regret"], digits=1),
                      "yes" if alternative["feasible"] else "no")
    console.print(table)
    for alternative in answer["alternatives"]:
        if alternative["violates"]:
            console.print(f"{alternative['name']} breaks {', '.join(alternative['violates'])}")
    runner = answer["runner_up"]
    console.print(f"best on {answer['probability_best']:.0%} of the sample paths (against the feasible alternatives)")
    if runner is not None:
        def decision(d: dict | None) -> str:
            return "status quo" if d is None else f"{d['target_share']:.2f} from {d['start_week']}"
        changes = "; ".join(f"{c['market']} {decision(c['runner_up'])} instead of {decision(c['chosen'])}"
                            for c in runner["changes"])
        console.print(f"runner-up ({changes}): net {_band(runner['net'], digits=1)} {unit}, better on "
                      f"{runner['probability_better']:.0%} of the paths")
    solver = answer["solver"]
    gap = "n/a" if solver["gap"] is None else f"{solver['gap']:.2g}"
    console.print(f"{solver['name']}: {solver['status']}, gap {gap}, {solver['seconds']:.2f} s "
                  f"({solver['candidates']} candidates, {solver['paths']} paths); plan written to {out}")


@app.command()
def serve(
    port: int = typer.Option(3000, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (0.0.0.0 for every one)."),
) -> None:
    """Serve the champion model over HTTP (BentoML): /forecast, /forecast_batch, /attribution, /model."""
    import shutil
    bentoml = shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml")
    if bentoml is None:
        fail("the bentoml command is not installed in this environment")
    os.execv(bentoml, [bentoml, "serve", "serving.service:EngagementImpact", "--host", host, "--port", str(port)])


def main() -> None:
    """The `impact` command. On the way out the heap is frozen (`gc.freeze`): the interpreter's last
    collection would otherwise walk every object a training made (a second at the end of `impact
    train`), and nothing it could free matters once the process ends."""
    import gc
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
