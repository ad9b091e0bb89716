"""`impact models` and `impact promote`: the registered versions, and moving the champion by hand."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from training.cli.common import console, fail, store_errors
from training.cli.publish import SCENARIOS_OPTION, WAREHOUSE_OPTION, publish_version


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

    from training import registry, tracking
    from training.model.persist import ModelFileError
    logging.getLogger("mlflow").setLevel(logging.CRITICAL)      # a failure is reported below, in one line
    tracking.configure()
    with store_errors("the champion was not changed", refused=f"cannot promote version {version}"):
        try:
            tag = registry.promote(version)
        except (OSError, BentoMLException) as exc:
            fail(f"cannot import version {version} into the BentoML store: {exc}; the champion alias was left "
                 "where it was", code=1)
        except ModelFileError as exc:
            fail(str(exc))
    console.print(f"champion is now version {version} (BentoML model {tag})")
    if not no_publish:
        publish_version(version, warehouse, scenarios, quiet=quiet,
                        failed=f"version {version} is champion, but was not published")
