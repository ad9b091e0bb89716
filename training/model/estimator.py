"""The rollout-impact model: one scikit-learn estimator per training run, holding every app.

`ImpactModel(...).fit(panel)` runs, per app: the response shape's posterior by profile
likelihood, the market bootstrap whose replicates draw their shapes from it (`effects`), the counterfactual baselines
of the de-effected series (`baseline`), their rolling-origin backtest and conformal scale
(`backtest`), and the Callaway-Sant'Anna event study of the launch (`did`). The fitted state
is plain data (`apps_`: one `fitted.AppFit` per app); the public queries below read it through
`queries.AppQueries`, so a loaded model answers without refitting.

The apps' work runs as tasks of `fanout.fan_out` (`n_jobs`: in process, local processes or a
Dask cluster), after the driver has fitted the shared response shape and drawn the shared
market bootstrap; a task reads only its arguments, so the fit is the same wherever it runs.

Panels may be unbalanced: every observed row is used, a series shorter than `min_weeks` is
left out of its app (listed in `left_out_`), and a market whose data ends before its app's
last week is attributed but not forecast.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields, replace
from collections.abc import Callable, Iterator
from functools import cached_property
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from training.model import did
from training.model.backtest import (BacktestResult, break_spans, headline_mase, outcome_breaks, parse_known_break,
                                     rolling_origin_backtest, uncalibrated_backtest)
from training.model.baseline import fit_baselines
from training.model.effects import (DEFAULT_GRID, POSTERIOR_SHAPES, BootstrapGram, EffectEstimate, FixedEffects,
                                    MarketEffects, ResponseShape, ShapeLikelihood, bootstrap_effects, bootstrap_gram,
                                    fit_shape, market_bootstrap_weights, market_effects,
                                    max_t_over_shapes, posterior_shapes, searched_max_t, shape_from_parameters,
                                    shape_parameters)
from training.model.experiments import (AppTests, app_tests, calibrate_draws, panel_predictions,
                                        tests_loglik)
from training.model.paths import mean_log_effects
from training.model.fanout import fan_out
from training.model.fitted import AppFit
from training.model.panel import AppPanel, app_panels, seasonal_basis
from training.model.paths import interval
from training.model.queries import AppQueries, Attribution, Forecast, RowValues

STAGES = ("effects", "bootstrap", "backtest", "baselines", "event_study")
EVENT_WINDOW = (-26, 52)       # event weeks kept for the event-study diagnostics


class QueryError(ValueError):
    """A question the fitted model cannot answer as asked; the message says which part and why."""


class ImpactModel(BaseEstimator):
    """Staggered dose-response effects, counterfactual baselines and scenario forecasts.

    Parameters are kept exactly as passed (`clone` and `get_params` work as in scikit-learn);
    `fit` checks them against `_parameter_constraints` and `validate_params`. `grid`: the shapes
    the search of the response shape starts from (the best of them by likelihood); a one-shape
    grid fixes the shape, with no uncertainty of its own.

    `step_backtest_` (a dict, `stepbacktest.StepBacktest.to_dict`) is not set by `fit`: `impact
    train` attaches the rollout-step backtest it runs, and `persist` keeps it with the model.
    """

    _parameter_constraints: dict = {
        "n_bootstrap": [Interval(Integral, 20, 10_000, closed="both")],
        "fourier_order": [Interval(Integral, 0, 10, closed="both")],
        "grid": [tuple, list],
        "baseline_fit_weeks": [Interval(Integral, 60, None, closed="left")],
        "max_horizon": [Interval(Integral, 13, 104, closed="both")],
        "backtest_horizon": [Interval(Integral, 13, 104, closed="both")],
        "backtest_origins": [Interval(Integral, 0, 52, closed="both")],
        "min_weeks": [Interval(Integral, 60, None, closed="left")],
        "shared_shape": ["boolean"],
        "known_breaks": [tuple, list],
        "seed": [Interval(Integral, 0, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_bootstrap: int = 200, fourier_order: int = 2, grid: tuple[ResponseShape, ...] = DEFAULT_GRID,
                 baseline_fit_weeks: int = 156, max_horizon: int = 104, backtest_horizon: int = 26,
                 backtest_origins: int = 8, min_weeks: int = 104, shared_shape: bool = True,
                 known_breaks: tuple[str, ...] = (), seed: int = 0, n_jobs: int | None = None):
        self.n_bootstrap = n_bootstrap
        self.fourier_order = fourier_order
        self.grid = grid
        self.baseline_fit_weeks = baseline_fit_weeks
        self.max_horizon = max_horizon
        self.backtest_horizon = backtest_horizon
        self.backtest_origins = backtest_origins
        self.min_weeks = min_weeks
        self.shared_shape = shared_shape
        self.known_breaks = known_breaks
        self.seed = seed
        self.n_jobs = n_jobs

    def validate_params(self) -> None:
        """Raise InvalidParameterError (a ValueError) naming the first parameter that is wrong."""
        self._validate_params()
        bad = [s for s in self.grid if not isinstance(s, ResponseShape) or not 0 <= s.carryover < 1
               or s.half_saturation <= 0 or s.hill_exponent <= 0]
        if not self.grid or bad:
            raise InvalidParameterError(
                "The 'grid' parameter of ImpactModel must be a non-empty sequence of ResponseShape(carryover in "
                f"[0, 1), half_saturation > 0, hill_exponent > 0). Got {bad[0] if bad else 'an empty grid'} instead.")
        if len(set(self.grid)) != len(self.grid):
            raise InvalidParameterError("The 'grid' parameter of ImpactModel lists a shape twice.")
        for text in self.known_breaks:
            try:
                parse_known_break(text)
            except (ValueError, AttributeError) as exc:
                raise InvalidParameterError(f"The 'known_breaks' parameter of ImpactModel: {exc}") from None
        if self.n_jobs == 0:
            raise InvalidParameterError("The 'n_jobs' parameter of ImpactModel must not be 0 (None or 1: in this "
                                        "process; -1: every core or cluster worker; k: k workers).")
        if self.backtest_horizon > self.max_horizon:
            raise InvalidParameterError(f"The 'backtest_horizon' parameter of ImpactModel ({self.backtest_horizon}) "
                                        f"must not exceed max_horizon ({self.max_horizon}).")

    # ------------------------------------------------------------------ fitting

    def fit(self, panel: pd.DataFrame, progress: Callable[[str, str], None] | None = None,
            experiments: pd.DataFrame | None = None) -> "ImpactModel":
        """Fit every app of a validated panel, each app's work a task of `fanout.fan_out` (`n_jobs`).
        `progress(stage, app)` is called for each stage of an app once its fit is back;
        `stage_seconds_` sums each stage's seconds over apps (work, which on workers exceeds the wall time).
        `experiments` (lift tests as `data.experiments.read_experiments` gives them, checked against
        the panel) calibrate the shape, the effect sizes and the markets' effects (`experiments.py`)."""
        self.validate_params()
        progress = progress or (lambda stage, app: None)
        self.__dict__.pop("_questions", None)
        self.apps_: dict[str, AppFit] = {}
        self.stage_seconds_ = {stage: 0.0 for stage in STAGES}
        panels, self.left_out_ = app_panels(panel, self.min_weeks)
        unknown = sorted({parse_known_break(text)[0] for text in self.known_breaks} - set(panels))
        if unknown:
            raise InvalidParameterError(f"The 'known_breaks' parameter of ImpactModel names app(s) {', '.join(unknown)} "
                                        f"that the panel does not model (it has {', '.join(panels)}).")
        clock = time.perf_counter()
        designs = {app: FixedEffects(self._basis(p), p.observed) for app, p in panels.items()}
        shapes, tests = self._shape_posterior(panels, designs, experiments)
        markets = {app: market_effects(p, designs[app], shapes[app][0]) for app, p in panels.items()}
        if any(m.pooled for m in markets.values()):     # the shape again, each market's response at its own effect
            shapes, tests = self._shape_posterior(panels, designs, experiments,
                                                  {app: m.relative for app, m in markets.items()})
            markets = {app: market_effects(p, designs[app], shapes[app][0]) for app, p in panels.items()}
        self.stage_seconds_["effects"] += time.perf_counter() - clock
        clock = time.perf_counter()
        grams, searched, choice = self._bootstrap_design(panels, designs, shapes)
        self.stage_seconds_["bootstrap"] += time.perf_counter() - clock
        fits = fan_out(self._fit_app, [(p, shapes[app], grams[app], searched[app], choice, markets[app], tests.get(app))
                                       for app, p in panels.items()], self.n_jobs)
        for app, (fit, seconds) in zip(panels, fits):
            self.apps_[app] = fit
            for stage, spent in seconds.items():
                self.stage_seconds_[stage] += spent
                progress(stage, app)
        return self

    def _basis(self, app_panel: AppPanel) -> np.ndarray:
        return seasonal_basis(app_panel.weeks, app_panel.weeks[0], self.fourier_order)

    def _shape_posterior(self, panels: dict[str, AppPanel], designs: dict[str, FixedEffects],
                         experiments: pd.DataFrame | None = None, multipliers: dict[str, np.ndarray] | None = None
                         ) -> tuple[dict, dict[str, AppTests]]:
        """Per app: the shape's posterior mode, theta's covariance and the shapes drawn from it
        (`effects.fit_shape`, `effects.posterior_shapes`); by default (shared_shape) one posterior for
        the whole family, the apps' likelihoods summed, so a weak-signal app borrows the shape
        the strong ones identify. The effective sample sizes are set at the best point of `grid`.

        With `experiments`, each app's tests are first predicted from the panel alone (over its
        posterior shapes) and those within CONFLICT_Z of it are added to the shape's likelihood,
        the search restarting from the panel's mode. Also returns the tests, with those predictions.
        `multipliers`: per app, each market's effect over the app's (`MarketEffects.relative`), by which
        its response is scaled in the likelihood (where markets differ, the shape is fitted again so)."""
        multipliers = multipliers or {}
        likelihoods = {app: ShapeLikelihood(p, designs[app], multipliers.get(app)) for app, p in panels.items()}
        groups = [list(panels)] if self.shared_shape else [[app] for app in panels]
        out, tests = {}, {}
        for group in groups:
            members = [likelihoods[app] for app in group]
            reference = max(self.grid, key=lambda shape: sum(m.loglik(shape) for m in members))
            for member in members:
                member.set_reference(reference)
            mode, theta, covariance = fit_shape(members, tuple(self.grid))
            drawn = posterior_shapes(theta, covariance, POSTERIOR_SHAPES, self.seed)
            found = {} if experiments is None else {app: app_tests(experiments, panels[app]) for app in group}
            found = {app: found_tests for app, found_tests in found.items() if found_tests is not None}
            if found:
                relative = {app: market_effects(panels[app], designs[app], mode).relative for app in found}
                found = {app: panel_predictions(t, likelihoods[app], panels[app].share, drawn, relative[app])
                         for app, t in found.items()}
                if len(self.grid) > 1 and any(t.used.any() for t in found.values()):
                    def evidence(shape: ResponseShape) -> float:
                        return sum(tests_loglik(t, likelihoods[app], panels[app].share, shape, relative[app])
                                   for app, t in found.items())
                    mode, theta, covariance = fit_shape(members, (mode, *self.grid), extra=evidence)
                    drawn = posterior_shapes(theta, covariance, POSTERIOR_SHAPES, self.seed)
            tests |= found
            out |= {app: (mode, covariance, drawn) for app in group}
        return out, tests

    def _bootstrap_design(self, panels: dict[str, AppPanel], designs: dict[str, FixedEffects],
                          shapes: dict) -> tuple[dict[str, BootstrapGram], dict[str, np.ndarray], np.ndarray]:
        """Market resampling shared by all apps (a market is one cluster for every app), each
        app's table of replicate cross products under its drawn shapes, each app's max-t over the
        shapes the search started from (`effects.searched_max_t`), and each replicate's shape:
        replicate b takes drawn shape b mod their number, the same for every app."""
        rng = np.random.default_rng(self.seed)
        markets = sorted({m for p in panels.values() for m in p.markets})
        drawn = market_bootstrap_weights(len(markets), self.n_bootstrap, rng)
        column = {m: i for i, m in enumerate(markets)}
        weights = {app: drawn[:, [column[m] for m in p.markets]] for app, p in panels.items()}
        grams = dict(zip(panels, fan_out(bootstrap_gram, [(p, list(shapes[app][2]), designs[app], weights[app])
                                                           for app, p in panels.items()], self.n_jobs)))
        searched = dict(zip(panels, fan_out(searched_max_t, [(p, list(self.grid), designs[app], weights[app])
                                                              for app, p in panels.items()], self.n_jobs)))
        n_shapes = len(next(iter(shapes.values()))[2])
        return grams, searched, np.arange(self.n_bootstrap) % n_shapes

    def _fit_app(self, app_panel: AppPanel, shapes: tuple, gram: BootstrapGram, searched: np.ndarray,
                 choice: np.ndarray, markets: MarketEffects, tests: AppTests | None
                 ) -> tuple[AppFit, dict[str, float]]:
        """One app's fit (a task of the fan-out, so it reads only its arguments and the parameters),
        and the seconds each stage took."""
        app = app_panel.app
        mode, covariance, drawn = shapes
        clock = time.perf_counter()
        seconds = {}

        def done(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            seconds[stage] = now - clock
            clock = now

        draws = bootstrap_effects(gram, choice)
        market_draws = markets.draws(len(draws["shape_index"]), stable_seed(self.seed, f"{app}/markets")) \
            if markets.pooled else None
        if tests is not None:
            draws, market_draws = calibrate_draws(draws, tests, app_panel.share, drawn, market_draws,
                                                  stable_seed(self.seed, f"{app}/tests"))
            if market_draws is not None:
                markets = replace(markets, relative=market_draws.mean(axis=1), sd=market_draws.std(axis=1))
        effect = EffectEstimate(**{f.name: float(np.mean(draws[f.name])) for f in fields(EffectEstimate)})
        done("effects")
        max_t = np.fmax(max_t_over_shapes(gram, len(drawn)), searched)     # over the drawn and the searched shapes
        done("bootstrap")

        de_effected = de_effect(app_panel, draws, drawn, market_draws)
        breaks = break_spans(self.known_breaks, app, app_panel.weeks)
        if self.backtest_origins > 0:
            backtest = rolling_origin_backtest(de_effected, app_panel.weeks, self.backtest_horizon,
                                               self.backtest_origins, fit_weeks=self.baseline_fit_weeks, seed=self.seed,
                                               known_breaks=breaks)
        else:   # attribution-only fits (statistical sweeps): uncalibrated forecast noise
            backtest = uncalibrated_backtest(self.backtest_horizon)
        done("backtest")

        trends = (backtest.trend["minutes"], backtest.trend["minutes"], backtest.trend["ad_revenue_usd"])
        series = de_effected[:, app_panel.forecastable]
        baseline = fit_baselines(series, app_panel.weeks, self.max_horizon, self.baseline_fit_weeks, trends,
                                 seed=self.seed, breaks=outcome_breaks(breaks))
        done("baselines")

        event_study = launch_event_study(app_panel)
        done("event_study")
        return (AppFit(panel=app_panel, shape=mode, shape_covariance=covariance,
                      effect=effect, shapes=tuple(drawn), draws=draws, max_t=max_t,
                      last_exposure=np.array([s.exposure(app_panel.share)[:, -1] for s in drawn]),
                      baseline=baseline, backtest=backtest, event_study=event_study,
                      noise_seed=stable_seed(self.seed, app), market_effects=markets, market_draws=market_draws,
                      tests=tests), seconds)

    def backtest_on(self, panel: pd.DataFrame) -> dict[str, BacktestResult]:
        """This fitted model backtested on another panel (the promotion gate's comparison): its
        effect estimates de-effect the new data, and baselines of its chosen trend kinds are
        refitted at each origin with its settings. Apps it does not know are skipped.
        """
        out = {}
        panels, _ = app_panels(panel, self.min_weeks)
        for app, app_panel in panels.items():
            if app not in self.apps:
                continue
            fit = self.apps_[app]
            series = de_effect(app_panel, fit.draws, fit.shapes, fit.market_draws)
            trend = fit.backtest.trend
            out[app] = rolling_origin_backtest(series, app_panel.weeks, self.backtest_horizon, self.backtest_origins,
                                               fit_weeks=self.baseline_fit_weeks, seed=self.seed,
                                               trends=(trend["minutes"], trend["minutes"], trend["ad_revenue_usd"]),
                                               known_breaks=break_spans(self.known_breaks, app, app_panel.weeks))
        return out

    # ------------------------------------------------------------------ questions

    @cached_property
    def _questions(self) -> dict[str, AppQueries]:
        check_is_fitted(self, "apps_")
        return {app: AppQueries(fit) for app, fit in self.apps_.items()}

    def _ask(self, app: str) -> AppQueries:
        questions = self._questions
        if app not in questions:
            raise QueryError(f"unknown app '{app}': the model has {', '.join(sorted(questions))}")
        return questions[app]

    @property
    def apps(self) -> list[str]:
        """The fitted apps."""
        check_is_fitted(self, "apps_")
        return list(self.apps_)

    def markets(self, app: str, forecastable: bool = False) -> list[str]:
        """The app's markets (every one kept for attribution, or only those that can be forecast)."""
        questions = self._ask(app)
        return list(questions.forecast_markets) if forecastable else list(questions.fit.panel.markets)

    def windows(self, app: str) -> pd.DataFrame:
        """Per market: first and last week used, number of weeks, whether it can be forecast."""
        return self._ask(app).fit.panel.windows()

    def history(self, app: str, markets: list[str] | None = None, last_weeks: int | None = None) -> pd.DataFrame:
        """What the model was trained on, long: one row per observed week and market with
        rollout_share, time_spent_min, dau, minutes and ad_revenue_usd (the panel's actuals);
        of `markets` and the last `last_weeks` weeks only, when given."""
        return self._ask(app).fit.panel.history(markets, last_weeks)

    def training_window(self, app: str) -> dict[str, str]:
        weeks = self._ask(app).fit.panel.weeks
        return {"first_week": str(weeks[0].date()), "last_week": str(weeks[-1].date())}

    def response_shape(self, app: str) -> ResponseShape:
        """The shape's posterior mode."""
        return self._ask(app).fit.shape

    def shape_summary(self, app: str, level: float = 0.9) -> dict[str, dict[str, float]]:
        """Carry-over, half-saturation and Hill exponent: the posterior mode and each one's central
        `level` interval under the Laplace posterior (normal in logit carry-over, log k, log exponent)."""
        fit = self._ask(app).fit
        theta, sd = shape_parameters(fit.shape), np.sqrt(np.diag(fit.shape_covariance))
        z = stats.norm.ppf(0.5 + level / 2)
        low, high = shape_from_parameters(theta - z * sd), shape_from_parameters(theta + z * sd)
        return {name: {"estimate": float(getattr(fit.shape, name)), "lo": float(getattr(low, name)),
                       "hi": float(getattr(high, name))} for name in ("carryover", "half_saturation", "hill_exponent")}

    def effect_summary(self, app: str, level: float = 0.9) -> dict[str, dict[str, float]]:
        """Estimate and `level` interval of each effect parameter (the widened draws, as in every path)."""
        return self._ask(app).effect_summary(level)

    def market_effect_summary(self, app: str, level: float = 0.9) -> tuple[MarketEffects, pd.DataFrame]:
        """How much the app's markets differ (`MarketEffects`: the spread, its evidence, whether
        the markets were pooled) and each market's effect with its `level` interval."""
        questions = self._ask(app)
        return questions.fit.market_effects, questions.market_effect_summary(level)

    def experiment_predictions(self, app: str, level: float = 0.9) -> pd.DataFrame:
        """The app's lift tests: measured, predicted by the panel alone, and by the fitted model
        with its `level` band (empty without tests); see `experiments.py`."""
        return self._ask(app).experiment_predictions(level)

    def dose_response(self, app: str, level: float = 0.9) -> dict[str, np.ndarray]:
        """Steady-state effect on total minutes (%) by rollout share, with its `level` band."""
        return self._ask(app).dose_response(level)

    def backtest_summary(self, app: str) -> BacktestResult:
        """The rolling-origin backtest of the app's baselines (MASE, coverage, trend kinds, last origin)."""
        return self._ask(app).fit.backtest

    def headline_mase(self) -> tuple[float, float]:
        """Mean 13-week backtest MASE over apps, minutes and ad revenue: the model's and seasonal-naive's."""
        return headline_mase({app: self.backtest_summary(app) for app in self.apps})

    def event_study(self, app: str) -> dict:
        """The Callaway-Sant'Anna event study of the launch (dynamic ATT, pre-trend test)."""
        return self._ask(app).fit.event_study

    def market_index(self, app: str, markets: list[str] | None, forecastable: bool = True) -> np.ndarray:
        """Positions of `markets` among the app's forecastable markets (`forecastable`) or all its
        markets (all of them for None or []).

        QueryError for an unknown market, or, when forecastable, one whose data ends before the
        app's last week.
        """
        questions = self._ask(app)
        every = questions.fit.panel.markets
        known = questions.forecast_markets if forecastable else every
        if not markets:
            return np.arange(len(known))
        unknown = [m for m in markets if m not in every]
        if unknown:
            raise QueryError(f"unknown market(s) {', '.join(unknown)} for {app}; known: {', '.join(every)}")
        ended = [m for m in markets if m not in known]
        if ended:
            market = ended[0]
            windows = questions.fit.panel.windows().set_index("market")
            raise QueryError(f"market {market}: its data ends on {windows.loc[market, 'last_week']}, before "
                             f"{app}'s last week ({self.training_window(app)['last_week']}); it is kept for "
                             "attribution but cannot be forecast")
        return np.array([known.index(m) for m in markets])

    def forecast_weeks(self, app: str, horizon: int) -> pd.DatetimeIndex:
        """The `horizon` weeks after the app's last trained week."""
        return self._ask(app).future_weeks[:horizon]

    def status_quo(self, app: str, horizon: int, markets: list[str] | None = None) -> np.ndarray:
        """Shares held at their last observed value: markets x horizon."""
        return self._ask(app).status_quo(self.market_index(app, markets), horizon)

    def forecast(self, app: str, shares: np.ndarray, markets: list[str] | None = None,
                 level: float = 0.9) -> Forecast:
        """Plan (`shares`, markets x horizon weeks) against the status quo, on joint sample paths.

        Markets default to every forecastable one. Baseline and scenario are means over the
        paths (so totals are sums of weekly rows and the incremental mean is their difference);
        `lo`/`hi` bound the scenario; incremental totals are summed path by path before their
        quantiles are taken.
        """
        index = self.market_index(app, markets)
        return self._ask(app).forecast(self._share_matrix(shares, len(index)), index, level)

    def forecasts(self, app: str, plans: list[np.ndarray], markets: list[str] | None = None,
                  level: float = 0.9) -> Iterator[Forecast]:
        """`forecast` of each plan (each markets x the same horizon weeks), one at a time: the
        status quo's paths are built once and each plan's only for the markets it moves, so
        many plans that each move a few markets cost about one forecast."""
        index = self.market_index(app, markets)
        return self._ask(app).forecasts([self._share_matrix(shares, len(index)) for shares in plans], index, level)

    def plan_values(self, app: str, shares: np.ndarray, markets: list[str], level: float = 0.9) -> RowValues:
        """What each row of `shares` (rows x 1..max_horizon weeks; row i the share path of
        `markets[i]`, markets may repeat) adds over that market's status quo: incremental minutes
        and ad revenue over the horizon, point and on every joint sample path of the `level`
        paths, and the exposure (share x DAU). Markets do not interact, so a plan's value is
        the sum of its markets' rows path by path: what an optimiser needs, one call for every
        candidate."""
        index = self.market_index(app, markets)
        return self._ask(app).row_values(self._share_matrix(shares, len(markets)), index, level)

    def test_lifts(self, app: str, markets: list[str], test: np.ndarray, reference: np.ndarray, weeks: np.ndarray,
                   level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """What lift tests starting in the first forecast week would measure of log time per DAU:
        test i holds one arm of `markets[i]` at share `test[i]` and one at `reference[i]` for
        `weeks[i]` weeks (1..max_horizon). The point and every joint sample path of the `level`
        paths (tests; tests x paths), the same paths `plan_values` reads, so a test's predicted
        result and a plan's value can be read together draw by draw."""
        index = self.market_index(app, markets)
        weeks = np.asarray(weeks, dtype=int)
        if weeks.min(initial=1) < 1 or weeks.max(initial=1) > self.max_horizon:
            raise QueryError(f"weeks must lie in 1..{self.max_horizon}")
        return self._ask(app).future_lifts(index, np.asarray(test, dtype=float), np.asarray(reference, dtype=float),
                                           weeks, level)

    def path_widening(self, app: str, level: float = 0.9) -> float:
        """The factor every effect path of a `level` question is widened by around the paths' mean
        (the max-t over the shapes), so that draws updated on new evidence (`calibrate_draws`) and
        then widened read as their widened paths updated on evidence `factor` times less precise."""
        return self._ask(app).inflation(level)

    def _share_matrix(self, shares: np.ndarray, rows: int) -> np.ndarray:
        """`shares` as a float array of `rows` x 1..max_horizon weeks, or QueryError."""
        shares = np.asarray(shares, dtype=float)
        horizon = shares.shape[1] if shares.ndim == 2 else 0
        if shares.ndim != 2 or shares.shape[0] != rows or not 1 <= horizon <= self.max_horizon:
            raise QueryError(f"shares must be {rows} rows (markets) x 1..{self.max_horizon} weeks, got {shares.shape}")
        return shares

    def response_curve(self, app: str, market: str, horizon: int = 26, level: float = 0.9,
                       points: int = 11) -> dict:
        """A market's response curve from where it stands: taking it from its current share to each
        of `points` evenly spaced target shares up to 1 in the first forecast week (held there), the
        incremental minutes and ad revenue over `horizon` weeks against its status quo, each
        {mean, lo, hi} lists (the point is the centre of the joint paths, `plan_values`)."""
        current = float(self.status_quo(app, 1, [market])[0, 0])
        targets = np.linspace(current, 1.0, points)
        values = self.plan_values(app, np.repeat(targets[:, None], horizon, axis=1), [market] * points, level)
        out = {"market": market, "current_share": current, "horizon_weeks": horizon, "level": level,
               "share": targets.tolist()}
        for quantity, paths in values.incremental_paths.items():
            lo, hi = interval(paths, level)
            out[quantity] = {"mean": np.asarray(values.incremental[quantity], dtype=float).tolist(),
                             "lo": lo.tolist(), "hi": hi.tolist()}
        return out

    def attribute(self, app: str, markets: list[str] | None = None, start: str | None = None,
                  end: str | None = None, level: float = 0.9) -> Attribution:
        """Incremental minutes and revenue over the observed rows in [start, end] (default: the whole history)."""
        return self._ask(app).attribute(self.market_index(app, markets, forecastable=False), start, end, level)

    def attribute_market_weeks(self, app: str, level: float = 0.9) -> pd.DataFrame:
        """Every market's attribution week by week within its window, with each cell's band, then
        the markets together (market ALL, as `attribute(app).weekly`), in one pass over the
        markets: what the warehouse's `attribution` table holds."""
        return self._ask(app).attribute_market_weeks(level)


# ---------------------------------------------------------------------- helpers

def de_effect(app_panel: AppPanel, draws: dict[str, np.ndarray], shapes: tuple[ResponseShape, ...],
              markets: np.ndarray | None = None) -> np.ndarray:
    """(log time, log DAU, log revenue) x markets x weeks with the rollout's point effect removed:
    the mean over the draws of each draw's effect under its own shape (`paths.mean_log_effects`),
    and with `markets` (markets x draws) each market's own relative effect."""
    effects = mean_log_effects(draws, np.stack([s.response(app_panel.share) for s in shapes], axis=-1), markets)
    return np.stack([app_panel.log_time - effects["time_spent_min"], app_panel.log_dau - effects["dau"],
                     app_panel.log_revenue - effects["ad_revenue_usd"]])


def stable_seed(seed: int, name: str) -> int:
    """A per-name seed that does not change between runs (unlike hash()), from all of the name."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
    return seed * 1_000_003 + digest % 1_000_003


def launch_event_study(app_panel: AppPanel) -> dict:
    """Callaway-Sant'Anna event study of the launch on log time per DAU, never-launched as controls.

    A market's group is its first observed week with a positive share (withdrawals do not undo a
    launch); a market already launched when its data starts has no pre-launch base and sits
    out, like a market launched in the first week. Each cell uses the markets observed in it.
    """
    observed = app_panel.observed
    launched = (app_panel.share > 0) & observed
    periods = np.arange(1, launched.shape[1] + 1)
    first = np.where(launched.any(axis=1), launched.argmax(axis=1) + 1, 0)
    launched_unseen = (first > 0) & (first - 1 == app_panel.first_index) & (app_panel.first_index > 0)
    keep = ~launched_unseen
    if (first[keep] == 0).sum() < 2 or not (first[keep] > 1).any():
        return {"available": False, "reason": "needs at least 2 never-launched markets and a launch after the first week"}
    gt = did.group_time_att(app_panel.log_time[keep], first[keep], periods, observed=observed[keep])
    dynamic = did.aggregate(gt, "dynamic")
    window = (dynamic.labels >= EVENT_WINDOW[0]) & (dynamic.labels <= EVENT_WINDOW[1])
    pretrend = did.pretrend_test(gt, max_lead=-EVENT_WINDOW[0])
    markets = [m for m, k in zip(app_panel.markets, keep) if k]
    return {"available": True,
            "event_week": dynamic.labels[window].astype(int).tolist(),
            "att": dynamic.att[window].tolist(), "se": dynamic.se[window].tolist(),
            "overall_att": dynamic.overall_att, "overall_se": dynamic.overall_se,
            "pretrend": pretrend,
            "groups": {str(app_panel.weeks[g - 1].date()): [m for m, f in zip(markets, first[keep]) if f == g]
                       for g in np.unique(first[keep][first[keep] > 0])}}
