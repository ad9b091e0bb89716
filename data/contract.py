"""The data contract: the weekly panel every entry point accepts, and the rules it must obey.

One row per (week, app, market), long format. `check_panel` runs every rule in order on a
raw table (as read from CSV or Parquet) and returns the normalised panel with a report;
`PanelError` carries the first broken rule in one line that names the rule, the column, how
many rows break it and the first few of them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from data.countries import ISO_3166_ALPHA2

KEY_COLUMNS: tuple[str, ...] = ("week", "app", "market")
NUMERIC_COLUMNS: tuple[str, ...] = ("rollout_share", "dau", "time_spent_min", "ad_revenue_usd")
REQUIRED_COLUMNS: tuple[str, ...] = KEY_COLUMNS + NUMERIC_COLUMNS
MIN_HISTORY_WEEKS = 104
MIN_MARKETS_PER_APP = 4
MAX_EXAMPLES = 3

# Closed ranges per numeric column: (low, high, low_inclusive). Upper bounds are sanity
# limits: a day has 1,440 minutes, the world fewer than 10 billion people.
VALUE_RANGES: dict[str, tuple[float, float, bool]] = {
    "rollout_share": (0.0, 1.0, True),
    "dau": (0.0, 1e10, False),
    "time_spent_min": (0.0, 1440.0, True),
    "ad_revenue_usd": (0.0, 1e12, True),
}
RANGE_RULES = {
    "rollout_share": "rollout_share_range",
    "dau": "dau_range",
    "time_spent_min": "time_spent_range",
    "ad_revenue_usd": "ad_revenue_range",
}
_MISSING_WORDS = ("nan", "na", "n/a", "null", "none")
_APP_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one contract rule: how many rows break it, and the first few."""

    rule: str
    column: str | None
    n_rows: int = 0
    problem: str = ""
    examples: list[str] = field(default_factory=list)
    severity: str = "error"     # "warning": reported, but the panel is accepted

    @property
    def passed(self) -> bool:
        return self.n_rows == 0

    @property
    def blocking(self) -> bool:
        """True when the rule is broken and the panel must be refused."""
        return not self.passed and self.severity == "error"

    def message(self) -> str:
        where = f" in column '{self.column}'" if self.column else ""
        first = f"; first: {'; '.join(self.examples)}" if self.examples else ""
        if self.rule == "file_format":
            return f"rule 'file_format' broken: {self.problem}"
        return f"rule '{self.rule}' broken{where}: {self.n_rows} row(s) {self.problem}{first}"


@dataclass
class ValidationReport:
    """Every rule's result for one file, in the order they ran."""

    source: str
    results: list[RuleResult] = field(default_factory=list)
    n_rows: int = 0

    @property
    def ok(self) -> bool:
        return not any(r.blocking for r in self.results)

    @property
    def first_failure(self) -> RuleResult | None:
        return next((r for r in self.results if r.blocking), None)

    @property
    def warnings(self) -> list[str]:
        """One line per broken warning-level rule."""
        return [r.message().replace(" broken", " (warning)", 1) for r in self.results
                if not r.passed and not r.blocking]

    def raise_for_failure(self) -> None:
        failure = self.first_failure
        if failure is not None:
            raise PanelError(failure, self.source)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "ok": self.ok,
            "n_rows": self.n_rows,
            "rules": [asdict(r) | {"passed": r.passed} for r in self.results],
        }


class PanelError(ValueError):
    """A panel file breaks the data contract. `str(error)` is the one-line message users see."""

    def __init__(self, result: RuleResult, source: str):
        self.result = result
        self.rule = result.rule
        self.column = result.column
        self.n_rows = result.n_rows
        self.source = source
        super().__init__(f"{source}: {result.message()}")


def file_error(source: str, problem: str) -> PanelError:
    """The error for a file that cannot be read as a panel at all."""
    return PanelError(RuleResult("file_format", None, 1, problem), source)


