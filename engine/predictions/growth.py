"""Growth curves: exponential, logistic, Gompertz and Bass fits next to two plain baselines.

The series is cumulative users (first active day), buyers (first purchase) or GMV, by business day
or week. Each curve is fitted by nonlinear least squares (:func:`scipy.optimize.curve_fit`) on
the series scaled to its maximum, from starting values read off the data, within bounds that keep
the parameters meaningful. A fit counts only when the optimiser converged with finite parameters
and a finite covariance; otherwise the model says why and what to try. Beside the curves, a linear
trend and the naive carry-forward of the last value: a backtest on the last ``holdout_days``
(fit on the days before, forecast them, MAPE) picks the best model, and a baseline may win.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
from scipy.optimize import OptimizeWarning, curve_fit

from engine.errors import InsufficientDataError, PondError
from engine.store.warehouse import run_query

METRICS = {"users": "new_users", "buyers": "new_buyers", "gmv": "gmv"}
METRIC_LABELS = {"users": "Cumulative users", "buyers": "Cumulative buyers", "gmv": "Cumulative GMV (¥)"}
PERIODS = {"day": 1, "week": 7}
S_CURVES = ("logistic", "gompertz", "bass")
MIN_POINTS = 8


def exponential(t, p0, r):
    return p0 * np.exp(r * t)


def logistic(t, L, r, c):
    return L / (1.0 + np.exp(-(r * t - c)))


def gompertz(t, L, b, c):
    return L * np.exp(-b * np.exp(-c * t))


def bass(t, m, p, q):
    e = np.exp(-(p + q) * t)
    return m * (1.0 - e) / (1.0 + (q / p) * e)


def linear(t, a, b):
    return a + b * t


CURVES = {"exponential": exponential, "logistic": logistic, "gompertz": gompertz, "bass": bass, "linear": linear}
PARAM_NAMES = {"exponential": ("P0", "r"), "logistic": ("L", "r", "c"), "gompertz": ("L", "b", "c"),
               "bass": ("m", "p", "q"), "linear": ("a", "b"), "naive": ("last",)}


def _start(name: str, t: np.ndarray, s: np.ndarray) -> tuple[list, tuple]:
    """Starting values and bounds on the scaled series (max 1), read off the data."""
    span = max(float(t[-1]), 1.0)
    s0 = max(float(s[0]), 1e-3)
    half = float(t[np.searchsorted(s, s[-1] / 2)]) if s[-1] > 0 else span / 2
    if name == "exponential":
        return [s0, np.log(max(float(s[-1]), 1e-3) / s0) / span], ([1e-9, -1.0], [10.0, 1.0])
    if name == "logistic":
        r = 4.0 / span
        return [1.2, r, r * half], ([0.5, 1e-6, -50.0], [100.0, 5.0, 200.0])
    if name == "gompertz":
        return [1.2, max(np.log(1.2 / s0), 0.1), 2.0 / span], ([0.5, 1e-6, 1e-6], [100.0, 100.0, 5.0])
    if name == "bass":
        return [1.2, 0.01, 0.1], ([0.5, 1e-7, 0.0], [100.0, 1.0, 5.0])
    return [float(s[0]), float(s[-1] - s[0]) / span], ([-np.inf, -np.inf], [np.inf, np.inf])


@dataclass
class Fit:
    """One model's fit: parameters with 95% intervals, R², AIC, and a forecast with a band."""

    name: str
    ok: bool
    message: str = ""
    params: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    r2: float | None = None
    aic: float | None = None
    holdout_mape: float | None = None
    fitted: np.ndarray | None = None
    forecast: pd.DataFrame | None = None
    capacity: float | None = None
    inflection: date | None = None

    def summary(self) -> dict:
        return {"params": self.params, "r2": self.r2, "aic": self.aic, "holdout_mape": self.holdout_mape,
                **({"error": self.message} if not self.ok else {}),
                **({"capacity": self.capacity} if self.capacity is not None else {}),
                **({"inflection": self.inflection.isoformat()} if self.inflection is not None else {})}


