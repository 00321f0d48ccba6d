"""A family of synthetic SDOML v2 stores: independently drawn Suns and degradation curves.

Why a family
------------
A degradation method tuned on one synthetic Sun learns that Sun. Its evidence has to come from
Suns it was not tuned on (STYLE rule 19). Each *member* of this family is a store in the real
SDOML v2 format (written by :func:`lascoproc.testing.sdoml.write_sdoml_store`) with its own
physics and its own injected degradation, drawn independently from the ranges below. The
members are named and have a role:

- ``tuning``: the members a method may be developed on (figures on them are development aids);
- ``heldout``: realistic members (temperature spread <= 0.05 dex, weekly or denser cadence),
  never used while developing; the results that count are on these;
- ``harsh``: beyond the realistic range (spread 0.15 dex, monthly frames), reported, not
  tuned to.

:data:`FAMILY` holds them all; :func:`member` returns one by name; :meth:`Member.write` writes
its store. The draws are fixed by each member's seed, so a member is the same store on every
machine. ``project`` is the project's original store (:func:`write_sdoml_store`'s defaults).

The physics (:class:`Physics`, :class:`PhysicalSun`)
----------------------------------------------------
Intensities come from a differential emission measure (DEM) seen through per-channel
temperature responses, so that a change of the corona's temperature changes the channels
*differently*, as on the Sun:

- **Temperature responses.** ``R_c(log T) = sum_k w_k exp(-(log T - t_k)**2 / (2 s_k**2))``,
  the peaks of :data:`TEMPERATURE_RESPONSES` (after the AIA responses of Boerner et al. 2012,
  Sol. Phys. 275, 41, Fig. 11: 94 A Fe X 6.05 and Fe XVIII 6.85; 131 A Fe VIII 5.6 and Fe XXI
  7.05; 171 A Fe IX 5.85; 193 A Fe XII 6.2 and Fe XXIV 7.25; 211 A Fe XIV 6.3; 304 A He II 4.9
  with a weak Si XI 6.25; 335 A Fe XVI 6.45 with a cool part). Each member shifts every peak by
  ``N(0, response_jitter)`` dex and scales its width by ``U(0.85, 1.2)``.
- **DEM of a Gaussian component** ``N(mu, sigma)`` in ``log T`` seen by a Gaussian peak:
  ``K(mu, sigma) = sum_k w_k s_k / sqrt(sigma**2 + s_k**2)
  exp(-(mu - t_k)**2 / (2 (sigma**2 + s_k**2)))`` (the product of two Gaussians integrated;
  :func:`dem_kernel`).
- **Quiet Sun.** A fixed transition-region component ``N(5.45, 0.25)`` of weight
  ``transition_weight`` plus the corona ``N(corona_log_t + delta(t), corona_width)``;
  channel ``c`` has ``I_c(t) = I0_c Q_c(delta(t)) / Q_c(0)`` at disk centre
  (``Q_c = w_TR K_c(5.45, 0.25) + K_c(corona_log_t + delta, corona_width)``), ``I0_c`` the
  project's quiet levels.
- **Temperature spread.** ``delta(t)``, the frame-to-frame shift of the corona's temperature
  distribution, is a stationary AR(1) process over the observing slots: standard deviation
  ``temperature_spread`` [dex], correlation ``exp(-dt / temperature_memory_days)``. Its
  long-term mean is zero: a cycle-long drift of the quiet Sun's temperature is a uniform change
  of the channels' brightness that no calibration from reference years can tell from
  degradation (docs/aia_degradation.md), and it is not in this family.
- **Corona above the limb.** Hydrostatic: the scale height is proportional to the temperature,
  ``h_c(t) = scale_height h_c 10**delta(t)``; ``corona_profile`` ``"exponential"``
  (``exp(-(rho - 1) / h)``) or ``"power"`` (``rho**(-1 / h)``, the same slope at the limb).
- **Limb brightening** ``1 + limb_brightening k_c (1 - mu)`` on the disk.
- **Active regions**: births at ``ar_rate`` per day (``activity="stationary"``), or
  ``ar_rate (0.04 + 1.92 a(t))`` (``"cycle24"``: the mean rate is the same), brightness
  ``ar_brightness`` times ``0.4 + 1.2 a(t)`` with the cycle. Each region has its own
  temperature ``ar_log_t + N(0, 0.08)`` plus ``ar_follow delta(t)``; channel ``c`` sees the
  project's contrast ``C_c`` times ``K_c(T_AR, 0.2) / K_c(6.45, 0.2)``. ``ar_shape``
  ``"gaussian"`` (one compact source) or ``"bipolar"`` (two footpoint lobes, tilted by Joy's
  law, and a loop top in the coronal channels).
- **Coronal holes** at ``hole_rate`` per day, their depth scaled by ``hole_depth``.
- **Flares** in a fraction ``flare_fraction`` of the observing slots: a compact hot source
  ``N(7.0 .. 7.2, 0.15)`` at an active region on the disk, brightness lognormal; AIA's
  automatic exposure control shortens the EUV exposures of most flare frames.
- **Noise**: photon noise with the project's gains times ``noise``, read noise ``read_noise``.

Degradation curves (one per channel, shapes drawn per member): :class:`DegradationCurve`
(two exponentials, ``"exponential"`` and the fast 304-like ``"fast"``), :class:`LinearCurve`
(``"flat"``), :class:`BakeoutCurve` (``"bakeout"``: declines with partial recoveries) and
:class:`WavyCurve` (``"nonmonotonic"``). The archive's ``DEG_COR`` is wrong by
``1 + beta_c y / 10``, ``beta_c`` drawn in +-0.12.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from lascoproc.io.sdoml import channel_name
from lascoproc.testing.sdoml import (
    _CHANNELS,
    _DAY_NS,
    _READ_NOISE,
    DEFAULT_DEGRADATION,
    DEG_COR_BIAS,
    DEGRADATION_EPOCH,
    DegradationCurve,
    SynthSDOML,
    _ActiveRegions,
    _add_gaussian,
    _decimal_year,
    _SunModel,
    write_sdoml_store,
)

__all__ = [
    "EUV",
    "TEMPERATURE_RESPONSES",
    "dem_kernel",
    "LinearCurve",
    "BakeoutCurve",
    "WavyCurve",
    "Physics",
    "PhysicalSun",
    "Member",
    "FAMILY",
    "member",
    "members",
]

#: The EUV channels written by the family's members.
EUV = ("94A", "131A", "171A", "193A", "211A", "304A", "335A")

#: Temperature response peaks per channel: ``(log T, width [dex], weight)``.
TEMPERATURE_RESPONSES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "94A": ((6.05, 0.10, 0.15), (6.85, 0.12, 1.0)),
    "131A": ((5.60, 0.12, 1.0), (7.05, 0.12, 2.0)),
    "171A": ((5.85, 0.10, 1.0),),
    "193A": ((6.20, 0.12, 1.0), (7.25, 0.12, 0.8)),
    "211A": ((6.30, 0.12, 1.0),),
    "304A": ((4.90, 0.15, 1.0), (6.25, 0.12, 0.02)),
    "335A": ((6.45, 0.15, 1.0), (5.45, 0.15, 0.2)),
}

_TR_LOG_T, _TR_WIDTH = 5.45, 0.25  # the quiet Sun's transition-region component
_AR_LOG_T, _AR_WIDTH = 6.45, 0.20  # where the project's active-region contrasts hold
_FLARE_WIDTH = 0.15
#: Flare contrast per channel at log T 7.1 (peak over the quiet level, before the source's
#: own brightness): hot lines (94, 131, 193's Fe XXIV, 335) far above the cool ones.
_FLARE_CONTRAST = {"94A": 400.0, "131A": 300.0, "171A": 8.0, "193A": 40.0, "211A": 25.0,
                   "304A": 15.0, "335A": 80.0}


def dem_kernel(peaks, mu, sigma) -> np.ndarray:
    """What a channel with response ``peaks`` sees of a Gaussian DEM ``N(mu, sigma)`` in log T.

    ``sum_k w_k s_k / sqrt(sigma**2 + s_k**2) exp(-(mu - t_k)**2 / (2 (sigma**2 + s_k**2)))``:
    the integral over ``log T`` of ``exp(-(x - t_k)**2 / (2 s_k**2))`` against the normal
    density ``N(x; mu, sigma)``. ``mu`` may be an array.
    """
    mu = np.asarray(mu, dtype=np.float64)
    out = np.zeros(mu.shape)
    for t, s, w in peaks:
        var = sigma**2 + s**2
        out = out + w * s / math.sqrt(var) * np.exp(-((mu - t) ** 2) / (2.0 * var))
    return out


# --------------------------------------------------------------------------- curves
@dataclasses.dataclass(frozen=True)
class LinearCurve:
    """``d(y) = max(1 - rate y, 0.05)``: a nearly flat channel (``rate`` per year)."""

    rate: float
    shape: str = "flat"

    def __call__(self, years) -> np.ndarray:
        y = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
        return np.maximum(1.0 - self.rate * y, 0.05)


@dataclasses.dataclass(frozen=True)
class BakeoutCurve:
    """Exponential decline with partial recoveries, as after AIA's CCD bake-outs.

    Between bake-outs ``d`` falls as ``L_k exp(-(y - y_k) / tau)``; at bake-out ``y_{k+1}``
    a fraction ``r_k`` of the loss since ``y_k`` is recovered:
    ``L_{k+1} = d(y_{k+1}) + r_k (L_k - d(y_{k+1}))``. ``y_0 = 0``, ``L_0 = 1``.
    """

    tau: float
    bakeouts: tuple[float, ...]
    recovery: tuple[float, ...]
    shape: str = "bakeout"

    def __call__(self, years) -> np.ndarray:
        y = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
        starts = [0.0]
        levels = [1.0]
        for when, frac in zip(self.bakeouts, self.recovery, strict=True):
            before = levels[-1] * math.exp(-(when - starts[-1]) / self.tau)
            levels.append(before + frac * (levels[-1] - before))
            starts.append(when)
        k = np.searchsorted(np.asarray(starts), y, side="right") - 1
        return np.asarray(levels)[k] * np.exp(-(y - np.asarray(starts)[k]) / self.tau)


@dataclasses.dataclass(frozen=True)
class WavyCurve:
    """A non-monotonic curve: ``exp(-y / tau) (1 + a (sin(2 pi y / P + phi) - sin(phi)))``."""

    tau: float
    amplitude: float
    period: float
    phase: float
    shape: str = "nonmonotonic"

    def __call__(self, years) -> np.ndarray:
        y = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
        wave = np.sin(2 * np.pi * y / self.period + self.phase) - math.sin(self.phase)
        return np.exp(-y / self.tau) * (1.0 + self.amplitude * wave)


def _shape_of(curve) -> str:
    if isinstance(curve, DegradationCurve):
        return "fast" if curve.fast_fraction >= 0.5 else "exponential"
    return curve.shape


SHAPES = ("exponential", "fast", "flat", "bakeout", "nonmonotonic")


def _draw_curve(rng: np.random.Generator, shape: str):
    """One degradation curve of ``shape``, parameters from the family's ranges."""
    if shape == "exponential":
        return DegradationCurve(float(rng.uniform(0.05, 0.4)), float(rng.uniform(0.6, 2.0)),
                                float(rng.uniform(10.0, 40.0)))
    if shape == "fast":
        return DegradationCurve(float(rng.uniform(0.55, 0.8)), float(rng.uniform(0.4, 1.0)),
                                float(rng.uniform(8.0, 25.0)))
    if shape == "flat":
        return LinearCurve(float(rng.uniform(0.002, 0.012)))
    if shape == "bakeout":
        n = int(rng.integers(2, 5))
        when = np.sort(rng.uniform(0.8, 10.0, n))
        return BakeoutCurve(float(rng.uniform(2.0, 8.0)), tuple(float(w) for w in when),
                            tuple(float(r) for r in rng.uniform(0.2, 0.6, n)))
    if shape == "nonmonotonic":
        # the wave's slope a 2 pi / P must beat the decline's 1 / tau for the curve to rise
        tau, period = float(rng.uniform(8.0, 30.0)), float(rng.uniform(1.5, 4.0))
        amplitude = min(0.12, float(rng.uniform(1.5, 3.0)) * period / (2 * np.pi * tau))
        return WavyCurve(tau, amplitude, period, float(rng.uniform(0.0, 2 * np.pi)))
    raise ValueError(f"unknown curve shape {shape!r}; one of {SHAPES}")


