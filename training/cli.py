"""`impact`: the command line of engagement-impact.

User errors (a panel that breaks the contract, a bad option) end in one line on stderr and
exit code 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from data import PanelError, inspect_panel, simulate_world

app = typer.Typer(
    name="impact",
    help="Forecast how AI-feature rollouts move time spent and ad revenue.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
DEFAULT_DATA_DIR = Path("data/generated")


def fail(message: str) -> None:
    """Print one line on stderr and exit 2 (the exit code for bad input)."""
    print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
    raise typer.Exit(code=2)


@app.command()
def simulate(
    out: Path = typer.Option(DEFAULT_DATA_DIR, "--out", help="Folder for panel.parquet, panel.csv, truth.json."),
    seed: int = typer.Option(0, "--seed", min=0, help="Random seed; the same seed gives the same world."),
    null: bool = typer.Option(False, "--null", help="The same world with no rollout effect (for placebo tests)."),
) -> None:
    """Write a simulated panel whose true rollout effects are known (truth.json)."""
    try:
        world = simulate_world(seed=seed, null=null)
        paths = world.write(out)
    except OSError as exc:
        fail(f"cannot write to {out}: {exc.strerror or exc}")
    panel = world.panel
    console.print(f"[bold]simulated world[/bold] seed={seed}{' (null: no effect)' if null else ''}: "
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
    console.print(f"[green]ok[/green] {path}: {len(panel):,} rows, {len(report.results)} rules passed; "
                  f"apps {', '.join(sorted(panel['app'].unique()))}; "
                  f"{panel['market'].nunique()} markets; "
                  f"weeks {panel['week'].min():%Y-%m-%d} .. {panel['week'].max():%Y-%m-%d}")


def main() -> None:  # pragma: no cover - the console script entry point is `app`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