def fit_curve(name: str, t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | str:
    """``(params, covariance)`` in the units of ``y``, or the reason the fit is refused."""
    scale = max(float(np.max(np.abs(y))), 1e-9)
    s = y / scale
    p0, bounds = _start(name, t, s)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow while exploring is handled below
            params, cov = curve_fit(CURVES[name], t, s, p0=p0, bounds=bounds, maxfev=20000)
    except (RuntimeError, OptimizeWarning, ValueError) as exc:
        return f"the optimiser did not converge ({str(exc).splitlines()[0][:80]})"
    if not (np.isfinite(params).all() and np.isfinite(cov).all()):
        return "the optimiser stopped with non-finite parameters or uncertainty"
    lower, upper = bounds
    at_bound = [k for k, v in enumerate(params)
                if np.isfinite(lower[k]) and np.isclose(v, lower[k], rtol=1e-2, atol=1e-9)
                or np.isfinite(upper[k]) and np.isclose(v, upper[k], rtol=1e-2, atol=1e-9)]
    if at_bound:
        names = ", ".join(PARAM_NAMES[name][k] for k in at_bound)
        return f"the best fit sits on the edge of what is plausible ({names}); the curve does not describe this data"
    factor = np.ones(len(params))
    for k, param in enumerate(PARAM_NAMES[name]):
        if param in ("P0", "L", "m", "a") or (name == "linear" and param == "b"):
            factor[k] = scale
    return params * factor, cov * np.outer(factor, factor)


def _aic(rss: float, n: int, k: int) -> float:
    return float(n * np.log(max(rss, 1e-12) / n) + 2 * k)


def _mape(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    keep = actual != 0
    if not keep.any():
        return None
    return float(np.mean(np.abs((actual[keep] - predicted[keep]) / actual[keep])) * 100)


@dataclass
class GrowthResult:
    metric: str
    period: str
    series: pd.DataFrame
    fits: dict[str, Fit]
    best: str | None
    holdout_days: int
    verdict: str

    def to_dict(self) -> dict:
        return {"metric": self.metric, "period": self.period, "holdout_days": self.holdout_days,
                "models": {name: fit.summary() for name, fit in self.fits.items()}, "best": self.best,
                "verdict": self.verdict}


def growth_series(con: duckdb.DuckDBPyConnection, metric: str = "users", period: str = "day") -> pd.DataFrame:
    """Cumulative ``value`` per ``day`` (the period's last day), every period present: day, new, value."""
    if metric not in METRICS:
        raise PondError(f"metric must be one of {', '.join(METRICS)}, not {metric!r}")
    if period not in PERIODS:
        raise PondError(f"period must be day or week, not {period!r}")
    daily = run_query(con, "growth_series")
    if daily.empty:
        raise InsufficientDataError("the warehouse holds no activity yet; import events or build the demo")
    daily["day"] = pd.to_datetime(daily["day"])
    full = pd.date_range(daily["day"].min(), daily["day"].max(), freq="D")
    daily = daily.set_index("day").reindex(full, fill_value=0).rename_axis("day")
    new = daily[METRICS[metric]].astype(float)
    if period == "week":
        new = new.resample("W-SUN").sum()
    frame = pd.DataFrame({"day": new.index.date, "new": new.to_numpy(), "value": new.cumsum().to_numpy()})
    return frame


def _forecast(name: str, params: np.ndarray, cov: np.ndarray, t_future: np.ndarray, sigma: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point forecast and a 95% band: parameter uncertainty (draws from the covariance) plus noise."""
    point = CURVES[name](t_future, *params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        draws = rng.multivariate_normal(params, cov, size=300, check_valid="ignore", method="eigh")
        curves = np.array([CURVES[name](t_future, *d) for d in draws])
    curves = curves[np.isfinite(curves).all(axis=1)]
    low = np.percentile(curves, 2.5, axis=0) if len(curves) else point
    high = np.percentile(curves, 97.5, axis=0) if len(curves) else point
    return point, np.minimum(low, point) - 1.96 * sigma, np.maximum(high, point) + 1.96 * sigma


def _describe(name: str, params: np.ndarray, first: date, step: int) -> tuple[float | None, date | None]:
    """Carrying capacity and inflection date of an S-curve (None for the others)."""
    p = dict(zip(PARAM_NAMES[name], params, strict=True))
    if name == "logistic":
        capacity, t_star = p["L"], p["c"] / p["r"]
    elif name == "gompertz":
        capacity, t_star = p["L"], np.log(p["b"]) / p["c"]
    elif name == "bass":
        capacity, t_star = p["m"], np.log(p["q"] / p["p"]) / (p["p"] + p["q"]) if p["q"] > p["p"] else 0.0
    else:
        return None, None
    days = float(t_star) * step
    # an inflection decades away is no date anyone can use (and may not fit in a calendar)
    return float(capacity), first + timedelta(days=days) if np.isfinite(days) and abs(days) < 36500 else None


def growth_fits(con: duckdb.DuckDBPyConnection, *, metric: str = "users", period: str = "day",
                holdout_days: int = 30, horizon_days: int = 60, random_state: int = 0) -> GrowthResult:
    """Fit every model to the cumulative series, backtest on the last ``holdout_days`` and forecast."""
    return fit_growth(growth_series(con, metric, period), metric=metric, period=period,
                      holdout_days=holdout_days, horizon_days=horizon_days, random_state=random_state)


def fit_growth(series: pd.DataFrame, *, metric: str = "users", period: str = "day", holdout_days: int = 30,
               horizon_days: int = 60, random_state: int = 0) -> GrowthResult:
    """:func:`growth_fits` on a ready series (columns day and value)."""
    step = PERIODS[period]
    y = series["value"].to_numpy(dtype=float)
    n = len(y)
    holdout = int(np.ceil(holdout_days / step))
    if n < MIN_POINTS or n - holdout < MIN_POINTS:
        raise InsufficientDataError(
            f"{n} {period}s of data, too few to fit growth curves and keep {holdout_days} days for the "
            f"backtest (at least {MIN_POINTS} {period}s before it); use daily periods, a shorter holdout or "
            "a longer history")
    if holdout < 1:
        raise PondError("the holdout must be at least one period")
    t = np.arange(n, dtype=float)
    first = series["day"].iloc[0]
    rng = np.random.default_rng(random_state)
    future_t = np.arange(n, n + int(np.ceil(horizon_days / step)), dtype=float)
    future_days = [first + timedelta(days=int(k) * step) for k in future_t]
    fits: dict[str, Fit] = {}
    tss = float(np.sum((y - y.mean()) ** 2)) or 1.0
    for name in (*CURVES, "naive"):
        if name == "naive":
            fitted = np.concatenate([[y[0]], y[:-1]])
            rss = float(np.sum((y - fitted) ** 2))
            sigma = float(np.std(np.diff(y))) if n > 2 else 0.0
            h = np.arange(1, len(future_t) + 1)
            fit = Fit(name, True, params={"last": float(y[-1])}, intervals={}, fitted=fitted,
                      r2=round(1 - rss / tss, 5), aic=round(_aic(rss, n, 1), 2))
            fit.forecast = pd.DataFrame({"day": future_days, "value": y[-1], "low": y[-1] - 1.96 * sigma * np.sqrt(h),
                                         "high": y[-1] + 1.96 * sigma * np.sqrt(h)})
            fits[name] = fit
            continue
        outcome = fit_curve(name, t, y)
        if isinstance(outcome, str):
            fits[name] = Fit(name, False, f"{outcome}; try weekly periods, another metric or a longer history")
            continue
        params, cov = outcome
        fitted = CURVES[name](t, *params)
        rss = float(np.sum((y - fitted) ** 2))
        k = len(params)
        se = np.sqrt(np.maximum(np.diag(cov), 0))
        sigma = np.sqrt(rss / max(n - k, 1))
        point, low, high = _forecast(name, params, cov, future_t, sigma, rng)
        capacity, inflection = _describe(name, params, first, step)
        fits[name] = Fit(
            name, True, params={p: round(float(v), 6) for p, v in zip(PARAM_NAMES[name], params, strict=True)},
            intervals={p: (round(float(v - 1.96 * s), 6), round(float(v + 1.96 * s), 6))
                       for p, v, s in zip(PARAM_NAMES[name], params, se, strict=True)},
            r2=round(1 - rss / tss, 5), aic=round(_aic(rss, n, k), 2), fitted=fitted,
            forecast=pd.DataFrame({"day": future_days, "value": point, "low": low, "high": high}),
            capacity=None if capacity is None else round(capacity, 2), inflection=inflection)
    # backtest: the same fits on the data before the holdout, scored on the holdout
    train_t, test_t, train_y, test_y = t[:-holdout], t[-holdout:], y[:-holdout], y[-holdout:]
    for name, fit in fits.items():
        if name == "naive":
            fit.holdout_mape = _round(_mape(test_y, np.full(len(test_y), train_y[-1])))
            continue
        outcome = fit_curve(name, train_t, train_y)
        if isinstance(outcome, str):
            if fit.ok:
                fit.message = f"backtest fit failed: {outcome}"
            continue
        fit.holdout_mape = _round(_mape(test_y, CURVES[name](test_t, *outcome[0])))
    scored = {name: fit.holdout_mape for name, fit in fits.items() if fit.ok and fit.holdout_mape is not None}
    # on a tie the simpler model wins: a curve must forecast better to be believed
    simplest_first = ("naive", "linear", "exponential", "logistic", "gompertz", "bass")
    best = min(scored, key=lambda n: (scored[n], simplest_first.index(n))) if scored else None
    return GrowthResult(metric, period, series, fits, best, holdout_days, _verdict(fits, best, holdout_days))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _verdict(fits: dict[str, Fit], best: str | None, holdout_days: int) -> str:
    if best is None:
        return "No model could be backtested; the series is too short or too irregular."
    mape = fits[best].holdout_mape
    curves = {n: fits[n].holdout_mape for n in S_CURVES if fits[n].ok and fits[n].holdout_mape is not None}
    if best in ("linear", "naive"):
        plain = "A straight line" if best == "linear" else "Carrying the last value forward"
        if curves:
            top = min(curves, key=curves.get)
            return (f"{plain} forecast the last {holdout_days} days best (MAPE {mape:.1f}%), better than every "
                    f"S-curve (best: {top}, {curves[top]:.1f}%). The data does not support a saturation curve: "
                    "do not read its capacity or inflection date as a forecast.")
        return f"{plain} forecast the last {holdout_days} days best (MAPE {mape:.1f}%); no S-curve fitted."
    if best == "exponential":
        return (f"Exponential growth forecast the last {holdout_days} days best (MAPE {mape:.1f}%); "
                "no slowdown is visible yet, and exponential growth never lasts: treat the forecast as short-term.")
    return (f"The {best} curve forecast the last {holdout_days} days best (MAPE {mape:.1f}%, against "
            f"{fits['linear'].holdout_mape or float('nan'):.1f}% for a straight line); its capacity and "
            "inflection date are supported by the backtest.")
