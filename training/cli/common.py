"""What every command shares: the console, one-line failures, and one translation of store errors."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

console = Console(soft_wrap=True)
DEFAULT_DATA_DIR = Path("data/generated")
DEFAULT_PANEL = DEFAULT_DATA_DIR / "panel.parquet"
USER_ERRORS = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")   # MLflow error codes a user's input causes
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


@contextmanager
def store_errors(consequence: str, refused: str | None = None, before=None):
    """The tracking store's failures as one line: exit 2 with `refused: <MLflow's reason>` when the
    user's input caused it (no such version; `refused` given), else exit 1 naming the store and
    `consequence` (what was left undone); `before()` runs first (a progress bar to stop). Anything
    else passes through."""
    from mlflow.exceptions import MlflowException

    from training import tracking
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        problem = tracking_failure(exc)
        if problem is None:
            raise
        if before is not None:
            before()
        if refused is not None and isinstance(exc, MlflowException) and exc.error_code in USER_ERRORS:
            fail(f"{refused}: {exc.message.splitlines()[0]}")
        fail(f"tracking store {tracking.tracking_uri()} failed: {problem}; {consequence}", code=1)


def number_list(text: str | None, name: str, kind=float) -> list | None:
    """"0.5,1" -> [0.5, 1.0]; exit 2 naming the option `name` when it is not such a list."""
    if text is None:
        return None
    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        fail(f"{name}: '{text}' is not a comma-separated list of numbers")


def write_json(path: Path, value: dict) -> None:
    """Write all of it or nothing (a temporary file renamed into place)."""
    import json
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)
