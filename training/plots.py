"""The PNG plots a run logs, one function per plot, each returning a matplotlib Figure.

`run_plots` reads what they show from a fitted model's public queries, as plain data; `draw`
renders them to PNG, here or on the fit's local worker processes, so a run can go on logging
while they are drawn. Figures are made without pyplot (`Figure` itself, drawn by Agg when
saved), so they need no closing. Matplotlib is imported where a figure is made, so a process
that only gathers the plots' data (the training run's, when its workers draw) never loads it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from training.model.backtest import BacktestResult
    from training.model.effects import ResponseShape
    from training.model.estimator import ImpactModel
    from training.model.queries import Attribution
    from training.model.stepbacktest import StepBacktest

Plot = tuple[str, Callable[..., "Figure"], tuple]      # artifact name, plot function, its arguments


def run_plots(model: ImpactModel, steps: StepBacktest, attributions: dict[str, Attribution]) -> list[Plot]:
    """Every plot a training run logs, each with the plain data it shows."""
    plots: list[Plot] = []
    for app in model.apps:
        plots += [(f"{app}_dose_response.png", dose_response, (app, model.dose_response(app, 0.9),
                                                                model.response_shape(app), 0.9)),
                  (f"{app}_event_study.png", event_study, (app, model.event_study(app))),
                  (f"{app}_attribution.png", attribution_over_time, (app, attributions[app].weekly,
                                                                          attributions[app].level)),
                  (f"{app}_backtest.png", backtest_example, (app, model.backtest_summary(app)))]
    return plots + [("step_backtest.png", step_backtest, (steps,))]


def png(plot: Callable[..., Figure], args: tuple) -> bytes:
    """One plot rendered to PNG."""
    buffer = io.BytesIO()
    plot(*args).savefig(buffer, format="png")
    return buffer.getvalue()


def draw(plots: list[Plot], n_jobs: int | None) -> dict[str, bytes]:
    """Each plot as PNG, by name: on joblib's local worker processes (`n_jobs` as the model's), or
    here for n_jobs None or 1."""
    if n_jobs in (None, 1):
        return {name: png(plot, args) for name, plot, args in plots}
    from joblib import Parallel, delayed, parallel_config
    with parallel_config(backend="loky"):       # local, also while the fit runs on a Dask cluster
        drawn = Parallel(n_jobs=n_jobs)(delayed(png)(plot, args) for _, plot, args in plots)
    return dict(zip((name for name, _, _ in plots), drawn))


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure
    return Figure(figsize=(width, height))


def dose_response(app: str, curve: dict[str, np.ndarray], shape: ResponseShape, level: float) -> Figure:
    """Steady-state effect on total minutes (%) against the rollout share, with the interval band."""
    fig = _figure(6, 4)
    ax = fig.subplots()
    ax.fill_between(curve["share"], curve["lo"], curve["hi"], alpha=0.25, label=f"{level:.0%} interval")
    ax.plot(curve["share"], curve["estimate"], lw=2, label=f"estimate (carry-over {shape.carryover:.2f}, "
                                                           f"half-saturation {shape.half_saturation:.2f}, "
                                                           f"Hill exponent {shape.hill_exponent:.2f})")
    ax.set_xlabel("rollout share held long enough to reach steady state")
    ax.set_ylabel("effect on total minutes (%)")
    ax.set_title(f"{app}: dose-response")
    ax.legend(fontsize=7, loc="upper left")
    return fig


def event_study(app: str, study: dict) -> Figure:
    """Callaway-Sant'Anna dynamic ATT of the launch on log time per DAU, with 95% bands."""
    fig = _figure(7, 4)
    ax = fig.subplots()
    if not study.get("available"):
        ax.text(0.5, 0.5, study.get("reason", "not available"), ha="center", wrap=True)
        return fig
    event, att, se = np.array(study["event_week"]), np.array(study["att"]), np.array(study["se"])
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(-0.5, color="grey", ls=":", lw=0.8)
    ax.fill_between(event, (att - 1.96 * se) * 100, (att + 1.96 * se) * 100, alpha=0.25)
    ax.plot(event, att * 100, marker=".", lw=1)
    pre = study["pretrend"]
    ax.set_title(f"{app}: event study of the launch (pre-trend test p = {pre['p_value']:.2f}, df {pre['df']})")
    ax.set_xlabel("weeks since launch")
    ax.set_ylabel("ATT on time per DAU (%, log points)")
    return fig