# --------------------------------------------------------------------------- physics
@dataclasses.dataclass(frozen=True)
class Physics:
    """The physical parameters of a member's Sun (module docstring for the formulas)."""

    temperature_spread: float = 0.0
    temperature_memory_days: float = 0.0
    corona_log_t: float = 6.15
    corona_width: float = 0.22
    transition_weight: float = 0.3
    response_jitter: float = 0.0
    activity: str = "stationary"
    ar_rate: float = 0.295
    ar_brightness: float = 1.0
    ar_log_t: float = 6.45
    ar_follow: float = 0.5
    ar_shape: str = "gaussian"
    hole_rate: float = 0.05
    hole_depth: float = 1.0
    flare_fraction: float = 0.0
    limb_brightening: float = 1.0
    scale_height: float = 1.0
    corona_profile: str = "exponential"
    noise: float = 1.0
    read_noise: float = _READ_NOISE

    def __post_init__(self):
        if self.activity not in ("stationary", "cycle24"):
            raise ValueError(f"activity must be 'stationary' or 'cycle24', got {self.activity!r}")
        if self.ar_shape not in ("gaussian", "bipolar"):
            raise ValueError(f"ar_shape must be 'gaussian' or 'bipolar', got {self.ar_shape!r}")
        if self.corona_profile not in ("exponential", "power"):
            raise ValueError(f"corona_profile must be 'exponential' or 'power', got "
                             f"{self.corona_profile!r}")
        if self.temperature_spread < 0 or not 0 <= self.flare_fraction < 1:
            raise ValueError("temperature_spread must be >= 0 and flare_fraction in [0, 1)")


