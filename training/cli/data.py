"""`impact simulate` and `impact validate`: worlds with a known truth, and panels against the contract."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import typer
from rich.table import Table

from data import PanelError, WorldSpec, inspect_panel, simulate_world
from data.markets import MARKETS, world_markets
from data.simulator import CROSS, DESIGNS, RESPONSES, response_effects, simulate_experiments
from training.cli.common import DEFAULT_DATA_DIR, console, fail


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
    cross: str = typer.Option("none", "--cross",
                              help=f"How the apps move each other's time: {', '.join(CROSS)} (see data/simulator.py)."),
    experiments: int = typer.Option(0, "--experiments", min=0, metavar="N",
                                    help="Also write experiments.csv: N lift tests the world ran (a market's test "
                                         "arm at share 1 against its own share, 6-12 weeks in its last 60), "
                                         "measured with the noise they report; their truth goes in truth.json."),
) -> None:
    """Write a simulated panel whose true rollout effects are known (truth.json)."""
    try:
        spec = WorldSpec(design=design)
    except ValueError as exc:
        fail(f"--design {design}: {exc}")
    try:
        spec = replace(spec, cross=cross)
    except ValueError as exc:
        fail(f"--cross {cross}: {exc}")
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
        if experiments:
            tests, world.truth["experiments"] = simulate_experiments(world, spec, experiments, seed)
        paths = world.write(out)
        if experiments:
            tests.assign(first_week=tests["first_week"].dt.date, last_week=tests["last_week"].dt.date).to_csv(
                out / "experiments.csv", index=False)
            paths["experiments"] = out / "experiments.csv"
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    panel = world.panel
    console.print(f"[bold]simulated world[/bold] seed={seed}{' (null: no effect)' if null else ''}, design {design}, response {response}, "
                  f"cross {cross}: "
                  f"{len(panel):,} rows, {panel['app'].nunique()} apps x {panel['market'].nunique()} markets, "
                  f"{panel['week'].min():%Y-%m-%d} .. {panel['week'].max():%Y-%m-%d}")
    table = Table("app", "true incremental minutes", "true incremental ad revenue (USD)", box=None)
    if cross != "none":
        table.add_column("of which the other apps moved (minutes)")
    moved = world.truth["cross"]["incremental"]
    for name, inc in world.truth["incremental"].items():
        table.add_row(name, f"{inc['minutes']:,.0f}", f"{inc['ad_revenue_usd']:,.0f}",
                      *([f"{moved[name]['cross_minutes']:,.0f}"] if cross != "none" else []))
    console.print(table)
    for kind, path in paths.items():
        console.print(f"  {kind:8s} {path}")


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
