"""Compare a simulated panel with Meta's public quarterly figures.

Weeks are split across calendar quarters by their days (a week that starts on 29 September
puts 2 days in Q3 and 5 in Q4), so quarters with 14 Mondays are not inflated.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def quarterly_totals(panel: pd.DataFrame, column: str = "ad_revenue_usd", min_coverage: float = 0.9) -> pd.Series:
    """Sum of `column` over all rows per calendar quarter ('2021Q1'), splitting weeks by day.

    Quarters the panel covers on fewer than `min_coverage` of their days are left out.
    """
    weekly = panel.groupby("week")[column].sum()
    days = pd.DatetimeIndex(weekly.index).repeat(7) + pd.to_timedelta(np.tile(np.arange(7), len(weekly)), unit="D")
    per_day = np.repeat(weekly.to_numpy() / 7.0, 7)
    quarters = days.to_period("Q")
    by_quarter = pd.Series(per_day).groupby(quarters.astype(str).to_numpy())
    covered = by_quarter.size()
    length = pd.Series({q: _quarter_days(q) for q in covered.index})
    enough = covered >= min_coverage * length
    # A quarter missing a few days (the panel starts on 4 January) is scaled up to its length.
    return (by_quarter.sum() / covered * length)[enough]


def _quarter_days(quarter: str) -> int:
    period = pd.Period(quarter, freq="Q")
    return ((period + 1).start_time - period.start_time).days


def compare_with_public(panel: pd.DataFrame, public: pd.DataFrame, modelled_share: float) -> pd.DataFrame:
    """Per quarter: simulated family ad revenue (modelled markets / their share) vs the public figure.

    `public` has columns `quarter` ('2021Q1') and `ad_revenue_musd`.
    """
    simulated = quarterly_totals(panel) / modelled_share / 1e6
    table = public.set_index("quarter")[["ad_revenue_musd"]].join(simulated.rename("simulated_musd"), how="inner")
    table["ratio"] = table["simulated_musd"] / table["ad_revenue_musd"]
    return table
