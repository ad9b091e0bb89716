"""Publishing a model version to the warehouse: one transaction that replaces the version's rows.

Inside the transaction: the schema is migrated, the version's old rows are deleted (its
forecasts, scenarios, attribution, the accuracy rows it scored as the newer panel, its
model_versions row), and the new ones are streamed in: computed one batch at a time (a scenario
at one level, an app's attribution, an earlier vintage's app) and written in inserts of up to
ROWS_PER_WRITE rows, so no table is ever held in memory whole.
A failure anywhere (the database gone, the disk full, the process killed) rolls all of it back:
the tables stay as they were. Other vintages' rows are never touched, except that the champion
flag of `model_versions` follows the registry.

Rows reach the database by the fastest path of each engine: DuckDB inserts from a registered
DataFrame, PostgreSQL through COPY, anything else through SQLAlchemy's executemany.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from training.answers import forecasts
from training.model.estimator import ImpactModel
from training.warehouse import ATTRIBUTION_LEVEL, DEFAULT_HORIZON_WEEKS, DEFAULT_LEVELS
from training.warehouse.accuracy import accuracy_rows
from training.warehouse.rows import attribution_rows, forecast_rows
from training.warehouse.scenarios import Scenario, standard_scenarios
from training.warehouse.tables import (ATTRIBUTION, FORECAST_ACCURACY, FORECAST_ROWS, MODEL_VERSIONS, SCENARIOS,
                                       migrate)

CONNECT_TIMEOUT_SECONDS = 10
ROWS_PER_WRITE = 50_000      # rows gathered before one insert (a few MB: bounded memory, few round trips)


class WarehouseError(RuntimeError):
    """The warehouse cannot be used: `unreachable` says whether it is down (exit 1) or the URL
    is wrong (exit 2)."""

    def __init__(self, message: str, unreachable: bool = True):
        super().__init__(message)
        self.unreachable = unreachable


@dataclass
class VersionInfo:
    """What the registry knows of a version, for its `model_versions` row."""

    version: str
    run_id: str
    trained_at: dt.datetime
    champion_version: str | None          # the registry's champion when publishing
    backtest_mase_13w: float | None = None
    seasonal_naive_mase_13w: float | None = None
    gate_reason: str | None = None


@dataclass
class Published:
    """What a publish wrote: rows per table, the vintages it scored, what it skipped or migrated."""

    version: str
    url: str
    rows: dict[str, int] = field(default_factory=dict)
    vintages_scored: dict[str, dict] = field(default_factory=dict)   # vintage -> weeks, market MASE, coverage
    skipped: list[str] = field(default_factory=list)
    migrated: list[str] = field(default_factory=list)
    seconds: float = 0.0            # the whole publish: computing the rows and writing them
    write_seconds: float = 0.0      # of which in the database (inserts, deletes, commit)


Progress = Callable[[str, int, int], None]     # (what, batches done, batches in all)


def default_url() -> str:
    """IMPACT_WAREHOUSE_URL, or the embedded DuckDB file under IMPACT_HOME."""
    from training.tracking import impact_home
    return os.environ.get("IMPACT_WAREHOUSE_URL") or f"duckdb:///{impact_home() / 'warehouse.duckdb'}"


def connect(url: str) -> sa.Engine:
    """An engine whose database answered; WarehouseError (one line) otherwise."""
    try:
        parsed = sa.engine.make_url(url)
        args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if parsed.get_backend_name() == "postgresql" else {}
        if parsed.get_backend_name() == "duckdb" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args=args)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise WarehouseError(f"warehouse URL {url!r}: {exc}", unreachable=False) from None
    except OSError as exc:
        raise WarehouseError(f"warehouse {url}: cannot create its folder: {exc.strerror or exc}") from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.DBAPIError as exc:
        engine.dispose()
        raise WarehouseError(f"warehouse {safe_url(engine)} is unavailable: {_first_line(exc)}") from None
    return engine


def safe_url(engine: sa.Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def publish(url: str, model: ImpactModel, info: VersionInfo, custom: list[Scenario] = (),
            earlier: Callable[[str], ImpactModel | None] = lambda version: None,
            levels: tuple[float, ...] = DEFAULT_LEVELS, horizon_weeks: int = DEFAULT_HORIZON_WEEKS,
            progress: Progress | None = None) -> Published:
    """Publish `model` as version `info.version`: its model_versions row, its scenarios
    (standard and `custom`) at every level, its attribution, and the accuracy of every earlier
    vintage in the warehouse against this model's training panel (`earlier(version)` loads a
    vintage's model; None skips it). One transaction; see the module docstring."""
    started = time.perf_counter()
    engine = connect(url)
    done = Published(info.version, safe_url(engine))
    scenarios = standard_scenarios(model, horizon_weeks) + list(custom)
    try:
        with engine.begin() as conn:
            done.migrated = migrate(conn)
            vintages = _earlier_vintages(conn, info.version, _last_week(model))
            batches = _batches(model, info, scenarios, vintages, earlier, levels, horizon_weeks, done)
            total = 2 + len(scenarios) * len(levels) + len(model.apps) \
                + len(vintages) * len(model.apps)
            clock = time.perf_counter()
            _delete_version(conn, info.version)
            done.write_seconds += time.perf_counter() - clock
            writer = _Writer(conn, done)
            for n, (table, frame) in enumerate(batches, start=1):
                writer.add(table, frame)
                if progress:
                    progress(table.name, n, total)
            writer.flush()
            clock = time.perf_counter()
            conn.execute(MODEL_VERSIONS.update().values(
                is_champion=sa.case((MODEL_VERSIONS.c.version == (info.champion_version or ""), True), else_=False)))
        done.write_seconds += time.perf_counter() - clock      # the commit included
    except sa.exc.DBAPIError as exc:
        raise WarehouseError(f"warehouse {done.url}: publishing version {info.version} failed, nothing was "
                             f"changed: {_first_line(exc)}") from None
    finally:
        engine.dispose()
    done.seconds = time.perf_counter() - started
    return done


