"""Issue 6: this service against the tools users would otherwise pick, on the same data, one run.

    python bench/peers.py [--seeds 10] [--nulls 5] [--baseline-worlds 1] [--only-held-out --held-out-seeds 1,2,3,4,5]
                          [--only-cost --runs 3]

1. Effect recovery (incremental minutes per app, simulated worlds with known truth: the default
   world, seeds 1..N and null worlds): this model vs two-way fixed effects OLS on the raw share
   (market + week effects, cluster-robust by market) vs a CausalImpact-style counterfactual per
   launched market (statsmodels UnobservedComponents, local level, never-launched markets as
   regressors, fitted before the launch, simulated after it, summed over markets).
2. Baseline accuracy on the zero-rollout series (weekly minutes per market): rolling origin,
   8 origins 13 weeks apart, 13- and 26-week horizons; MASE and 90% coverage of this model's
   baseline vs seasonal-naive, Prophet (yearly seasonality, interval_width 0.9) and
   statsforecast AutoETS (level 90).
3. Cost: the whole `impact train` command (a fresh process with fresh stores, with its publish and
   without) against Prophet fitting and forecasting (104 weeks, with intervals) every baseline
   series (time per DAU, DAU, revenue per market), back to back, on the default world and on an
   18-market world (`--only-cost` runs this part alone, into the section "train_vs_prophet",
   `--runs` times).

4. Held-out point accuracy (`--only-held-out` runs it alone, into its own section): the worlds
   of every design of `bench/band_coverage.py`, this model's status-quo forecast against
   Prophet fitted per market on the same history, median APE per market-week and for ALL.

Peers come from the `bench` extra (`pip install -e '.[bench]'`, done by `make bench`). Rewrites
the "peers" section of RESULTS.md, with plots in bench/out/.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import machine, write_section  # noqa: E402
from data import simulate_world  # noqa: E402
from training.model.panel import app_panels  # noqa: E402
from training.model.backtest import SEASON, rolling_origin_backtest  # noqa: E402
from training.model.baseline import fit_baselines  # noqa: E402
from data.simulator import DESIGNS, WorldSpec  # noqa: E402
from testkit.evaluation import held_out_world  # noqa: E402
from training.model.estimator import ImpactModel  # noqa: E402

LEVEL = 0.9
Z = 1.6448536269514722
OUT = Path(__file__).parent / "out"


# ---------------------------------------------------------------------- 1. effect recovery

def two_way_demean(values: np.ndarray) -> np.ndarray:
    """markets x weeks less market and week means (the two-way fixed effects of a balanced panel)."""
    return values - values.mean(axis=1, keepdims=True) - values.mean(axis=0, keepdims=True) + values.mean()


def ours(panel: pd.DataFrame, seed: int) -> dict:
    model = ImpactModel(seed=seed, backtest_origins=0).fit(panel)
    return {app: model.attribute(app).totals["minutes"]["incremental"] for app in model.apps}


def twfe(panel: pd.DataFrame) -> dict:
    """log minutes on the raw share with market and week effects; CR1 standard errors by market."""
    out = {}
    for app, p in app_panels(panel)[0].items():
        y, x = two_way_demean(p.log_minutes), two_way_demean(p.share)   # balanced panel: market and week effects out
        beta = np.vdot(x, y) / np.vdot(x, x)
        score = (x * (y - beta * x)).sum(axis=1)                     # per market
        g, n, k = x.shape[0], x.size, 1 + x.shape[0] + x.shape[1] - 1
        se = np.sqrt(g / (g - 1) * (n - 1) / (n - k) * np.sum(score**2)) / np.vdot(x, x)

        def added(b: float) -> float:
            return float((p.minutes * (1 - np.exp(-b * p.share))).sum())
        out[app] = {"mean": added(beta), "lo": added(beta - Z * se), "hi": added(beta + Z * se)}
    return out


def causal_impact(panel: pd.DataFrame, n_paths: int = 200, seed: int = 0) -> dict:
    """Per launched market: local-level model of log minutes on the never-launched markets'
    log minutes, fitted before the launch; the post-launch counterfactual is simulated."""
    from statsmodels.tsa.statespace.structural import UnobservedComponents
    rng = np.random.default_rng(seed)
    out = {}
    for app, p in app_panels(panel)[0].items():
        launched = (p.share > 0).any(axis=1)
        controls = p.log_minutes[~launched].T                        # weeks x never-launched
        totals = np.zeros(n_paths)
        point = 0.0
        for m in np.flatnonzero(launched):
            start = int(np.argmax(p.share[m] > 0))
            if start < 52:
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = UnobservedComponents(p.log_minutes[m, :start], level="local level",
                                           exog=controls[:start]).fit(disp=False)
                horizon = p.log_minutes.shape[1] - start
                mean = fit.forecast(horizon, exog=controls[start:])
                np.random.seed(int(rng.integers(2**31)))     # statsmodels draws from numpy's global state
                sims = fit.simulate(horizon, repetitions=n_paths, anchor="end",
                                    exog=controls[start:]).reshape(horizon, n_paths)
            actual = p.minutes[m, start:]
            point += float((actual - np.exp(mean)).sum())          # log_minutes already holds the 7 days
            totals += (actual[:, None] - np.exp(sims)).sum(axis=0)
        lo, hi = np.quantile(totals, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        out[app] = {"mean": point, "lo": float(lo), "hi": float(hi)}
    return out


def effect_recovery(seeds: list[int], nulls: list[int]) -> pd.DataFrame:
    rows = []
    for seed, null in [(s, False) for s in seeds] + [(s, True) for s in nulls]:
        world = simulate_world(seed=seed, null=null)
        truth = {app: inc["minutes"] for app, inc in world.truth["incremental"].items()}
        for method, estimate in (("this model", lambda: ours(world.panel, seed)), ("TWFE OLS", lambda: twfe(world.panel)),
                                 ("CausalImpact-style", lambda: causal_impact(world.panel, seed=seed))):
            start = time.perf_counter()
            result = estimate()
            seconds = time.perf_counter() - start
            for app, r in result.items():
                rows.append({"seed": seed, "null": null, "method": method, "app": app, "truth": truth[app],
                             **r, "seconds": seconds / len(result)})
        print(f"world {seed}{' null' if null else ''} done", flush=True)
    return pd.DataFrame(rows)


def summarise_effects(rows: pd.DataFrame) -> str:
    lines = ["| method | median relative error | 90% coverage (truth) | median relative half-width | "
             "null worlds: interval contains 0 | median bias |", "|---|---|---|---|---|---|"]
    for method, r in rows.groupby("method", sort=False):
        eff, null = r[~r["null"]], r[r["null"]]
        rel = (eff["mean"] - eff["truth"]) / eff["truth"]
        covered = ((eff["lo"] <= eff["truth"]) & (eff["truth"] <= eff["hi"])).mean()
        width = ((eff["hi"] - eff["lo"]) / 2 / eff["truth"]).median()
        zero = ((null["lo"] <= 0) & (0 <= null["hi"])).mean() if len(null) else float("nan")
        lines.append(f"| {method} | {rel.abs().median():.1%} | {covered:.1%} ({len(eff)} cases) | {width:.1%} | "
                     f"{zero:.1%} ({len(null)} cases) | {rel.median():+.1%} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- 2. baseline accuracy

def prophet_forecast(history: np.ndarray, weeks: pd.DatetimeIndex, horizon: int) -> tuple:
    from prophet import Prophet
    model = Prophet(yearly_seasonality=True, weekly_seasonality=False, daily_seasonality=False, interval_width=LEVEL)
    model.fit(pd.DataFrame({"ds": weeks, "y": history}))
    future = pd.DataFrame({"ds": pd.date_range(weeks[-1] + pd.Timedelta(days=7), periods=horizon, freq="7D")})
    f = model.predict(future)
    return f["yhat"].to_numpy(), f["yhat_lower"].to_numpy(), f["yhat_upper"].to_numpy()


def ets_forecast(history: np.ndarray, horizon: int) -> tuple:
    from statsforecast.models import AutoETS
    f = AutoETS(season_length=52).forecast(y=history, h=horizon, level=[90])
    return f["mean"], f["lo-90"], f["hi-90"]


def baseline_accuracy(world_seeds: list[int], horizons=(13, 26), n_origins: int = 8) -> tuple[pd.DataFrame, dict]:
    """Log weekly minutes per market, zero-rollout series; MASE on the level, coverage of 90% intervals."""
    rows, seconds = [], {"this model": 0.0, "Prophet": 0.0, "AutoETS": 0.0}
    h_max = max(horizons)
    for seed in world_seeds:
        world = simulate_world(seed=seed)
        for app, p in app_panels(world.counterfactual)[0].items():
            series = np.stack([p.log_time, p.log_dau, p.log_revenue])
            start = time.perf_counter()
            ours_bt = rolling_origin_backtest(series, p.weeks, h_max, n_origins, report_at=tuple(horizons))
            seconds["this model"] += time.perf_counter() - start
            for h in horizons:
                rows.append({"method": "this model", "h": h, "app": app, "mase": ours_bt.mase["minutes"][h],
                             "naive": ours_bt.mase_seasonal_naive["minutes"][h], "coverage": ours_bt.coverage["minutes"][h]})
            n_weeks = len(p.weeks)
            origins = [n_weeks - h_max - 13 * k for k in range(n_origins)][::-1]
            minutes = p.log_minutes
            for method, forecast in (("Prophet", lambda hist, wk: prophet_forecast(hist, wk, h_max)),
                                     ("AutoETS", lambda hist, wk: ets_forecast(hist, h_max))):
                errors = {h: [] for h in horizons}
                covered = {h: [] for h in horizons}
                start = time.perf_counter()
                for origin in origins:
                    lo_fit = max(0, origin - 156)
                    for m in range(minutes.shape[0]):
                        mean, lo, hi = forecast(minutes[m, lo_fit:origin], p.weeks[lo_fit:origin])
                        actual = minutes[m, origin:origin + h_max]
                        hist = np.exp(minutes[m, lo_fit:origin])
                        scale = np.mean(np.abs(hist[SEASON:] - hist[:-SEASON]))
                        for h in horizons:
                            errors[h].append(np.abs(np.exp(mean[:h]) - np.exp(actual[:h])) / scale)
                            covered[h].append((lo[:h] <= actual[:h]) & (actual[:h] <= hi[:h]))
                seconds[method] += time.perf_counter() - start
                for h in horizons:
                    rows.append({"method": method, "h": h, "app": app, "mase": float(np.mean(errors[h])),
                                 "naive": np.nan, "coverage": float(np.mean(covered[h]))})
            print(f"baselines {seed} {app} done", flush=True)
    return pd.DataFrame(rows), seconds


def summarise_baselines(rows: pd.DataFrame) -> str:
    lines = ["| method | MASE 13 w | MASE 26 w | 90% coverage 13 w | 90% coverage 26 w |", "|---|---|---|---|---|"]
    ours_rows = rows[rows["method"] == "this model"]
    naive = ours_rows.groupby("h")["naive"].mean()
    lines.append(f"| seasonal-naive | {naive[13]:.3f} | {naive[26]:.3f} | - | - |")
    for method, r in rows.groupby("method", sort=False):
        g = r.groupby("h")
        lines.append(f"| {method} | {g['mase'].mean()[13]:.3f} | {g['mase'].mean()[26]:.3f} | "
                     f"{g['coverage'].mean()[13]:.1%} | {g['coverage'].mean()[26]:.1%} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- 3. cost

WORLDS = {"default world (32 markets)": None, "18-market world": 18}     # None: every named market


def cost_world(markets: int | None) -> pd.DataFrame:
    """The default world, or the same world with only its first `markets` named markets."""
    from data.markets import MARKETS
    return simulate_world(seed=0, spec=None if markets is None else WorldSpec(markets=MARKETS[:markets])).panel


def impact_train_seconds(panel: pd.DataFrame, *extra: str) -> float:
    """Wall seconds of the whole `impact train` command (`extra` its options) on `panel`, in a fresh
    process with fresh stores (MLflow database, BentoML store, warehouse)."""
    import os
    import subprocess
    import tempfile
    impact = str(Path(sys.executable).parent / "impact")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "IMPACT_HOME": f"{tmp}/impact", "BENTOML_HOME": f"{tmp}/bentoml"}
        for name in ("MLFLOW_TRACKING_URI", "IMPACT_WAREHOUSE_URL", "DASK_SCHEDULER_ADDRESS"):
            env.pop(name, None)
        panel.to_parquet(f"{tmp}/panel.parquet")
        start = time.perf_counter()
        subprocess.run([impact, "train", "--data", f"{tmp}/panel.parquet", "--quiet", *extra], env=env,
                       check=True, capture_output=True)
        return time.perf_counter() - start


def fit_cost(panel: pd.DataFrame) -> dict:
    """Seconds of `impact train` (with its default publish, and without) and of Prophet fitting
    every baseline series of `panel` and forecasting it 104 weeks with its intervals, back to back."""
    out = {"impact train (whole command, with its publish)": impact_train_seconds(panel),
           "impact train --no-publish": impact_train_seconds(panel, "--no-publish")}
    panels, _ = app_panels(panel)
    series = [(p.weeks, values) for p in panels.values() for values in (p.log_time, p.log_dau, p.log_revenue)]
    start = time.perf_counter()
    for weeks, values in series:
        for row in values:
            prophet_forecast(row[-156:], weeks[-156:], 104)
    out["Prophet: fit and 104-week forecast of every baseline"] = time.perf_counter() - start
    out["series"] = sum(len(values) for _, values in series)
    return out


def cost_section(args: argparse.Namespace) -> None:
    """`impact train` against Prophet fitting and forecasting the baselines, per world, `--runs` times."""
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    started = time.perf_counter()
    tables = []
    for world, markets in WORLDS.items():
        panel = cost_world(markets)
        runs = [fit_cost(panel) for _ in range(args.runs)]
        for run in runs:
            print(world, {k: round(v, 1) for k, v in run.items()}, flush=True)
        names = [name for name in runs[0] if name != "series"]
        median = {name: float(np.median([r[name] for r in runs])) for name in names}
        prophet = "Prophet: fit and 104-week forecast of every baseline"
        ratios = {name: float(np.median([r[name] / r[prophet] for r in runs])) for name in names[:2]}
        lines = "\n".join(f"| {name} | {seconds:.1f} | {', '.join(f'{r[name]:.1f}' for r in runs)} | "
                          f"{'' if name == prophet else f'**{ratios[name]:.2f}**'} |" for name, seconds in median.items())
        tables.append(f"""**{world}**: 3 apps x {panel['market'].nunique()} markets, {runs[0]['series']} baseline series.