def _cycle(times) -> np.ndarray:
    """Cycle-24 activity ``sin(pi (year - 2008.96) / 11)**2``."""
    return np.sin(np.pi * (_decimal_year(times) - 2008.96) / 11.0) ** 2


def _temperature_shifts(rng, slots: np.ndarray, spread: float, memory_days: float):
    """``delta`` per slot: a stationary AR(1) process of standard deviation ``spread``."""
    n = slots.size
    noise = rng.standard_normal(n)
    if spread == 0.0 or n == 0:
        return np.zeros(n)
    out = np.empty(n)
    out[0] = noise[0]
    gaps = np.diff(slots).astype(np.float64) / _DAY_NS
    for i in range(1, n):
        rho = math.exp(-gaps[i - 1] / memory_days) if memory_days > 0 else 0.0
        out[i] = rho * out[i - 1] + math.sqrt(1.0 - rho * rho) * noise[i]
    return spread * out


def _regions(rng, start, end, *, rate, lifetime, size, strength,
             lead_days: int, latitude=None) -> _ActiveRegions:
    first = start - np.timedelta64(lead_days, "D")
    days = int((end - first) / np.timedelta64(1, "D")) + 1
    grid = first + np.arange(days) * np.timedelta64(1, "D")
    counts = rng.poisson(rate(grid))
    n = int(counts.sum())
    birth = np.repeat(grid, counts) + (rng.random(n) * _DAY_NS).astype("timedelta64[ns]")
    lat = latitude(birth, n) if latitude is not None else \
        np.degrees(np.arcsin(rng.uniform(-0.9, 0.9, n)))
    return _ActiveRegions(
        birth=birth, lifetime=lifetime(n), latitude=lat,
        longitude=rng.uniform(0.0, 360.0, n), size=size(n), strength=strength(birth, n))