class _Writer:
    """Batches of one table gathered up to ROWS_PER_WRITE rows, then written in one insert."""

    def __init__(self, conn: sa.Connection, done: Published):
        self.conn, self.done = conn, done
        self.table: sa.Table | None = None
        self.frames: list[pd.DataFrame] = []
        self.pending = 0        # rows in `frames`

    def add(self, table: sa.Table, frame: pd.DataFrame | None) -> None:
        if table is not self.table or self.pending >= ROWS_PER_WRITE:
            self.flush()
            self.table = table
        if frame is not None and len(frame):
            self.frames.append(frame)
            self.pending += len(frame)

    def flush(self) -> None:
        if not self.frames:
            return
        clock = time.perf_counter()
        frame = pd.concat(self.frames, ignore_index=True)
        write(self.conn, self.table, frame)
        self.done.write_seconds += time.perf_counter() - clock
        self.done.rows[self.table.name] = self.done.rows.get(self.table.name, 0) + len(frame)
        self.frames, self.pending = [], 0


def _batches(model: ImpactModel, info: VersionInfo, scenarios: list[Scenario], vintages: list[Vintage],
             earlier: Callable[[str], ImpactModel | None], levels: tuple[float, ...], horizon_weeks: int,
             done: Published) -> Iterator[tuple[sa.Table, pd.DataFrame | None]]:
    """Every batch of the version's rows, in order, computed as it is written."""
    yield MODEL_VERSIONS, pd.DataFrame([version_row(model, info, levels, horizon_weeks)])
    stored = [stored_markets(s, horizon_weeks) for s in scenarios]
    yield SCENARIOS, pd.DataFrame([{"model_version": info.version, "scenario_id": s.scenario_id,
                                    "app": s.request.app, "kind": s.kind, "name": s.name,
                                    "description": s.description, "definition": s.definition,
                                    "stored_markets": kept, "horizon_weeks": s.request.horizon_weeks}
                                   for s, kept in zip(scenarios, stored)])
    status_quo = {app: model.status_quo(app, horizon_weeks) for app in model.apps}
    for level in levels:
        requests = [s.request.model_copy(update={"interval": level}) for s in scenarios]
        for scenario, kept, result in zip(scenarios, stored, forecasts(model, requests)):
            moved = None
            if kept == "moved":
                shares = result.per_market["rollout_share"]
                moved = (shares != status_quo[result.app][:, :shares.shape[1]]).any(axis=1)
            yield FORECAST_ROWS, forecast_rows(result, info.version, scenario.scenario_id, moved)
    for app in model.apps:
        yield ATTRIBUTION, attribution_rows(model, info.version, app, ATTRIBUTION_LEVEL)
    for vintage in vintages:
        old = earlier(vintage.version)
        if old is None:
            done.skipped.append(f"vintage {vintage.version}: its model could not be loaded from the registry; "
                                "its accuracy was not scored")
            for _ in model.apps:            # its batches, empty: the progress bar still ends at its total
                yield FORECAST_ACCURACY, None
            continue
        scored = []
        for app in model.apps:
            rows = accuracy_rows(old, vintage.version, model, info.version, app, vintage.levels, vintage.horizon_weeks)
            scored.append(rows)
            yield FORECAST_ACCURACY, rows
        done.vintages_scored[vintage.version] = headline_accuracy(scored)


