"""Lift tests as data: one row per experiment a market ran, read from CSV or YAML and checked.

A test holds one arm of a market's users at `test_share` and a reference arm at
`reference_share` from `first_week` to `last_week` (Mondays, inclusive); before the test both
arms had the market's rollout share. It measured the lift of log time per DAU (test arm less
reference, averaged over the test's weeks) with its standard error, and optionally of log DAU
and log ad revenue. `source` says where the figure came from.

`read_experiments` checks the file on its own (columns, types, ranges); `check_experiments`
checks it against the panel the model is trained on (apps, markets, weeks). Both raise
`ExperimentsError` with one line naming the row (as numbered in the file, from 1) and the field.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("app", "market", "first_week", "last_week", "test_share", "reference_share", "lift_log_time",
            "se_log_time")
OPTIONAL_LIFTS = ("log_dau", "log_revenue")      # lift_<name> with se_<name>, both or neither
COLUMNS = (*REQUIRED, *(f"{kind}_{name}" for name in OPTIONAL_LIFTS for kind in ("lift", "se")), "source")


USER_SD = 1.0        # sd of one user's weekly log time per DAU around the arm's mean
ARM_SHARE = 0.01     # each arm's share of the market's daily active users


def arm_standard_error(dau: float | np.ndarray, weeks: int | np.ndarray, arm_share: float = ARM_SHARE,
                       user_sd: float = USER_SD) -> float | np.ndarray:
    """The standard error of a lift of log time per DAU read between two arms of `arm_share` of a
    market's `dau` users each over `weeks` weeks: user_sd x sqrt(2 / (arm_share dau weeks))."""
    return user_sd * np.sqrt(2.0 / (arm_share * np.asarray(dau, dtype=float) * np.asarray(weeks, dtype=float)))


class ExperimentsError(ValueError):
    """An experiments file that cannot be used; `str(error)` is the one line users see."""


def read_experiments(path: str | Path) -> pd.DataFrame:
    """The experiments of a CSV or YAML file (a list of mappings), checked on their own: the
    COLUMNS (optional ones filled with NaN / ""), weeks as Timestamps. Raises ExperimentsError."""
    path = Path(path)
    if not path.is_file():
        raise ExperimentsError(f"{path}: no such file")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml
            records = yaml.safe_load(path.read_text())
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise ExperimentsError(f"{path}: expected a list of experiments, one mapping each")
            frame = pd.DataFrame.from_records(records)
        else:
            frame = pd.read_csv(path, dtype={"app": str, "market": str, "source": str})
    except ExperimentsError:
        raise
    except Exception as exc:          # unparseable CSV or YAML: the parser's first line
        raise ExperimentsError(f"{path}: not a readable experiments file ({str(exc).splitlines()[0]})") from None
    if frame.empty:
        raise ExperimentsError(f"{path}: no experiments")
    unknown = sorted(set(frame.columns) - set(COLUMNS))
    if unknown:
        raise ExperimentsError(f"{path}: unknown column {unknown[0]} (the columns are {', '.join(COLUMNS)})")
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ExperimentsError(f"{path}: missing column {missing[0]}")
    rows = [_checked_row(path, n, row) for n, row in enumerate(frame.to_dict("records"), start=1)]
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    return out.astype({"first_week": "datetime64[ns]", "last_week": "datetime64[ns]"})


def _checked_row(path: Path, n: int, row: dict) -> dict:
    """One experiment as clean values (names stripped, weeks as Timestamps, numbers as floats, NaN
    for an optional lift not given), or ExperimentsError naming the row and the field."""
    def fail(field: str, problem: str) -> None:
        raise ExperimentsError(f"{path}: row {n}, {field}: {problem}")

    out = {}
    for field in ("app", "market"):
        if not isinstance(row[field], str) or not row[field].strip():
            fail(field, "missing")
        out[field] = row[field].strip()
    for field in ("first_week", "last_week"):
        try:
            week = pd.Timestamp(row[field])
        except (ValueError, TypeError):
            week = pd.NaT
        if pd.isna(week):
            fail(field, f"{row[field]!r} is not a date")
        if week.day_of_week != 0:
            fail(field, f"{week.date()} is a {week.day_name()}; weeks start on Mondays")
        out[field] = week.normalize()
    if out["last_week"] < out["first_week"]:
        fail("last_week", f"{out['last_week'].date()} is before first_week {out['first_week'].date()}")
    for field in COLUMNS[4:-1]:
        value = row.get(field)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out[field] = np.nan
            continue
        if isinstance(value, bool) or not (isinstance(value, (int, float, np.number))
                                           or (isinstance(value, str) and _is_number(value))):
            fail(field, f"{value!r} is not a number")
        out[field] = float(value)
    for field in ("test_share", "reference_share"):
        if np.isnan(out[field]):
            fail(field, "missing")
        if not 0.0 <= out[field] <= 1.0:
            fail(field, f"{out[field]} is outside 0..1")
    if out["test_share"] == out["reference_share"]:
        fail("test_share", f"equals reference_share ({out['test_share']}): the test compares nothing")
    for name in ("log_time", *OPTIONAL_LIFTS):
        lift, se = out[f"lift_{name}"], out[f"se_{name}"]
        if name == "log_time" and np.isnan(lift):
            fail("lift_log_time", "missing")
        if np.isnan(lift) != np.isnan(se):
            fail(f"se_{name}" if np.isnan(se) else f"lift_{name}", f"lift_{name} and se_{name} go together")
        if not np.isnan(se) and not (se > 0 and np.isfinite(se)):
            fail(f"se_{name}", f"{se} is not a positive standard error")
        if not np.isnan(lift) and not np.isfinite(lift):
            fail(f"lift_{name}", f"{lift} is not a finite number")
    source = row.get("source")
    out["source"] = "" if source is None or (isinstance(source, float) and np.isnan(source)) else str(source)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def check_experiments(experiments: pd.DataFrame, panel: pd.DataFrame, source: str) -> None:
    """Every experiment names an app and market of the validated `panel` and lies within the
    weeks the panel holds for that market. Raises ExperimentsError naming the row and field."""
    windows = panel.groupby(["app", "market"])["week"].agg(["min", "max"])
    apps = set(panel["app"])
    for n, row in enumerate(experiments.itertuples(), start=1):
        if row.app not in apps:
            raise ExperimentsError(f"{source}: row {n}, app: {row.app!r} is not in the panel "
                                   f"(it has {', '.join(sorted(apps))})")
        if (row.app, row.market) not in windows.index:
            raise ExperimentsError(f"{source}: row {n}, market: {row.market!r} is not one of {row.app}'s markets")
        first, last = windows.loc[(row.app, row.market)]
        for field, week in (("first_week", row.first_week), ("last_week", row.last_week)):
            if not first <= week <= last:
                raise ExperimentsError(f"{source}: row {n}, {field}: {week.date()} is outside {row.app} "
                                       f"{row.market}'s weeks in the panel ({first.date()}..{last.date()})")