def attribution_over_time(app: str, weekly: pd.DataFrame, level: float) -> Figure:
    """Weekly total minutes as observed and without the rollout, with the band."""
    weeks = pd.to_datetime(weekly["week"])
    observed = weekly["observed_minutes"].to_numpy()
    fig = _figure(8, 4)
    ax = fig.subplots()
    ax.plot(weeks, observed / 1e9, lw=1, label="observed")
    ax.plot(weeks, (observed - weekly["incremental_minutes"]) / 1e9, lw=1, label="without the rollout")
    ax.fill_between(weeks, (observed - weekly["incremental_minutes_hi"]) / 1e9,
                    (observed - weekly["incremental_minutes_lo"]) / 1e9, alpha=0.3, label=f"{level:.0%} band")
    ax.set_ylabel("minutes per week (billions)")
    ax.set_title(f"{app}: attribution, all markets")
    ax.legend()
    return fig


def backtest_example(app: str, backtest: BacktestResult) -> Figure:
    """The last backtest origin: forecast vs actual total minutes, with the calibrated band."""
    example = backtest.example
    fig = _figure(7, 4)
    ax = fig.subplots()
    if not example:
        ax.text(0.5, 0.5, "no backtest", ha="center")
        return fig
    weeks = pd.to_datetime(example["weeks"])
    ax.fill_between(weeks, np.array(example["lo"]) / 1e9, np.array(example["hi"]) / 1e9, alpha=0.25,
                    label=f"{backtest.level:.0%} interval")
    ax.plot(weeks, np.array(example["forecast"]) / 1e9, lw=2, label="baseline forecast")
    ax.plot(weeks, np.array(example["actual"]) / 1e9, "k.", label="actual (de-effected)")
    mase = backtest.mase["minutes"]
    ax.set_title(f"{app}: backtest, last origin (minutes MASE at 13 weeks {mase[13]:.2f})")
    ax.set_ylabel("minutes per week (billions)")
    ax.legend()
    return fig


def step_backtest(steps: StepBacktest) -> Figure:
    """Each held-out rollout step: the predicted increment with its band against what the panel
    shows (observed less the status quo's forecast), minutes and ad revenue."""
    from matplotlib.ticker import EngFormatter
    fig = _figure(10, 4)
    axes = fig.subplots(1, 2)
    for ax, (quantity, label) in zip(axes, (("minutes", "incremental minutes"), ("ad_revenue_usd", "incremental ad revenue (USD)"))):
        rows = steps.rows[steps.rows["quantity"] == quantity] if len(steps.rows) else steps.rows
        if not len(rows):
            ax.text(0.5, 0.5, f"no rollout step in the last {steps.weeks} weeks", ha="center", transform=ax.transAxes)
            ax.axis("off")
            continue
        y = np.arange(len(rows))
        ax.errorbar(rows["predicted"], y, xerr=[rows["predicted"] - rows["lo"], rows["hi"] - rows["predicted"]],
                    fmt="o", label=f"predicted, {steps.level:.0%} band")
        ax.plot(rows["observed"], y, "x", color="black", label="observed less status quo forecast")
        ax.set_yticks(y, [f"{a} {m} {f:.2f}->{t:.2f}" for a, m, f, t in
                          zip(rows["app"], rows["market"], rows["share_from"], rows["share_to"])], fontsize=7)
        ax.axvline(0, color="grey", lw=0.5)
        ax.xaxis.set_major_formatter(EngFormatter())
        ax.set_xlabel(label)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8)
    fig.suptitle(f"rollout steps held out from {steps.first_week} ({steps.weeks} weeks)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
