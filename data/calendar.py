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
