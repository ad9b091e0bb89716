"""The model registry side: the promotion gate, the champion alias, the BentoML import.

Every successful run registers a version of `engagement-impact`. The gate gives it the alias
`champion` only if its backtest (mean 13-week MASE over apps, minutes and revenue) is not
worse than the current champion's on the same new data; the first model only has to beat
seasonal-naive. A promoted version is imported into the BentoML store as
`engagement-impact:<version>`, which is what the service serves.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from training.model.backtest import headline_mase
from training.model.estimator import ImpactModel
from training.model.persist import load_model, verify_model_files
from training.pyfunc_model import ARTIFACT
from training.tracking import CHAMPION, MODEL_NAME
from training.warehouse.publish import VersionInfo


@dataclass
class GateDecision:
    promote: bool
    reason: str
    new_mase: float
    naive_mase: float
    champion_version: str | None = None
    champion_mase: float | None = None
    step_backtest: str = ""        # what the rollout-step backtest says (reported, not a condition)

    def tags(self) -> dict[str, str]:
        tags = {"gate.promote": str(self.promote).lower(), "gate.reason": self.reason,
                "gate.new_mase": f"{self.new_mase:.6f}", "gate.seasonal_naive_mase": f"{self.naive_mase:.6f}"}
        if self.step_backtest:
            tags["gate.step_backtest"] = self.step_backtest
        if self.champion_version is not None:
            tags["gate.champion_version"] = self.champion_version
            tags["gate.champion_mase_on_new_data"] = f"{self.champion_mase:.6f}"
        return tags


def client():
    from mlflow import MlflowClient
    return MlflowClient()


def champion_version() -> str | None:
    from mlflow.exceptions import MlflowException
    try:
        return str(client().get_model_version_by_alias(MODEL_NAME, CHAMPION).version)
    except MlflowException:
        return None


def download_model(version: str, into: Path) -> Path:
    """The saved ImpactModel files of a registered version (checked against their manifest)."""
    import mlflow
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{MODEL_NAME}/{version}", dst_path=str(into)))
    model_dir = local / "artifacts" / ARTIFACT
    verify_model_files(model_dir)
    return model_dir


def gate(model: ImpactModel, panel: pd.DataFrame) -> GateDecision:
    """Decide whether the newly fitted `model` may become champion. The rollout-step backtest
    (`model.step_backtest_`, when the pipeline ran it) is reported with the decision, not a
    condition of it: its few steps are each mostly the baseline's forecast error."""
    steps = step_backtest_line(getattr(model, "step_backtest_", None))
    new, naive = model.headline_mase()
    current = champion_version()
    champion_mase = None
    if current is None:
        ok = new < naive
        reason = (f"first model: backtest MASE {new:.3f} {'beats' if ok else 'does not beat'} "
                  f"seasonal-naive {naive:.3f}")
    else:
        champion_mase, _ = headline_mase(load_version(current).backtest_on(panel))
        ok = new <= champion_mase
        reason = (f"backtest MASE {new:.3f} {'is not worse than' if ok else 'is worse than'} "
                  f"champion v{current}'s {champion_mase:.3f} on the same data")
    return GateDecision(ok, "; ".join(filter(None, (reason, steps))), new, naive, current, champion_mase, steps)


def step_backtest_line(values: dict | None) -> str:
    """One line on the rollout-step backtest: steps held out and how many the band held."""
    if not values:
        return ""
    rows = [r for r in values["steps"] if r["quantity"] == "minutes"]
    if not rows:
        return f"rollout steps: none in the last {values['weeks']} weeks"
    held = sum(r["covered"] for r in rows)
    return (f"rollout steps: {held} of {len(rows)} held out in the last {values['weeks']} weeks inside their "
            f"{values['level']:.0%} band (minutes)")


def import_to_bentoml(model_dir: Path, version: str, run_id: str) -> str:
    """Copy the model files into the BentoML store as engagement-impact:<version>; returns the tag.

    The service serves the newest engagement-impact in the store, so a version promoted again
    (a rollback) is imported afresh to become the newest.
    """
    import bentoml
    from bentoml.exceptions import NotFound
    tag = f"{MODEL_NAME}:{version}"
    verify_model_files(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "model"
        shutil.copytree(model_dir, source)
        try:
            bentoml.models.delete(tag)
        except NotFound:
            pass
        with bentoml.models.create(tag, labels={"mlflow_version": str(version), "run_id": run_id},
                                   metadata={"format": "engagement-impact JSON+NPZ"}) as stored:
            for item in source.iterdir():
                shutil.copy2(item, Path(stored.path) / item.name)
    verify_model_files(bentoml.models.get(tag).path)
    return tag


def promote(version: str, run_id: str | None = None, model_dir: Path | None = None) -> str:
    """Move the champion alias to `version`, then import it into the BentoML store.

    The alias moves first, so a failure to move it leaves the store as it was; if the import
    fails after the move, the alias goes back to the previous champion (or is removed if
    there was none), so the store's newest model and the registry's champion still agree.
    """
    version = str(version)
    registered = client().get_model_version(MODEL_NAME, version)
    previous = champion_version()
    with tempfile.TemporaryDirectory() as tmp:
        source = model_dir or download_model(version, Path(tmp))
        client().set_registered_model_alias(MODEL_NAME, CHAMPION, version)
        try:
            return import_to_bentoml(source, version, run_id or registered.run_id)
        except BaseException:
            if previous is None:
                client().delete_registered_model_alias(MODEL_NAME, CHAMPION)
            else:
                client().set_registered_model_alias(MODEL_NAME, CHAMPION, previous)
            raise


def load_version(version: str) -> ImpactModel:
    """A registered version's fitted model (its files checked against their manifest)."""
    with tempfile.TemporaryDirectory() as tmp:
        return load_model(download_model(version, Path(tmp)))


def version_info(version: str) -> VersionInfo:
    """What the warehouse records of a registered version: run, time, gate figures, the champion."""
    c = client()
    registered = c.get_model_version(MODEL_NAME, str(version))
    run = c.get_run(registered.run_id)
    metrics = run.data.metrics
    return VersionInfo(version=str(version), run_id=registered.run_id,
                       trained_at=pd.Timestamp(registered.creation_timestamp, unit="ms").to_pydatetime(),
                       champion_version=champion_version(),
                       backtest_mase_13w=metrics.get("backtest_mase_13w"),
                       seasonal_naive_mase_13w=metrics.get("seasonal_naive_mase_13w"),
                       gate_reason=run.data.tags.get("gate.reason"))


def versions() -> list[dict]:
    """Every registered version with its run's headline metrics, newest first."""
    from mlflow.exceptions import MlflowException
    c = client()
    try:
        found = c.search_model_versions(f"name='{MODEL_NAME}'")
    except MlflowException:
        return []
    current = champion_version()
    rows = []
    for v in sorted(found, key=lambda v: int(v.version), reverse=True):
        run = c.get_run(v.run_id)
        rows.append({"version": str(v.version), "champion": str(v.version) == current, "run_id": v.run_id,
                     "created": pd.Timestamp(v.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                     "mase_13w": run.data.metrics.get("backtest_mase_13w"),
                     "gate": run.data.tags.get("gate.reason", "")})
    return rows