def _show(value) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, str):
        return repr(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _describe(frame: pd.DataFrame, mask: np.ndarray, columns: list[str], row_word: str) -> list[str]:
    rows = frame.loc[mask].head(MAX_EXAMPLES)
    shown = [c for c in KEY_COLUMNS if c in frame.columns and c not in columns] + columns
    out = []
    for label, row in rows.iterrows():
        values = " ".join(f"{c}={_show(row[c])}" for c in shown)
        out.append(f"{row_word} {label}: {values}")
    return out


def _result(rule: str, column: str | None, mask, problem: str, frame: pd.DataFrame,
            row_word: str, show: list[str] | None = None) -> RuleResult:
    mask = np.asarray(mask, dtype=bool)
    n = int(mask.sum())
    if n == 0:
        return RuleResult(rule, column)
    return RuleResult(rule, column, n, problem,
                      _describe(frame, mask, show if show is not None else ([column] if column else []), row_word))


def _is_missing_text(values: pd.Series) -> np.ndarray:
    text = values.astype("string")
    return (values.isna() | (text.str.strip() == "")).to_numpy(dtype=bool, na_value=True)


def _coerce_numeric(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Numeric view of a column and the mask of values that are present but not numbers."""
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype(float), np.ones(len(raw), dtype=bool)
    if pd.api.types.is_numeric_dtype(raw):
        return raw.astype(float), np.zeros(len(raw), dtype=bool)
    as_text = raw.astype("string").str.strip()
    missing = _is_missing_text(raw) | as_text.str.lower().isin(_MISSING_WORDS).to_numpy(dtype=bool, na_value=True)
    numbers = pd.to_numeric(as_text.where(~missing), errors="coerce").astype(float)
    bad = numbers.isna().to_numpy() & ~missing
    return numbers, bad


def _coerce_week(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Dates from a datetime column or ISO `YYYY-MM-DD` text; mask of unparseable values."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        weeks = raw.dt.tz_localize(None) if getattr(raw.dt, "tz", None) is not None else raw
        return weeks.astype("datetime64[ns]"), np.zeros(len(raw), dtype=bool)
    missing = _is_missing_text(raw)
    text = raw.astype("string").str.strip().str.slice(0, 10)
    looks_iso = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    parsed = pd.to_datetime(text.where(looks_iso), format="%Y-%m-%d", errors="coerce")
    bad = ~missing & (parsed.isna().to_numpy() | ~looks_iso)
    return parsed.astype("datetime64[ns]"), bad


def _unsupported_extra(raw: pd.Series) -> str | None:
    """Why an extra column's type is unsupported, or None when it is fine."""
    if (pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw)
            or pd.api.types.is_datetime64_any_dtype(raw) or pd.api.types.is_string_dtype(raw)):
        return None
    kinds = {type(v).__name__ for v in raw.dropna().head(1000)}
    if kinds <= {"str"}:
        return None
    if len(kinds) > 1:
        return f"mixed types ({', '.join(sorted(kinds))})"
    return f"unsupported type {kinds.pop()}"


def _normalise_extra(raw: pd.Series) -> pd.Series:
    """Text columns whose every present value is a number become numeric, as pandas would."""
    if not pd.api.types.is_string_dtype(raw) and raw.dtype != object:
        return raw
    missing = _is_missing_text(raw)
    numbers, bad = _coerce_numeric(raw)
    if not bad.any() and (~missing).any():
        return numbers
    return raw


def check_panel(raw: pd.DataFrame, source: str = "panel", row_word: str = "row") \
        -> tuple[pd.DataFrame | None, ValidationReport]:
    """Run every contract rule on a raw table; return the normalised panel (or None) and the report.

    `raw`'s index labels rows in the user's terms (data row or file line numbers), which the
    messages quote. Rules that need earlier ones to hold are skipped once one fails.
    """
    report = ValidationReport(source=source, n_rows=len(raw))
    add = report.results.append

    if len(raw) == 0:
        add(RuleResult("file_format", None, 1, "the file has a header but no data rows"))
        return None, report

    missing_cols = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    add(RuleResult("required_columns", ", ".join(missing_cols) or None, len(raw) if missing_cols else 0,
                   f"lack the column(s) {missing_cols}; found {list(map(str, raw.columns))}"))
    duplicated = raw.columns[raw.columns.duplicated()].tolist()
    add(RuleResult("duplicate_columns", ", ".join(map(str, duplicated)) or None, len(raw) if duplicated else 0,
                   "sit under a column name that appears more than once"))
    if not report.ok:
        return None, report

    frame = pd.DataFrame(index=raw.index)
    type_problems: list[RuleResult] = []
    week, bad_week = _coerce_week(raw["week"])
    frame["week"] = week
    type_problems.append(_result("column_types", "week", bad_week,
                                 "are not ISO dates (YYYY-MM-DD)", raw, row_word))
    for col in ("app", "market"):
        values = raw[col]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            type_problems.append(_result("column_types", col, np.ones(len(raw), bool),
                                         f"are {values.dtype}, not text", raw, row_word))
        frame[col] = values.astype("string").str.strip()
    for col in NUMERIC_COLUMNS:
        numbers, bad = _coerce_numeric(raw[col])
        frame[col] = numbers
        type_problems.append(_result("column_types", col, bad, "are not numbers", raw, row_word))
    extras = [c for c in raw.columns if c not in REQUIRED_COLUMNS]
    for col in extras:
        why = _unsupported_extra(raw[col])
        type_problems.append(_result("column_types", str(col), np.full(len(raw), why is not None),
                                     f"of an extra column have {why}", raw, row_word, show=[]))
        frame[col] = _normalise_extra(raw[col])
    failed = [r for r in type_problems if not r.passed]
    report.results.extend(failed[:1] or [RuleResult("column_types", None)])
    if failed:
        return None, report

    typed = frame  # the normalised values, in the file's row order, for messages
    missing = np.zeros(len(frame), dtype=bool)
    missing_cols = []
    for col in REQUIRED_COLUMNS:
        values = frame[col]
        col_missing = (values.isna().to_numpy() if col == "week" or col in NUMERIC_COLUMNS
                       else _is_missing_text(values))
        if col in NUMERIC_COLUMNS:
            col_missing = col_missing | np.isinf(values.to_numpy(dtype=float))
        if col_missing.any():
            missing_cols.append(col)
        missing |= col_missing
    add(_result("missing_or_infinite", ", ".join(missing_cols) or None, missing,
                "have an empty, NaN or infinite value", typed, row_word, show=missing_cols))
    if not report.ok:
        return None, report

    add(_result("app_id", "app", ~frame["app"].str.fullmatch(_APP_ID.pattern).to_numpy(dtype=bool),
                "are not lower-case ids (a-z, 0-9, _; starting with a letter)", typed, row_word))
    add(_result("market_code", "market", ~frame["market"].isin(ISO_3166_ALPHA2).to_numpy(dtype=bool),
                "are not upper-case ISO 3166-1 alpha-2 country codes", typed, row_word))
    add(_result("week_monday", "week", (frame["week"].dt.day_of_week != 0).to_numpy(),
                "are not a Monday (weeks are labelled by their Monday)", typed, row_word))
    for col, (low, high, low_inclusive) in VALUE_RANGES.items():
        values = frame[col].to_numpy(dtype=float)
        below = values < low if low_inclusive else values <= low
        bracket = "[" if low_inclusive else "("
        add(_result(RANGE_RULES[col], col, below | (values > high),
                    f"fall outside {bracket}{low:g}, {high:g}]", typed, row_word))
    if not report.ok:
        return None, report

    dup = frame.duplicated(list(KEY_COLUMNS), keep=False).to_numpy()
    add(_result("unique_rows", "week, app, market", dup,
                "repeat a (week, app, market) that must appear once", typed, row_word, show=[]))
    if not report.ok:
        return None, report

    frame = frame.sort_values(["app", "market", "week"], kind="stable")
    step = frame.groupby(["app", "market"], sort=False)["week"].diff().dt.days
    gap = (step.notna() & (step != 7)).reindex(raw.index).to_numpy(dtype=bool)
    add(_result("contiguous_weeks", "week", gap,
                "follow a gap in their series (the previous week of that app and market is missing)",
                raw, row_word))
    series_length = frame.groupby(["app", "market"])["week"].size()
    short_series = series_length[series_length < MIN_HISTORY_WEEKS]
    short = frame.set_index(["app", "market"]).index.isin(short_series.index)
    add(RuleResult("min_history", "week", int(short.sum()),
                   f"belong to series with fewer than {MIN_HISTORY_WEEKS} weeks of history; the model leaves "
                   "a series shorter than its min_weeks out of its app",
                   [f"{a}/{m}: {n} weeks" for (a, m), n in short_series.head(MAX_EXAMPLES).items()],
                   severity="warning"))
    markets_per_app = frame.groupby("app")["market"].nunique()
    thin = markets_per_app[markets_per_app < MIN_MARKETS_PER_APP]
    add(RuleResult("min_markets", "market", int(frame["app"].isin(thin.index).sum()),
                   f"belong to apps with fewer than {MIN_MARKETS_PER_APP} markets",
                   [f"{app}: {n} market(s)" for app, n in thin.head(MAX_EXAMPLES).items()]))
    if not report.ok:
        return None, report

    return frame.reset_index(drop=True), report