| what | median s | runs | / Prophet (median of the runs' ratios) |
|---|---|---|---|
{lines}
""")
    body = f"""## `impact train` against Prophet fitting and forecasting the baselines (issue 27)

`python bench/peers.py --only-cost --runs {args.runs}` on {machine()}; prophet {version('prophet')}; took
{time.perf_counter() - started:.0f} s. Per world, in each run back to back: the whole `impact train` command in a fresh
process with fresh stores (validation, effects, bootstrap, backtests, baselines, rollout-step backtest, MLflow run
with plots, registered version, gate, promotion into a BentoML store, and, unless `--no-publish`, the warehouse
publish), and Prophet (yearly seasonality, interval_width 0.9) fitting time per DAU, DAU and revenue of every market
(last 156 weeks) and forecasting each 104 weeks with its intervals, one series after another. Goal: `impact
train` under 0.5 of Prophet's time on both worlds.

{chr(10).join(tables)}"""
    write_section("train_vs_prophet", body)
    print(body)


# ---------------------------------------------------------------------- 4. held-out point accuracy

def held_out_point_errors(design: str, seed: int, horizon: int = 26) -> list[dict]:
    """One held-out world (`testkit.evaluation.held_out_world`): absolute percentage errors of
    weekly total minutes at the status quo, this model against Prophet fitted per market on the
    same history (each market's own weeks), per market-week and for ALL (Prophet's ALL: the sum
    of its market forecasts)."""
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    world = held_out_world(seed, WorldSpec(design=design), horizon)
    rows = []
    for app, truth in world.truth.items():
        actual = truth["minutes"]
        model = world.model
        markets = model.markets(app, forecastable=True)
        ours = model.forecast(app, model.status_quo(app, horizon), level=LEVEL).per_market["minutes"]
        history = world.history[world.history["app"] == app]
        minutes = history.assign(m=history["dau"] * history["time_spent_min"] * 7).pivot(
            index="market", columns="week", values="m")
        prophet = np.array([prophet_forecast(minutes.loc[m].dropna().to_numpy(),
                                             pd.DatetimeIndex(minutes.loc[m].dropna().index), horizon)
                            for m in markets])                     # markets x (yhat, lower, upper) x weeks
        for method, (forecast, lo, hi) in (("this model", (ours["status_quo"], ours["lo"], ours["hi"])),
                                           ("Prophet", (prophet[:, 0], prophet[:, 1], prophet[:, 2]))):
            rows.append({"design": design, "seed": seed, "app": app, "method": method,
                         "market_ape": np.abs(forecast / actual - 1).ravel(),
                         "all_ape": np.abs(forecast.sum(axis=0) / actual.sum(axis=0) - 1),
                         "market_held": ((lo <= actual) & (actual <= hi)).ravel()})
    return rows


def held_out_point_accuracy(seeds: list[int], jobs: int) -> str:
    """Part 4's table: median APE per design and method over every market-week and ALL-week."""
    from joblib import Parallel, delayed
    rows = [r for world in Parallel(n_jobs=jobs)(delayed(held_out_point_errors)(design, seed)
                                                   for design in DESIGNS for seed in seeds) for r in world]
    frame = pd.DataFrame(rows)
    lines = []
    for design in list(DESIGNS) + ["all designs"]:
        part = frame if design == "all designs" else frame[frame["design"] == design]
        cells = []
        for method in ("this model", "Prophet"):
            chosen = part[part["method"] == method]
            cells += [np.median(np.concatenate(chosen["market_ape"].to_list())),
                      np.median(np.concatenate(chosen["all_ape"].to_list())),
                      np.mean(np.concatenate(chosen["market_held"].to_list()))]
        lines.append(f"| {design} | {cells[0]:.2%} | {cells[3]:.2%} | {cells[1]:.2%} | {cells[4]:.2%} | "
                     f"{cells[2]:.1%} | {cells[5]:.1%} |")
    return """| design | APE market-weeks: this model | APE market-weeks: Prophet | APE ALL-weeks: this model | APE ALL-weeks: Prophet | 90% band holds, market rows: this model | 90% band holds, market rows: Prophet |
|---|---|---|---|---|---|---|
""" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="other effect seeds besides the default world")
    parser.add_argument("--nulls", type=int, default=5, help="null worlds")
    parser.add_argument("--baseline-worlds", type=int, default=1)
    parser.add_argument("--held-out-seeds", default="1,2,3,4,5,6,7,8,9,10", help="part 4: worlds per design")
    parser.add_argument("--jobs", type=int, default=2, help="part 4: worlds fitted at once")
    parser.add_argument("--only-held-out", action="store_true", help="run part 4 alone")
    parser.add_argument("--only-cost", action="store_true", help="run part 3 alone, with `impact train`")
    parser.add_argument("--runs", type=int, default=3, help="--only-cost: back-to-back runs")
    args = parser.parse_args()
    if args.only_held_out:
        return held_out_section(args)
    if args.only_cost:
        return cost_section(args)
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    OUT.mkdir(exist_ok=True)
    started = time.perf_counter()
    effects = effect_recovery([0] + list(range(1, args.seeds + 1)), list(range(101, 101 + args.nulls)))
    effects.to_csv(OUT / "effect_recovery.csv", index=False)
    baselines, backtest_seconds = baseline_accuracy(list(range(args.baseline_worlds)))
    baselines.to_csv(OUT / "baseline_accuracy.csv", index=False)
    cost = fit_cost(cost_world(None))
    plot(effects)

    twfe_bias = effects[(effects.method == "TWFE OLS") & ~effects.null]
    bias = ((twfe_bias["mean"] - twfe_bias["truth"]) / twfe_bias["truth"]).groupby(twfe_bias["app"]).median()
    cost_lines = "\n".join(f"| {name} | {seconds:.1f} |" for name, seconds in cost.items() if name != "series")
    ratio = cost["impact train (whole command, with its publish)"] / cost["Prophet: fit and 104-week forecast of every baseline"]
    body = f"""## Against the peers (issue 6)

`python bench/peers.py --seeds {args.seeds} --nulls {args.nulls} --baseline-worlds {args.baseline_worlds}` on {machine()};
prophet {version('prophet')}, statsforecast {version('statsforecast')}; took {time.perf_counter() - started:.0f} s.
Raw rows: `bench/out/effect_recovery.csv`, `bench/out/baseline_accuracy.csv`; plot `bench/out/effect_recovery.png`.

### 1. Effect recovery: incremental minutes over the history, per app

Worlds: the default world and seeds 1..{args.seeds} (3 apps each), and {args.nulls} null worlds.

{summarise_effects(effects)}

TWFE on the raw share ignores carry-over and saturation: its median relative error by app is
{", ".join(f"{app} {v:+.1%}" for app, v in bias.items())}.

### 2. Baseline accuracy: weekly minutes per market, zero-rollout series

Rolling origin, 8 origins 13 weeks apart, fits on the last 156 weeks, {args.baseline_worlds} world(s) x 3 apps x 32 markets.
MASE on the level (scaled by each series' in-sample seasonal-naive error); coverage of the 90% interval.

{summarise_baselines(baselines)}

### 3. Cost: the default world's baselines (3 outcomes x 3 apps x 32 markets) against `impact train`

| what | seconds |
|---|---|
{cost_lines}

`impact train` takes {ratio:.2f} of Prophet's time (`--only-cost` repeats this on two worlds, several runs).
Backtest wall time in part 2: {", ".join(f"{k} {v:.0f} s" for k, v in backtest_seconds.items())}.
"""
    write_section("peers", body)
    print(body)


