"""Calendar features shared by the simulator and the model."""

from __future__ import annotations

import numpy as np
import pandas as pd


def holiday_weeks(weeks: pd.DatetimeIndex) -> np.ndarray:
    """1.0 for weeks (labelled by their Monday) that contain any day of 24 December - 1 January."""
    ends = weeks + pd.Timedelta(days=6)
    christmas = ((weeks.month == 12) & (ends.day >= 24)) | ((ends.month == 1) & (weeks.month == 12))
    new_year = (weeks.month == 1) & (weeks.day <= 1)
    return (christmas | new_year).astype(float)


DAYS_PER_YEAR = 365.25
DAYS_PER_WEEK = 7.0


def years_since(weeks: pd.DatetimeIndex, origin: pd.Timestamp) -> np.ndarray:
    """Time in years from `origin`, for linear trends."""
    return (weeks - origin).days.to_numpy(dtype=float) / DAYS_PER_YEAR


def year_angle(weeks: pd.DatetimeIndex) -> np.ndarray:
    """Position in the year (radians) of each week's middle day, for Fourier seasonality."""
    return 2 * np.pi * (weeks.day_of_year.to_numpy(dtype=float) + 3.0) / DAYS_PER_YEAR
