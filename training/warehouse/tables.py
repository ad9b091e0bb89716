"""The warehouse's tables and views, and the migration that creates or extends them.

Long format throughout (one row per week, market and quantity), the way dashboard tools read
forecasts. Every table holds a `model_version` column: each vintage's rows stay, and a publish
replaces only its own. Columns are SQL standard types, so the same definitions serve DuckDB and
PostgreSQL; SQLAlchemy compiles them for either.

Rows grow linearly with the markets: a scenario whose `stored_markets` is `moved` stores only the
markets its plan moves and `ALL` in `forecast_rows`; every other market's rows under it are the
status quo's, and the view `forecasts` puts them back, so a dashboard reads every market under any
scenario from `forecasts` with no arithmetic of its own.
"""

from __future__ import annotations

import sqlalchemy as sa

METADATA = sa.MetaData()


def _text(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.Text, nullable=kw.pop("nullable", False), **kw)


def _number(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Double, nullable=nullable)


def _band(prefix: str) -> list[sa.Column]:
    """A value with its interval: `prefix`, `prefix_lo`, `prefix_hi`."""
    return [_number(prefix), _number(f"{prefix}_lo"), _number(f"{prefix}_hi")]


MODEL_VERSIONS = sa.Table(
    "model_versions", METADATA,
    _text("version", primary_key=True),
    _text("run_id"),
    sa.Column("trained_at", sa.DateTime, nullable=False),
    sa.Column("data_first_week", sa.Date, nullable=False),
    sa.Column("data_last_week", sa.Date, nullable=False),
    _text("apps"),
    sa.Column("markets", sa.Integer, nullable=False),
    _number("backtest_mase_13w", nullable=True),
    _number("seasonal_naive_mase_13w", nullable=True),
    _text("gate_reason", nullable=True),
    sa.Column("is_champion", sa.Boolean, nullable=False),
    sa.Column("horizon_weeks", sa.Integer, nullable=False),
    _text("levels"),
    sa.Column("published_at", sa.DateTime, nullable=False),
)

SCENARIOS = sa.Table(
    "scenarios", METADATA,
    _text("model_version", primary_key=True),
    _text("scenario_id", primary_key=True),
    _text("app"),
    _text("kind"),              # status_quo, full_now, market_full_now, or custom
    _text("name"),
    _text("description"),
    _text("definition"),        # the /forecast request, JSON
    _text("stored_markets", nullable=True),   # all, or moved: forecast_rows holds the moved markets and ALL
    sa.Column("horizon_weeks", sa.Integer, nullable=True),
)

FORECAST_ROWS = sa.Table(
    "forecast_rows", METADATA,
    _text("model_version"),
    _text("scenario_id"),
    _text("app"),
    _text("market"),          # a country code, or ALL for the scenario's markets together
    sa.Column("week", sa.Date),
    _text("quantity"),        # time_spent_min, dau, minutes, ad_revenue_usd
    _number("level", nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),        # the last trained week
    sa.Column("horizon", sa.Integer, nullable=False),   # weeks after as_of
    _number("rollout_share"),
    _number("status_quo"),      # point forecast under the status quo
    _number("scenario"),        # point forecast under the scenario's plan
    _number("lo"),              # the scenario value's central `level` interval
    _number("hi"),
    sa.PrimaryKeyConstraint("model_version", "scenario_id", "market", "week", "quantity", "level"),
)

ATTRIBUTION = sa.Table(
    "attribution", METADATA,
    _text("model_version", primary_key=True),
    _text("app", primary_key=True),
    _text("market", primary_key=True),          # or ALL
    sa.Column("week", sa.Date, primary_key=True),
    _number("level"),
    _number("observed_minutes"),
    *_band("incremental_minutes"),
    _number("observed_ad_revenue_usd"),
    *_band("incremental_ad_revenue_usd"),
    *_band("ad_revenue_usd_via_engagement"),
    *_band("ad_revenue_usd_direct"),
)

