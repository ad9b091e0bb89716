"""Where runs and models go: MLflow (tracking + registry) and the BentoML model store.

MLflow: `MLFLOW_TRACKING_URI` when set (e.g. an `mlflow server`); otherwise an embedded SQLite
database in `.impact/mlflow.db`. Artifacts go to `.impact/mlartifacts` (`IMPACT_HOME` moves
the folder) unless the tracking URI is a server, which has its own artifact root: a database
URI of any kind never leaves them in the `mlruns/` of whatever folder a command runs in.
BentoML: its own store, `BENTOML_HOME` honoured.
"""

from __future__ import annotations

import os
from pathlib import Path

MODEL_NAME = "engagement-impact"
CHAMPION = "champion"
DEFAULT_EXPERIMENT = "engagement-impact"


def impact_home() -> Path:
    """The folder for local state (`.impact/` in the working directory unless IMPACT_HOME is set)."""
    return Path(os.environ.get("IMPACT_HOME", ".impact")).resolve()


def embedded_uri() -> str:
    return f"sqlite:///{impact_home() / 'mlflow.db'}"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or embedded_uri()


def embedded() -> bool:
    """True for the embedded SQLite store (MLflow may export the URI it was given to the environment)."""
    return tracking_uri() == embedded_uri()


def configure() -> str:
    """Point MLflow at the tracking store (creating the embedded one's folder) and return its URI."""
    import mlflow
    uri = tracking_uri()
    if embedded():
        impact_home().mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


SERVER_SCHEMES = ("http", "https", "databricks")


def is_server(uri: str) -> bool:
    """True for a tracking server (which decides where artifacts go), False for a database or folder."""
    return uri.split(":", 1)[0].lower() in SERVER_SCHEMES


def experiment_id(name: str) -> str:
    """The experiment's id, created if needed; unless the tracking URI is a server, with an
    explicit, absolute artifact location under IMPACT_HOME."""
    import mlflow
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None if is_server(tracking_uri()) else (impact_home() / "mlartifacts").as_uri()
    if location is not None:
        impact_home().mkdir(parents=True, exist_ok=True)
    return mlflow.create_experiment(name, artifact_location=location)


def ui_command() -> str:
    """How a person looks at the runs."""
    if embedded():
        return f"mlflow ui --backend-store-uri {tracking_uri()} --port 5000"
    return f"open {tracking_uri()}"