def held_out_section(args: argparse.Namespace) -> None:
    """Part 4 on its own section of RESULTS.md (it takes as long as the band sweep)."""
    started = time.perf_counter()
    seeds = [int(s) for s in args.held_out_seeds.split(",")]
    table = held_out_point_accuracy(seeds, args.jobs)
    body = f"""## Held-out point accuracy against Prophet (issue 13)

`python bench/peers.py --only-held-out --held-out-seeds {args.held_out_seeds}` on {machine()};
prophet {version('prophet')}; took {time.perf_counter() - started:.0f} s.

The worlds of `bench/band_coverage.py` ({len(seeds)} per design x 3 apps): the last 26 weeks held
back and played forward at the status quo. Median absolute percentage error of weekly total
minutes, this model's status-quo forecast against Prophet (yearly seasonality, interval_width
0.9) fitted per market on the same history; ALL is the markets' sum (Prophet's: the sum of its
market forecasts; Prophet has no band for a sum of separately fitted series). The last columns:
the share of market-weeks whose 90% band holds the truth.

{table}
"""
    write_section("peers_held_out", body)
    print(body)


def plot(effects: pd.DataFrame) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    eff = effects[~effects["null"]]
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (method, r) in enumerate(eff.groupby("method", sort=False)):
        rel = (r["mean"] / r["truth"] - 1) * 100
        ax.boxplot(rel, positions=[i], widths=0.5)
    ax.set_xticks(range(eff["method"].nunique()), eff["method"].unique())
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("relative error of incremental minutes (%)")
    ax.set_title("Effect recovery on simulated worlds")
    fig.savefig(OUT / "effect_recovery.png", dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
