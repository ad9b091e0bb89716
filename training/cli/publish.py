"""`impact publish`: a model version's forecasts, attribution and accuracy into the warehouse."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from training.cli.common import console, fail, number_list, store_errors
from training.warehouse import DEFAULT_HORIZON_WEEKS, DEFAULT_LEVELS

WAREHOUSE_OPTION = typer.Option(None, "--warehouse", help="SQLAlchemy URL of the warehouse (default: "
                                "IMPACT_WAREHOUSE_URL, else DuckDB in IMPACT_HOME/warehouse.duckdb).")
SCENARIOS_OPTION = typer.Option(None, "--scenarios", help="JSON or YAML file of named /forecast requests published "
                                "with the standard scenarios.")


def publish(
    version: str | None = typer.Option(None, "--version", help="The registered version to publish (default: the champion)."),
    warehouse: str | None = WAREHOUSE_OPTION,
    scenarios: Path | None = SCENARIOS_OPTION,
    horizon_weeks: int = typer.Option(DEFAULT_HORIZON_WEEKS, "--horizon-weeks", min=1, max=104,
                                      help="Weeks the standard scenarios forecast."),
    intervals: str = typer.Option(",".join(f"{level:g}" for level in DEFAULT_LEVELS), "--intervals",
                                  help="Interval levels published, comma-separated (each in 0.5..0.99), as "
                                       "/forecast's `interval`."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Publish a model version's forecasts, attribution and the accuracy of earlier vintages to the warehouse."""
    chosen = sorted(set(number_list(intervals, "--intervals") or []))
    if not chosen or not all(0.5 <= level <= 0.99 for level in chosen):
        fail(f"--intervals {intervals}: give one or more interval levels, each between 0.5 and 0.99")
    if scenarios is not None:
        check_scenario_file(scenarios)
    publish_version(version, warehouse, scenarios, quiet=quiet, horizon_weeks=horizon_weeks, levels=tuple(chosen))


def check_scenario_file(path: Path) -> None:
    from training.warehouse.scenarios import ScenarioFileError, load_scenario_file
    try:
        load_scenario_file(path)
    except ScenarioFileError as exc:
        fail(str(exc))


def publish_version(version: str | None, warehouse: str | None, scenarios: Path | None, quiet: bool,
                    horizon_weeks: int = DEFAULT_HORIZON_WEEKS, levels: tuple[float, ...] = DEFAULT_LEVELS,
                    failed: str = "nothing was published", model=None) -> None:
    """Publish `version` (default: the champion) from the registry, or `model` (the version's
    fitted model, when the caller has it), and print what was written; exit 1 with one line if the
    warehouse or the registry fails (2 for a bad URL or scenario file)."""
    import logging

    from tqdm import tqdm

    from training import registry, tracking
    from training.warehouse.publish import WarehouseError, connect, default_url
    from training.warehouse.publish import publish as write_warehouse
    from training.warehouse.scenarios import ScenarioFileError, read_scenarios
    logging.getLogger("mlflow").setLevel(logging.CRITICAL)
    url = warehouse or default_url()
    try:
        connect(url).dispose()      # a warehouse that is down fails here, before the model is loaded
    except WarehouseError as exc:
        fail(f"{exc}; {failed}", code=1 if exc.unreachable else 2)
    with store_errors(failed, refused=f"cannot publish version {version}"):
        tracking.configure()
        version = version or registry.champion_version()
        if version is None:
            fail("no champion to publish: train one with `impact train`, or name a version with --version")
        info = registry.version_info(version)
        model = model or registry.load_version(version)

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
        result = write_warehouse(url, model, info, custom, earlier=earlier, levels=levels,
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