class PhysicalSun(_SunModel):
    """A member's Sun: DEM-based channel intensities, temperature shifts, flares, shapes.

    Built by :meth:`Member.write` through ``write_sdoml_store(sun=...)``; the geometry
    (disk, rotation, coronal-hole profiles) is the project's (:class:`_SunModel`).
    """

    def __init__(self, size: int, slots: np.ndarray, seed: int, physics: Physics,
                 responses: Mapping[str, tuple[tuple[float, float, float], ...]]):
        self.physics = physics
        self.responses = dict(responses)
        self.slots = np.asarray(slots, dtype="datetime64[ns]")
        p = physics
        cycle = p.activity == "cycle24"

        def activity(times):
            return _cycle(times) if cycle else np.full(np.shape(times), 0.5)

        rng = np.random.default_rng([seed, 10])
        regions = _regions(
            rng, self.slots[0], self.slots[-1], lead_days=160,
            rate=lambda t: p.ar_rate * (0.04 + 1.92 * activity(t)),
            lifetime=lambda n: np.clip(rng.lognormal(np.log(40.0), 0.6, n), 10.0, 150.0),
            size=lambda n: rng.uniform(0.02, 0.06, n),
            strength=lambda b, n: p.ar_brightness * (0.4 + 1.2 * activity(b))
            * np.clip(rng.lognormal(0.0, 0.6, n), 0.2, 5.0),
            latitude=lambda b, n: self._butterfly(rng, b, n, cycle))
        holes = _regions(
            np.random.default_rng([seed, 11]), self.slots[0], self.slots[-1],
            lead_days=400, rate=lambda t: np.full(t.shape, p.hole_rate),
            lifetime=lambda n: np.clip(np.random.default_rng([seed, 12]).lognormal(
                np.log(90.0), 0.5, n), 30.0, 400.0),
            size=lambda n: np.random.default_rng([seed, 13]).uniform(0.25, 0.6, n),
            strength=lambda b, n: np.clip(p.hole_depth * np.random.default_rng(
                [seed, 14]).uniform(0.6, 1.0, n), 0.0, 1.0))
        super().__init__(size, regions, holes, "cycle24" if cycle else "stationary")
        self.noise_scale = p.noise
        self.read_noise = p.read_noise
        self.delta = _temperature_shifts(np.random.default_rng([seed, 15]), self.slots,
                                         p.temperature_spread, p.temperature_memory_days)
        extra = np.random.default_rng([seed, 16])
        self.ar_log_t = p.ar_log_t + extra.normal(0.0, 0.08, regions.birth.size)
        self.ar_tilt = np.radians(extra.uniform(0.0, 15.0, regions.birth.size))
        flares = np.random.default_rng([seed, 17])
        self.flaring = flares.random(self.slots.size) < p.flare_fraction
        self.flare_log_t = flares.uniform(7.0, 7.2, self.slots.size)
        self.flare_strength = np.clip(flares.lognormal(0.0, 1.0, self.slots.size), 0.1, 20.0)
        self.flare_pick = flares.random(self.slots.size)
        self._qs0 = {c: self._quiet_dem(c, 0.0) for c in self.responses}

    @staticmethod
    def _butterfly(rng, birth, n, cycle: bool) -> np.ndarray:
        phase = ((_decimal_year(birth) - 2008.96) / 11.0) % 1.0 if cycle else rng.random(n)
        latitude = np.clip(30.0 - 22.0 * phase + rng.normal(0.0, 4.0, n), 3.0, 45.0)
        return latitude * rng.choice([-1.0, 1.0], n)

    # --------------------------------------------------------------- per-slot state
    def slot(self, time) -> int:
        """Index of the observing slot nearest ``time``."""
        t = np.datetime64(time, "ns")
        i = int(np.searchsorted(self.slots, t))
        if i == self.slots.size or (i > 0 and t - self.slots[i - 1] < self.slots[i] - t):
            i -= 1
        return i

    def _quiet_dem(self, channel: str, delta) -> np.ndarray:
        p = self.physics
        peaks = self.responses[channel]
        return (p.transition_weight * dem_kernel(peaks, _TR_LOG_T, _TR_WIDTH)
                + dem_kernel(peaks, p.corona_log_t + np.asarray(delta), p.corona_width))

    def quiet_factor(self, channel: str, delta) -> np.ndarray:
        """``Q_c(delta) / Q_c(0)``: the quiet Sun's brightness change for a shift ``delta``."""
        return self._quiet_dem(channel, delta) / self._qs0[channel]

    def short_exposure_probability(self, channel, times):
        if channel not in _FLARE_CONTRAST:
            return None
        index = np.array([self.slot(t) for t in np.asarray(times)], dtype=np.int64)
        base = 0.01 + 0.02 * (self._cycle_or_half(times))
        return np.where(self.flaring[index], 0.7, base)

    def _cycle_or_half(self, times):
        return _cycle(times) if self.activity == "cycle24" else np.full(np.shape(times), 0.5)

    # --------------------------------------------------------------- the frame
    def quiet(self, channel: str, delta: float = 0.0) -> np.ndarray:
        """Quiet disk and corona for a temperature shift ``delta``, ``float64 (size, size)``."""
        par = _CHANNELS[channel]
        p = self.physics
        rho = self._rho
        mu = np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0))
        level = par.quiet * float(self.quiet_factor(channel, delta))
        k = par.limb * p.limb_brightening
        disk = level * (1.0 + k * (1.0 - mu))
        height = par.scale_height * p.scale_height * 10.0**delta
        with np.errstate(divide="ignore"):
            if p.corona_profile == "exponential":
                off = level * (1.0 + k) * np.exp(-(rho - 1.0) / height)
            else:
                off = level * (1.0 + k) * np.power(np.maximum(rho, 1.0), -1.0 / height)
        return np.where(rho < 1.0, disk, off)

    def frame(self, channel: str, time) -> np.ndarray:
        par = _CHANNELS[channel]
        time = np.datetime64(time, "ns")
        i = self.slot(time)
        delta = float(self.delta[i])
        image = self.quiet(channel, delta)
        self._dim_holes(image, par, time)
        self._add_family_regions(image, channel, par, time, delta)
        if self.flaring[i]:
            self._add_flare(image, channel, par, time, i)
        np.maximum(image, 0.0, out=image)
        return image

    def _ar_factor(self, channel: str, log_t: np.ndarray) -> np.ndarray:
        peaks = self.responses[channel]
        return dem_kernel(peaks, log_t, _AR_WIDTH) / dem_kernel(peaks, _AR_LOG_T, _AR_WIDTH)

    def _add_family_regions(self, image, channel, par, time, delta):
        reg = self.regions
        alive, age = self._alive(reg, time)
        if alive.size == 0:
            return
        x, y, z = self._project(reg, alive, age, time)
        visible = np.clip((z + 0.15) / 0.3, 0.0, 1.0) if par.coronal else \
            np.clip(z / 0.1, 0.0, 1.0)
        envelope = np.sin(np.pi * age[alive] / reg.lifetime[alive])
        temperature = self.ar_log_t[alive] + self.physics.ar_follow * delta
        weight = (par.quiet * par.contrast * reg.strength[alive] * envelope * visible
                  * self._ar_factor(channel, temperature))
        px = self.center + self.radius * x
        py = self.center + self.radius * y
        sigma = reg.size[alive] * self.radius / np.sqrt(par.gamma)
        tilt = self.ar_tilt[alive] * np.sign(reg.latitude[alive])
        for a, s, cx, cy, th in zip(weight, sigma, px, py, tilt, strict=True):
            if self.physics.ar_shape == "gaussian":
                _add_gaussian(image, a, s, cx, cy)
                continue
            # bipolar: two footpoint lobes along the (tilted) east-west line, and a loop top
            dx, dy = 1.2 * s * math.cos(th), 1.2 * s * math.sin(th)
            lobe = 0.7 * s
            share = 0.35 if par.coronal else 0.5
            _add_gaussian(image, share * a, lobe, cx - dx, cy - dy)
            _add_gaussian(image, share * a, lobe, cx + dx, cy + dy)
            if par.coronal:
                _add_gaussian(image, 0.3 * a, 1.3 * s, cx, cy - 0.5 * s)

    def _add_flare(self, image, channel, par, time, i):
        reg = self.regions
        alive, age = self._alive(reg, time)
        if alive.size == 0:
            return
        x, y, z = self._project(reg, alive, age, time)
        on_disk = np.flatnonzero(z > 0.1)
        if on_disk.size == 0:
            return
        k = on_disk[min(int(self.flare_pick[i] * on_disk.size), on_disk.size - 1)]
        peaks = self.responses[channel]
        hot = dem_kernel(peaks, self.flare_log_t[i], _FLARE_WIDTH) / \
            dem_kernel(peaks, 7.1, _FLARE_WIDTH)
        amplitude = par.quiet * _FLARE_CONTRAST[channel] * self.flare_strength[i] * hot
        sigma = max(0.008 * self.radius, 0.6)
        _add_gaussian(image, float(amplitude), sigma, self.center + self.radius * x[k],
                      self.center + self.radius * y[k])