FORECAST_ACCURACY = sa.Table(
    "forecast_accuracy", METADATA,
    _text("model_version"),   # the vintage that forecast
    _text("actuals_version"),  # the version whose training panel holds the actuals
    _text("app"),
    _text("market"),
    sa.Column("week", sa.Date),
    _text("quantity"),
    _number("level", nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("actuals_as_of", sa.Date, nullable=False),
    sa.Column("horizon", sa.Integer, nullable=False),
    _text("plan"),              # status_quo (the rollout held) or realised_plan
    _number("forecast"),
    _number("lo"),
    _number("hi"),
    _number("actual"),
    _number("error"),           # actual - forecast
    _number("scaled_abs_error"),    # |error| / the series' in-sample seasonal-naive MAE (its MASE term)
    sa.Column("covered", sa.Boolean, nullable=False),
    sa.PrimaryKeyConstraint("model_version", "actuals_version", "app", "market", "week", "quantity", "level"),
)

FORECAST_COLUMNS = ("model_version", "scenario_id", "app", "market", "week", "quantity", "level", "as_of", "horizon",
                    "rollout_share", "status_quo", "scenario", "lo", "hi")
VIEWS = {        # in the order they are created (a view may read the ones before it)
    "forecasts": f"""
        SELECT {", ".join(FORECAST_COLUMNS)} FROM forecast_rows
        UNION ALL
        SELECT s.model_version, s.scenario_id, {", ".join(f"q.{c}" for c in FORECAST_COLUMNS[2:])}
        FROM scenarios s
        JOIN forecast_rows q ON q.model_version = s.model_version AND q.scenario_id = s.app || '.status_quo'
             AND q.market <> 'ALL' AND q.horizon <= s.horizon_weeks
        WHERE s.stored_markets = 'moved' AND NOT EXISTS (
            SELECT 1 FROM forecast_rows r
            WHERE r.model_version = s.model_version AND r.scenario_id = s.scenario_id AND r.market = q.market)""",
    "forecasts_latest": """
        SELECT f.* FROM forecasts f
        JOIN model_versions v ON v.version = f.model_version
        WHERE v.is_champion""",
    "forecast_accuracy_by_horizon": """
        WITH latest AS (
            SELECT a.*, ROW_NUMBER() OVER (
                PARTITION BY model_version, app, market, week, quantity, level
                ORDER BY actuals_as_of DESC, actuals_version DESC) AS newest
            FROM forecast_accuracy a)
        SELECT app, quantity, horizon, level,
               CASE WHEN market = 'ALL' THEN 'ALL' ELSE 'markets' END AS series,
               COUNT(*) AS n,
               COUNT(DISTINCT model_version) AS vintages,
               AVG(scaled_abs_error) AS mase,
               AVG(CASE WHEN covered THEN 1.0 ELSE 0.0 END) AS coverage
        FROM latest WHERE newest = 1
        GROUP BY app, quantity, horizon, level, CASE WHEN market = 'ALL' THEN 'ALL' ELSE 'markets' END""",
}


def existing_columns(conn: sa.Connection, table: str) -> list[str]:
    """The table's columns as the database has them (information_schema: DuckDB's SQLAlchemy
    driver cannot reflect through SQLAlchemy 2.1's inspector)."""
    rows = conn.execute(sa.text("SELECT column_name FROM information_schema.columns "
                                "WHERE table_name = :table AND table_schema = current_schema() "
                                "ORDER BY ordinal_position"), {"table": table})
    return [r[0] for r in rows]


def table_type(conn: sa.Connection, name: str) -> str | None:
    """BASE TABLE, VIEW, or None when there is no such relation."""
    return conn.execute(sa.text("SELECT table_type FROM information_schema.tables "
                                "WHERE table_name = :name AND table_schema = current_schema()"),
                        {"name": name}).scalar()


RENAMED_COLUMNS = {"forecast_rows": {"baseline": "status_quo", "planned": "scenario"}}
"""Columns renamed since an earlier release (the README's "Changes"): table -> old -> new."""


def migrate(conn: sa.Connection) -> list[str]:
    """Create what is missing: tables, columns a newer release added (nullable, so old rows
    stay valid), columns it renamed (`RENAMED_COLUMNS`), and the views (rebuilt every time). A warehouse from before `forecast_rows`
    (every market's rows in a table `forecasts`) is converted: the table is renamed, and the rows
    its standard full-rollout scenarios share with the status quo are deleted (`compact`). Runs
    inside the caller's transaction, so a failed publish leaves no half-migrated schema. Returns
    what it changed."""
    changes = []
    for name in reversed(VIEWS):
        if table_type(conn, name) == "VIEW":
            conn.exec_driver_sql(f"DROP VIEW {name}")
    if table_type(conn, "forecasts") == "BASE TABLE" and table_type(conn, "forecast_rows") is None:
        conn.exec_driver_sql("ALTER TABLE forecasts RENAME TO forecast_rows")
        changes.append("renamed forecasts to forecast_rows")
    for table, renames in RENAMED_COLUMNS.items():
        have = existing_columns(conn, table)
        for old, new in renames.items():
            if old in have and new not in have:
                conn.exec_driver_sql(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}")
                changes.append(f"renamed {table}.{old} to {new}")
    for table in METADATA.sorted_tables:
        have = existing_columns(conn, table.name)
        if not have:
            table.create(conn)
            changes.append(f"created {table.name}")
            continue
        for column in table.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}")
                changes.append(f"added {table.name}.{column.name}")
    if (compacted := compact(conn)) is not None:
        changes.append(f"compacted forecast_rows: {compacted:,} rows equal to the status quo's deleted")
    for name, query in VIEWS.items():
        conn.exec_driver_sql(f"CREATE VIEW {name} AS {query}")
    return changes


def compact(conn: sa.Connection) -> int | None:
    """Scenarios published before `stored_markets` (NULL): the standard full-rollout ones
    (`full_now`, `market_full_now`) lose the market rows equal to their status quo's (to 1e-9) and
    become `moved`; the others stay `all`. Returns the rows deleted, None if there was nothing to do."""
    pending = conn.execute(sa.text("SELECT COUNT(*) FROM scenarios WHERE stored_markets IS NULL")).scalar()
    if not pending:
        return None
    same = " AND ".join(f"ABS(q.{c} - f.{c}) <= 1e-9 * ABS(q.{c})" for c in ("status_quo", "scenario", "lo", "hi"))
    deleted = conn.execute(sa.text(f"""
        DELETE FROM forecast_rows f
        WHERE f.market <> 'ALL' AND EXISTS (
            SELECT 1 FROM scenarios s
            JOIN forecast_rows q ON q.model_version = s.model_version AND q.scenario_id = s.app || '.status_quo'
            WHERE s.stored_markets IS NULL AND s.kind IN ('full_now', 'market_full_now')
              AND s.model_version = f.model_version AND s.scenario_id = f.scenario_id
              AND q.market = f.market AND q.week = f.week AND q.quantity = f.quantity AND q.level = f.level
              AND q.rollout_share = f.rollout_share AND {same})""")).rowcount
    conn.execute(sa.text("""
        UPDATE scenarios SET
            stored_markets = CASE WHEN kind IN ('full_now', 'market_full_now') THEN 'moved' ELSE 'all' END,
            horizon_weeks = (SELECT MAX(f.horizon) FROM forecast_rows f
                             WHERE f.model_version = scenarios.model_version AND f.scenario_id = scenarios.scenario_id)
        WHERE stored_markets IS NULL"""))
    return max(int(deleted or 0), 0)
