"""Every data-contract rule, each with a malformed file; the message must name the rule."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data import PanelError, inspect_panel, load_panel
from tests.helpers import make_small_panel


def write_csv(df: pd.DataFrame, path) -> str:
    df.to_csv(path, index=False)
    return str(path)


def expect_rule(path, rule: str, column: str | None = None, n_rows: int | None = None) -> PanelError:
    with pytest.raises(PanelError) as caught:
        load_panel(path)
    error = caught.value
    assert error.rule == rule, str(error)
    message = str(error)
    assert f"rule '{rule}'" in message
    assert "\n" not in message
    if column is not None:
        assert column in message
    if n_rows is not None:
        assert error.n_rows == n_rows, message
        assert f"{n_rows} row(s)" in message
    return error


def test_valid_csv_and_parquet_give_the_same_normalised_panel(small_panel, tmp_path):
    small_panel["campaign"] = "spring"          # extra columns are kept
    small_panel["budget_usd"] = 12.5
    csv_panel = load_panel(write_csv(small_panel, tmp_path / "p.csv"))
    small_panel.to_parquet(tmp_path / "p.parquet", index=False)
    pq_panel = load_panel(tmp_path / "p.parquet")
    assert len(csv_panel) == 440
    assert list(csv_panel.columns[:7]) == ["week", "app", "market", "rollout_share", "dau",
                                           "time_spent_min", "ad_revenue_usd"]
    assert pd.api.types.is_datetime64_any_dtype(csv_panel["week"])
    assert csv_panel["budget_usd"].dtype == float and (csv_panel["campaign"] == "spring").all()
    pd.testing.assert_frame_equal(csv_panel, pq_panel, check_dtype=False)
    assert csv_panel.equals(csv_panel.sort_values(["app", "market", "week"]))


def test_input_file_is_never_modified(small_panel, tmp_path):
    good = write_csv(small_panel, tmp_path / "good.csv")
    bad_df = small_panel.copy()
    bad_df.loc[3, "rollout_share"] = 2.0
    bad = write_csv(bad_df, tmp_path / "bad.csv")
    before = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (good, bad)}
    load_panel(good)
    with pytest.raises(PanelError):
        load_panel(bad)
    after = {p: hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (good, bad)}
    assert before == after


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (b"\x00\x01\x02binary\x00stuff" * 10, "neither CSV nor Parquet"),
    (b"PAR1 this is not really parquet", "not readable as Parquet"),
    (b"week,app,market,rollout_share,dau,time_spent_min,ad_revenue_usd\n", "no data rows"),
])
def test_file_format(tmp_path, content, problem):
    path = tmp_path / "panel.bin"
    path.write_bytes(content)
    error = expect_rule(path, "file_format")
    assert problem in str(error)


def test_missing_file(tmp_path):
    error = expect_rule(tmp_path / "nope.csv", "file_format")
    assert "does not exist" in str(error)


def test_required_columns(small_panel, tmp_path):
    error = expect_rule(write_csv(small_panel.drop(columns=["dau"]), tmp_path / "p.csv"), "required_columns", "dau")
    assert "['dau']" in str(error)


def test_duplicate_columns(small_panel, tmp_path):
    path = tmp_path / "p.csv"
    text = small_panel.assign(extra=1.0).to_csv(index=False).replace(",extra\n", ",dau\n", 1)
    path.write_text(text)
    expect_rule(path, "duplicate_columns", "dau")


def test_column_types_non_numeric_measure(small_panel, tmp_path):
    small_panel["dau"] = small_panel["dau"].astype(object)
    small_panel.loc[[5, 7], "dau"] = "lots"
    error = expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "column_types", "dau", n_rows=2)
    assert "line 7" in str(error) and "'lots'" in str(error)   # header is line 1, row index 5 is line 7


def test_column_types_unparseable_week(small_panel, tmp_path):
    small_panel.loc[0, "week"] = "03/01/2022"
    small_panel.loc[1, "week"] = "2022-02-30"
    expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "column_types", "week", n_rows=2)


def test_column_types_numeric_app_in_parquet(small_panel, tmp_path):
    small_panel["app"] = 7
    small_panel.to_parquet(tmp_path / "p.parquet", index=False)
    error = expect_rule(tmp_path / "p.parquet", "column_types", "app")
    assert "not text" in str(error)


def test_column_types_unknown_extra_type(small_panel, tmp_path):
    table = pa.Table.from_pandas(small_panel, preserve_index=False)
    table = table.append_column("tags", pa.array([[1, 2]] * len(small_panel), type=pa.list_(pa.int64())))
    pq.write_table(table, tmp_path / "p.parquet")
    error = expect_rule(tmp_path / "p.parquet", "column_types", "tags")
    assert "unsupported type" in str(error)


def test_parquet_with_wrong_schema(small_panel, tmp_path):
    small_panel["rollout_share"] = small_panel["rollout_share"].astype(str) + "%"
    small_panel.to_parquet(tmp_path / "p.parquet", index=False)
    expect_rule(tmp_path / "p.parquet", "column_types", "rollout_share", n_rows=440)


@pytest.mark.parametrize("column, value", [
    ("time_spent_min", ""), ("dau", "inf"), ("market", ""), ("rollout_share", "nan")])
def test_missing_or_infinite(small_panel, tmp_path, column, value):
    small_panel[column] = small_panel[column].astype(object)
    small_panel.loc[10, column] = value
    expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "missing_or_infinite", column, n_rows=1)


def test_missing_or_infinite_in_parquet(small_panel, tmp_path):
    small_panel.loc[[1, 2, 3], "ad_revenue_usd"] = [np.nan, np.inf, -np.inf]
    small_panel.to_parquet(tmp_path / "p.parquet", index=False)
    error = expect_rule(tmp_path / "p.parquet", "missing_or_infinite", "ad_revenue_usd", n_rows=3)
    assert "row 2:" in str(error)   # Parquet rows are numbered from 1


def test_app_id(small_panel, tmp_path):
    small_panel.loc[small_panel["market"] == "US", "app"] = "Facebook"
    expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "app_id", "app", n_rows=110)


@pytest.mark.parametrize("code", ["usa", "XX", "us"])
def test_market_code(small_panel, tmp_path, code):
    small_panel.loc[small_panel["market"] == "DE", "market"] = code
    error = expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "market_code", "market", n_rows=110)
    assert repr(code) in str(error)


def test_week_monday(small_panel, tmp_path):
    small_panel.loc[4, "week"] = (pd.Timestamp(small_panel.loc[4, "week"]) + pd.Timedelta(days=1)).date().isoformat()
    expect_rule(write_csv(small_panel, tmp_path / "p.csv"), "week_monday", "week", n_rows=1)


@pytest.mark.parametrize("column, values, rule", [
    ("rollout_share", [1.3, -0.1], "rollout_share_range"),
    ("dau", [0.0, -5.0], "dau_range"),
    ("dau", [1e300, 2e10], "dau_range"),
    ("time_spent_min", [-1.0, 2000.0], "time_spent_range"),
    ("ad_revenue_usd", [-5.0, 1e15], "ad_revenue_range"),
])
def test_value_ranges(small_panel, tmp_path, column, values, rule):
    small_panel.loc[[20, 30], column] = values
    expect_rule(write_csv(small_panel, tmp_path / "p.csv"), rule, column, n_rows=2)


def test_unique_rows(small_panel, tmp_path):
    doubled = pd.concat([small_panel, small_panel.iloc[[3]]], ignore_index=True)
    error = expect_rule(write_csv(doubled, tmp_path / "p.csv"), "unique_rows", "week, app, market", n_rows=2)
    assert "line 5" in str(error) and "line 442" in str(error)


def test_contiguous_weeks(small_panel, tmp_path):
    gappy = small_panel.drop(index=[50, 51])
    error = expect_rule(write_csv(gappy, tmp_path / "p.csv"), "contiguous_weeks", "week", n_rows=1)
    assert "2023-01-02" in str(error)   # the week after the two missing ones


def test_min_history_is_a_warning_that_names_the_short_series(tmp_path):
    """Short series are accepted (the model leaves out those under its min_weeks) and reported."""
    short = make_small_panel(weeks=60)
    panel, report = inspect_panel(write_csv(short, tmp_path / "p.csv"))
    assert report.ok and panel is not None and len(panel) == 240
    [warning] = report.warnings
    assert warning.startswith("rule 'min_history' (warning) in column 'week': 240 row(s)")
    assert "facebook/BR: 60 weeks" in warning
    rule = next(r for r in report.to_dict()["rules"] if r["rule"] == "min_history")
    assert rule["severity"] == "warning" and not rule["passed"]


def test_min_markets(tmp_path):
    thin = make_small_panel(markets=("US", "IN", "BR"))
    error = expect_rule(write_csv(thin, tmp_path / "p.csv"), "min_markets", "market", n_rows=330)
    assert "facebook: 3 market(s)" in str(error)


def test_report_lists_every_rule_for_a_valid_file(small_panel, tmp_path):
    panel, report = inspect_panel(write_csv(small_panel, tmp_path / "p.csv"))
    assert report.ok and panel is not None
    rules = [r["rule"] for r in report.to_dict()["rules"]]
    assert rules == ["required_columns", "duplicate_columns", "column_types", "missing_or_infinite", "app_id",
                     "market_code", "week_monday", "rollout_share_range", "dau_range", "time_spent_range",
                     "ad_revenue_range", "unique_rows", "contiguous_weeks", "min_history", "min_markets"]


def test_a_bad_row_near_the_end_of_a_large_file_is_found(tmp_path):
    big = make_small_panel(weeks=520, markets=("US", "IN", "BR", "DE", "FR", "GB", "JP", "MX"),
                           apps=("facebook", "instagram", "whatsapp"))
    big.loc[len(big) - 3, "time_spent_min"] = -2.0
    error = expect_rule(write_csv(big, tmp_path / "big.csv"), "time_spent_range", "time_spent_min", n_rows=1)
    assert f"line {len(big) - 3 + 2}" in str(error)