# --------------------------------------------------------------------------- members
@dataclasses.dataclass(frozen=True)
class Member:
    """A named member of the family: its role, physics, curves, cadence and size.

    Attributes
    ----------
    name, role
        ``role`` is ``"tuning"``, ``"heldout"`` or ``"harsh"`` (module docstring).
    physics
        The Sun (``None``: the project's Sun, :func:`write_sdoml_store`'s defaults).
    curves
        ``((channel, curve), ...)`` injected degradation per channel.
    deg_cor_bias
        ``((channel, beta), ...)``: the archive's ``DEG_COR`` error per decade.
    responses
        ``((channel, peaks), ...)``: the member's temperature responses.
    cadence, size, seed, chunks, missing_fraction, start, end
        As :func:`write_sdoml_store`.
    """

    name: str
    role: str
    physics: Physics | None
    curves: tuple[tuple[str, Any], ...]
    deg_cor_bias: tuple[tuple[str, float], ...]
    responses: tuple[tuple[str, tuple[tuple[float, float, float], ...]], ...]
    cadence: str
    size: int
    seed: int
    chunks: int = 32
    missing_fraction: float = 0.03
    start: str = "2010-05-13"
    end: str = "2020-12-31"

    @property
    def shapes(self) -> dict[str, str]:
        """The shape of each channel's injected curve."""
        return {c: _shape_of(curve) for c, curve in self.curves}

    def degradation(self, channel, times) -> np.ndarray:
        """The injected degradation ``d_c(t)`` (what :class:`SynthSDOML` reports too)."""
        curve = dict(self.curves)[channel_name(channel)]
        years = np.asarray(times, dtype="datetime64[ns]") - DEGRADATION_EPOCH
        return curve(years.astype(np.float64) / (_DAY_NS * 365.25))

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for reports and the docs' tables)."""
        out = {"name": self.name, "role": self.role, "cadence": self.cadence,
               "size": self.size, "seed": self.seed, "shapes": self.shapes,
               "deg_cor_bias": dict(self.deg_cor_bias)}
        if self.physics is not None:
            out["physics"] = dataclasses.asdict(self.physics)
        return out

    def write(self, root, *, threads: int | None = None, progress: bool = False,
              **overrides) -> SynthSDOML:
        """Write this member's store at ``root`` (overwritten); ``overrides`` go to the writer
        (e.g. ``end=`` or ``size=`` for a small test copy of a member)."""
        kwargs = dict(start=self.start, end=self.end, cadence=self.cadence, channels=EUV,
                      size=self.size, seed=self.seed, chunks=self.chunks,
                      degradation=dict(self.curves), missing_fraction=self.missing_fraction,
                      deg_cor_bias=dict(self.deg_cor_bias), threads=threads,
                      progress=progress)
        if self.physics is not None:
            physics, responses = self.physics, dict(self.responses)

            def sun(*, size, slots, seed):
                return PhysicalSun(size, slots, seed, physics, responses)

            kwargs["sun"] = sun
        kwargs.update(overrides)
        return write_sdoml_store(root, **kwargs)


