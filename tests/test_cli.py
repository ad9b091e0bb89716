"""The `impact` console script as a user runs it: one-line errors with exit 2, deterministic data."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pandas as pd

from tests.helpers import IMPACT, make_small_panel


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([IMPACT, *args], capture_output=True, text=True, timeout=120)


def test_validate_bad_file_is_one_line_and_exit_2(tmp_path):
    panel = make_small_panel()
    panel.loc[7, "rollout_share"] = 1.5
    panel.to_csv(tmp_path / "bad.csv", index=False)
    result = run("validate", str(tmp_path / "bad.csv"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "rule 'rollout_share_range'" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_validate_missing_file_and_bad_option(tmp_path):
    result = run("validate", str(tmp_path / "absent.parquet"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run("simulate", "--seed", "-3").returncode == 2


def test_validate_good_file(tmp_path):
    make_small_panel().to_csv(tmp_path / "good.csv", index=False)
    result = run("validate", str(tmp_path / "good.csv"))
    assert result.returncode == 0, result.stderr
    assert "440 rows" in result.stdout and "15 rules passed" in result.stdout


def test_simulate_is_deterministic_for_a_seed_and_validates(tmp_path):
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out, seed in ((first, "4"), (second, "4"), (other, "5")):
        result = run("simulate", "--out", str(out), "--seed", seed)
        assert result.returncode == 0, result.stderr
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first / "panel.csv") == digest(second / "panel.csv")
    assert digest(first / "truth.json") == digest(second / "truth.json")
    assert digest(first / "panel.csv") != digest(other / "panel.csv")
    assert run("validate", str(first / "panel.parquet")).returncode == 0
    assert run("validate", str(first / "panel.csv")).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(first / "panel.parquet"),
                                  pd.read_csv(first / "panel.csv", parse_dates=["week"]).assign(
                                      week=lambda d: d["week"].dt.date), check_dtype=False)


def test_simulate_null_world_has_no_effect(tmp_path):
    result = run("simulate", "--out", str(tmp_path), "--seed", "2", "--null")
    assert result.returncode == 0, result.stderr
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["null"] is True
    for app in ("facebook", "instagram", "whatsapp"):
        assert truth["incremental"][app]["minutes"] == 0.0
        assert truth["incremental"][app]["ad_revenue_usd"] == 0.0
    assert pd.read_parquet(tmp_path / "panel.parquet")["rollout_share"].max() > 0.8   # rollout still happens
