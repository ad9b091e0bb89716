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
    else passes through. MLflow is imported only on a failure (a command's work may load it later)."""
    from training import tracking
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        from mlflow.exceptions import MlflowException
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


def read_body(path: Path, option: str, endpoint: str) -> dict:
    """The JSON object in the file `path` given as `option` (an `endpoint` body), or exit 2."""
    import json
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{option}: cannot read {path} as JSON: {exc}")
    if not isinstance(body, dict):
        fail(f"{option}: {path} must hold a JSON object (the {endpoint} body)")
    return body


def market_list(text: str | None) -> list[str] | None:
    """"BR, IN" -> ["BR", "IN"] (None stays None)."""
    return None if text is None else [m.strip() for m in text.split(",") if m.strip()]


def answer_with_model(kind, body: dict, model_dir: Path | None, compute):
    """`body` checked as a `kind` request, then `compute(model, request)` with the served model (or the
    folder `model_dir`): (request, answer, where the model came from); exit 2 with the request's one
    line when either refuses it."""
    from training.requests import RequestError, parse
    try:
        checked = parse(kind, body)
    except RequestError as exc:
        fail(str(exc))
    model, source = load_served_model(model_dir)
    try:
        return checked, compute(model, checked), source
    except RequestError as exc:
        fail(str(exc))


def load_served_model(model_dir: Path | None):
    """The model to answer with: a saved model folder, or the registry's champion."""
    import logging

    from training.model.persist import ModelFileError, load_model
    try:
        if model_dir is not None:
            return load_model(model_dir), str(model_dir)
        from training import registry, tracking
        logging.getLogger("mlflow").setLevel(logging.WARNING)     # a failure is reported in one line
        with store_errors("nothing was answered"):
            tracking.configure()
            version = registry.champion_version()
            if version is None:
                fail("no champion model: train one with `impact train` (or pass --model DIR)")
            return registry.load_version(version), f"champion version {version}"
    except ModelFileError as exc:
        fail(str(exc))


def band(value: dict, scale: float = 1e6, digits: int = 2) -> str:
    """{mean, lo, hi} in millions: "mean [lo, hi]"."""
    return f"{value['mean'] / scale:,.{digits}f} [{value['lo'] / scale:,.{digits}f}, {value['hi'] / scale:,.{digits}f}]"