def _draw(name: str, role: str, seed: int, *, spread: float, cadence: str, size: int,
          ar_shape: str | None = None, corona_profile: str | None = None,
          activity: str | None = None, flares: bool | None = None,
          shapes: tuple[str, ...] = SHAPES) -> Member:
    """A member with physics and curves drawn from the family's ranges (fixed by ``seed``).

    The code paths may be fixed (``ar_shape``, ``corona_profile``, ``activity``, ``flares``);
    everything else is drawn: the ranges are the module docstring's.
    """
    rng = np.random.default_rng([seed, 99])

    def pick(options, given):
        return given if given is not None else str(options[int(rng.integers(len(options)))])

    has_flares = bool(rng.random() < 0.6) if flares is None else flares
    physics = Physics(
        temperature_spread=spread,
        temperature_memory_days=float(rng.uniform(0.0, 5.0)),
        corona_log_t=float(rng.uniform(6.05, 6.25)),
        corona_width=float(rng.uniform(0.18, 0.30)),
        transition_weight=float(rng.uniform(0.15, 0.45)),
        response_jitter=0.03,
        activity=pick(("stationary", "cycle24"), activity),
        ar_rate=float(rng.uniform(0.1, 0.5)),
        ar_brightness=float(rng.uniform(0.5, 2.0)),
        ar_log_t=float(rng.uniform(6.35, 6.6)),
        ar_follow=float(rng.uniform(0.0, 1.0)),
        ar_shape=pick(("gaussian", "bipolar"), ar_shape),
        hole_rate=float(rng.choice([0.0, rng.uniform(0.02, 0.08)])),
        hole_depth=float(rng.uniform(0.6, 1.2)),
        flare_fraction=float(rng.uniform(0.01, 0.05)) if has_flares else 0.0,
        limb_brightening=float(rng.uniform(0.5, 1.5)),
        scale_height=float(rng.uniform(0.8, 1.25)),
        corona_profile=pick(("exponential", "power"), corona_profile),
        noise=float(rng.uniform(0.5, 3.0)),
        read_noise=float(rng.uniform(1.0, 3.0)),
    )
    responses = []
    for c in EUV:
        peaks = tuple((t + float(rng.normal(0.0, physics.response_jitter)),
                       s * float(rng.uniform(0.85, 1.2)), w)
                      for t, s, w in TEMPERATURE_RESPONSES[c])
        responses.append((c, peaks))
    curves = []
    for c in EUV:
        options = shapes
        if c == "304A" and "fast" in shapes and rng.random() < 0.5:
            options = ("fast",)
        curves.append((c, _draw_curve(rng, options[int(rng.integers(len(options)))])))
    bias = tuple((c, float(rng.uniform(-0.12, 0.12))) for c in EUV)
    return Member(name=name, role=role, physics=physics, curves=tuple(curves),
                  deg_cor_bias=bias, responses=tuple(responses), cadence=cadence, size=size,
                  seed=seed, missing_fraction=float(rng.uniform(0.0, 0.03)))


