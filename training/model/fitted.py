"""What `ImpactModel.fit` leaves per app: plain arrays and small results, no query maths.

`persist` writes and reads exactly these fields; `queries.AppQueries` answers questions from
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.model.backtest import BacktestResult
from training.model.baseline import BaselineFit
from training.model.effects import EffectEstimate, MarketEffects, ResponseShape
from training.model.experiments import AppTests
from training.model.panel import AppPanel


@dataclass
class AppFit:
    """Everything fitted for one app."""

    panel: AppPanel                  # the modelled history: every observed row, with its mask
    shape: ResponseShape             # the shape's posterior mode (carry-over, half-saturation, Hill exponent)
    shape_covariance: np.ndarray     # 3 x 3: its Laplace covariance in (logit carry-over, log k, log exponent)
    effect: EffectEstimate           # each effect parameter's mean over the draws
    shapes: tuple[ResponseShape, ...]  # shapes drawn from the posterior; draws["shape_index"] points into it
    draws: dict[str, np.ndarray]     # bootstrap replicates of the effects, each with its own shape
    max_t: np.ndarray                # per replicate: max |t| over the shape grid
    last_exposure: np.ndarray        # grid shapes x markets: carried-over exposure at the last week
    baseline: BaselineFit            # de-effected baselines of the forecastable markets, max_horizon weeks ahead
    backtest: BacktestResult
    event_study: dict                # dynamic aggregation table, overall ATT and the pre-trend test
    noise_seed: int = 0
    market_effects: MarketEffects | None = None   # each market's effect relative to the app's
    market_draws: np.ndarray | None = None        # markets x draws: its relative effect in each draw (None: all 1)
    tests: AppTests | None = None                 # the app's lift tests and what the panel alone predicted
