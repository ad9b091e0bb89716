"""The PNG plots a run logs, one function per plot, each returning a matplotlib Figure.

Figures are made without pyplot (`Figure` itself, drawn by Agg when saved), so they can be drawn
in a thread of their own and need no closing.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter
import numpy as np
import pandas as pd

from training.model.estimator import ImpactModel
from training.model.queries import Attribution
from training.model.stepbacktest import StepBacktest


def dose_response(model: ImpactModel, app: str, level: float = 0.9) -> Figure:
    """Steady-state effect on total minutes (%) against the rollout share, with the interval band."""
    curve = model.dose_response(app, level)
    shape = model.response_shape(app)
    fig = Figure(figsize=(6, 4))
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


def event_study(model: ImpactModel, app: str) -> Figure:
    """Callaway-Sant'Anna dynamic ATT of the launch on log time per DAU, with 95% bands."""
    study = model.event_study(app)
    fig = Figure(figsize=(7, 4))
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


def attribution_over_time(result: Attribution) -> Figure:
    """Weekly total minutes as observed and without the rollout, with the band."""
    weekly = result.weekly
    weeks = pd.to_datetime(weekly["week"])
    observed = weekly["observed_minutes"].to_numpy()
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    ax.plot(weeks, observed / 1e9, lw=1, label="observed")
    ax.plot(weeks, (observed - weekly["incremental_minutes"]) / 1e9, lw=1, label="without the rollout")
    ax.fill_between(weeks, (observed - weekly["incremental_minutes_hi"]) / 1e9,
                    (observed - weekly["incremental_minutes_lo"]) / 1e9, alpha=0.3, label=f"{result.level:.0%} band")
    ax.set_ylabel("minutes per week (billions)")
    ax.set_title(f"{result.app}: attribution, all markets")
    ax.legend()
    return fig


def backtest_example(model: ImpactModel, app: str) -> Figure:
    """The last backtest origin: forecast vs actual total minutes, with the calibrated band."""
    backtest = model.backtest_summary(app)
    example = backtest.example
    fig = Figure(figsize=(7, 4))
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
    fig = Figure(figsize=(10, 4))
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