def _project_member() -> Member:
    return Member(
        name="project", role="tuning", physics=None,
        curves=tuple((c, DEFAULT_DEGRADATION[c]) for c in EUV),
        deg_cor_bias=tuple((c, DEG_COR_BIAS[c]) for c in EUV),
        responses=(), cadence="30D", size=512, seed=0, chunks=120)


def _family() -> dict[str, Member]:
    members = [
        _project_member(),
        # tuning: the code paths of the project's Sun (Gaussian regions, exponential corona)
        _draw("tune-a", "tuning", 101, spread=0.03, cadence="7D", size=256,
              ar_shape="gaussian", corona_profile="exponential", activity="stationary",
              flares=False),
        _draw("tune-b", "tuning", 102, spread=0.05, cadence="3D", size=128,
              ar_shape="gaussian", corona_profile="exponential", activity="cycle24",
              flares=True),
        _draw("tune-c", "tuning", 103, spread=0.10, cadence="14D", size=256,
              ar_shape="gaussian", corona_profile="exponential", flares=True),
        # held out: realistic (spread <= 0.05 dex, weekly or denser), other code paths
        _draw("heldout-1", "heldout", 201, spread=0.05, cadence="7D", size=256,
              ar_shape="bipolar", corona_profile="power", activity="cycle24", flares=True),
        _draw("heldout-2", "heldout", 202, spread=0.035, cadence="1D", size=128,
              ar_shape="bipolar", activity="stationary"),
        _draw("heldout-3", "heldout", 203, spread=0.045, cadence="2D", size=256,
              corona_profile="power", activity="cycle24"),
        _draw("heldout-4", "heldout", 204, spread=0.02, cadence="12h", size=128,
              ar_shape="bipolar", flares=True),
        _draw("heldout-5", "heldout", 205, spread=0.05, cadence="7D", size=512,
              corona_profile="power", flares=True),
        # harsh: beyond the realistic range, reported, never tuned to
        _draw("harsh-1", "harsh", 301, spread=0.15, cadence="30D", size=512),
        _draw("harsh-2", "harsh", 302, spread=0.15, cadence="30D", size=256,
              ar_shape="bipolar", flares=True),
    ]
    return {m.name: m for m in members}


#: Every member by name.
FAMILY: dict[str, Member] = _family()


def member(name: str) -> Member:
    """The member called ``name`` (:data:`FAMILY`)."""
    try:
        return FAMILY[name]
    except KeyError:
        raise ValueError(f"no family member {name!r}; members: {sorted(FAMILY)}") from None


def members(role: str | None = None) -> list[Member]:
    """The members with ``role`` (all when ``None``), in :data:`FAMILY` order."""
    return [m for m in FAMILY.values() if role is None or m.role == role]