def stored_markets(scenario: Scenario, horizon_weeks: int) -> str:
    """`moved` for a scenario over every forecastable market within the status quo's horizon
    (its other markets' rows are the status quo's, put back by the view `forecasts`), else `all`."""
    covered = not scenario.request.markets and scenario.request.horizon_weeks <= horizon_weeks
    return "moved" if scenario.kind != "status_quo" and covered else "all"


def headline_accuracy(frames: list[pd.DataFrame | None]) -> dict:
    """A vintage in one line: weeks scored, and over its market rows the MASE and the coverage of
    its widest published band."""
    rows = pd.concat([f for f in frames if f is not None], ignore_index=True)
    if rows.empty:
        return {"weeks": 0}
    markets = rows[(rows["market"] != "ALL") & (rows["level"] == rows["level"].max())]
    return {"weeks": int(rows["horizon"].max()), "level": float(markets["level"].iloc[0]),
            "mase": float(markets["scaled_abs_error"].mean()), "coverage": float(markets["covered"].mean())}


def version_row(model: ImpactModel, info: VersionInfo, levels: tuple[float, ...], horizon_weeks: int) -> dict:
    windows = [model.training_window(app) for app in model.apps]
    return {"version": info.version, "run_id": info.run_id, "trained_at": info.trained_at,
            "data_first_week": dt.date.fromisoformat(min(w["first_week"] for w in windows)),
            "data_last_week": _last_week(model), "apps": ",".join(model.apps),
            "markets": len({m for app in model.apps for m in model.markets(app)}),
            "backtest_mase_13w": info.backtest_mase_13w, "seasonal_naive_mase_13w": info.seasonal_naive_mase_13w,
            "gate_reason": info.gate_reason, "is_champion": info.version == info.champion_version,
            "horizon_weeks": horizon_weeks, "levels": ",".join(f"{level:g}" for level in levels),
            "published_at": dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)}


def _last_week(model: ImpactModel) -> dt.date:
    return dt.date.fromisoformat(max(model.training_window(app)["last_week"] for app in model.apps))


@dataclass(frozen=True)
class Vintage:
    """An earlier published version: what it was published with is what it is scored at."""

    version: str
    levels: tuple[float, ...]
    horizon_weeks: int


def _earlier_vintages(conn: sa.Connection, version: str, last_week: dt.date) -> list[Vintage]:
    """Versions in the warehouse trained on data that ends before this version's."""
    rows = conn.execute(sa.select(MODEL_VERSIONS.c.version, MODEL_VERSIONS.c.levels, MODEL_VERSIONS.c.horizon_weeks)
                        .where(MODEL_VERSIONS.c.data_last_week < last_week, MODEL_VERSIONS.c.version != version)
                        .order_by(MODEL_VERSIONS.c.data_last_week))
    return [Vintage(v, tuple(float(x) for x in levels.split(",")), int(h)) for v, levels, h in rows]


def _delete_version(conn: sa.Connection, version: str) -> None:
    for table in (FORECAST_ROWS, SCENARIOS, ATTRIBUTION, MODEL_VERSIONS):
        column = table.c.version if table is MODEL_VERSIONS else table.c.model_version
        conn.execute(table.delete().where(column == version))
    conn.execute(FORECAST_ACCURACY.delete().where(FORECAST_ACCURACY.c.actuals_version == version))


def write(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Insert a batch by the engine's bulk path (see the module docstring)."""
    columns = [c.name for c in table.columns]
    frame = frame[columns]
    dialect = conn.dialect.name
    if dialect == "duckdb":
        raw = conn.connection.driver_connection
        raw.register("_impact_batch", frame)
        try:
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM _impact_batch")
        finally:
            raw.unregister("_impact_batch")
    elif dialect == "postgresql":
        with conn.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in zip(*(_python_values(frame[c]) for c in columns)):
                    copy.write_row(row)
    else:
        conn.execute(table.insert(), frame.to_dict("records"))


def _python_values(column: pd.Series) -> list:
    """A column as Python values (None for missing), what a driver adapts."""
    if column.hasnans:
        column = column.astype(object).where(column.notna(), None)
    return column.tolist()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
