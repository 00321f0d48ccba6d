"""A synthetic SDOML v2 AIA archive, written in the real store's format, with a known degradation.

Format (as the real ``sdomlv2.zarr`` / ``sdomlv2_small.zarr``)
--------------------------------------------------------------
Written by SDOML's ``aia_fits_to_zarr.py`` (github.com/SDOML/SDOMLv2), read by the SDOML
notebooks (spaceml-org/helionb-sdoml) and the ``sdoml`` package:

- Zarr format 2; a group per year (``"2010"``...) holding one array per channel (``"94A"``,
  ``"131A"``, ``"171A"``, ``"193A"``, ``"211A"``, ``"304A"``, ``"335A"``, ``"1600A"``,
  ``"1700A"``), shape ``(N, 512, 512)``, ``float32``, in DN/s.
- Compressor ``Blosc(cname="zstd", clevel=5, shuffle=BITSHUFFLE)``; chunks of several whole frames
  (``(15, 512, 512)`` in the conversion script, ``(120, 512, 512)`` in ``sdomlv2_small.zarr``).
  Here ``chunks`` frames per chunk, at most the frames of the year.
- No ``_ARRAY_DIMENSIONS`` attribute: ``xarray.open_zarr`` cannot open it.
- Every FITS keyword is an array attribute holding a *list*, one entry per frame, in the array's
  frame order (``T_OBS``, ``EXPTIME``, ``WAVELNTH``, ``QUALITY``, ``CDELT1``...), plus the two the
  conversion adds: ``DEG_COR`` (the degradation factor it divided by) and ``PIXLUNIT = "DN/s"``.
- Frames are not in time order: days are stored out of order, frames within a day in order.
- ``T_OBS`` is the AIA level-1 string, UTC with a ``Z`` (``"2011-06-07T06:33:02.88Z"``),
  ``DATE-OBS`` the start of the exposure without ``Z``, ``T_REC`` the slot time
  (``"2011-06-07T06:33:03Z"``).
- The sun is rescaled to a radius of 976 arcsec in 2.4 arcsec synoptic pixels before binning, so
  the disk radius is fixed at ``976 / (2.4 * 1024 / size)`` pixels (203.3 at 512); ``CDELT1/2``
  and ``R_SUN`` are rescaled per frame accordingly, ``CRPIX1/2 = 512.5 / (1024 / size)``.

Pixel values
------------
For channel ``c`` and observation time ``t`` (``T_OBS``)::

    true_c(t)     noise-free, undegraded solar intensity [DN/s]          (SynthSDOML.true_frame)
    d_c(t)        injected degradation, the truth to recover              (SynthSDOML.degradation)
    D_c(t)        the archive's correction DEG_COR, deliberately wrong    (SynthSDOML.deg_cor)
    counts        = true_c(t) * d_c(t) * EXPTIME + noise                  [DN]
    stored        = max(counts / EXPTIME / D_c(t), 0)                     [DN/s, float32]

so ``stored * DEG_COR = true * d(t) + noise / EXPTIME`` (clipped at 0), the uncorrected rate.

``d_c(t) = w exp(-y / tau_f) + (1 - w) exp(-y / tau_s)``, ``y`` the years (365.25 d) since
:data:`DEGRADATION_EPOCH` (``d = 1`` before it), with ``(w, tau_f, tau_s)`` per channel in
:data:`DEFAULT_DEGRADATION` (2020-12-31: 94 0.60, 131 0.52, 171 0.50, 193 0.53, 211 0.44,
304 0.32, 335 0.35, 1600 0.80, 1700 0.85).

``D_c(t)`` imitates a calibration table: the piecewise-linear interpolation, in days, of the knots
``d_c(t_k) * (1 + beta_c * y_k / 10)`` at ``t_k`` = the epoch plus whole twelfths of a year,
evaluated at the start of the frame's UTC day (the conversion looks ``DEG_COR`` up by date);
``beta_c`` in :data:`DEG_COR_BIAS` (positive: the archive under-corrects). Monthly knots, like
the real ``DEG_COR`` (aiapy's smooth curve evaluated per date): the archive's error is then
its bias ``beta_c``, not the chord of a yearly table (which was up to 8 % for 335 A in the
first year, where the injected curve bends most).

``noise`` is Gaussian with variance ``g_c * counts + 1.18**2`` DN\\ :sup:`2` per 4096-pixel
(photon noise with ``g_c`` DN per photon, read noise 1.18 DN), divided by the binning
``4096 / size`` (the frame is a mean of binned pixels).

``true_c(t)`` is a quiet disk and corona, dimmed by coronal holes, plus active regions:

- disk (``rho = r / R < 1``, ``mu = sqrt(1 - rho**2)``): ``I0_c (1 + k_c (1 - mu))``; ``k_c > 0``
  limb brightening (optically thin EUV), ``k_c < 0`` limb darkening (1600, 1700, 4500);
- off disk: ``I0_c (1 + k_c) exp(-(rho - 1) / h_c)``; the quiet Sun is the same at every time;
- coronal holes born at a steady 0.05 per day, lifetimes 30-400 days (median 90), latitudes
  uniform in ``sin(lat)`` within +-64 degrees, angular radius 0.25-0.6 rad, rotating like the
  active regions; on the disk each multiplies the intensity by
  ``1 - D_c s e(t) exp(-(d / size)**4 / 2)``, ``d`` the angular distance to its centre, ``D_c``
  the channel's depth (0 for 1600, 1700, 4500), ``s`` in 0.6-1 and ``e`` ramping from 0 to 1
  over the first and last tenth of its life;
- active regions born at a rate ``0.02 + 0.55 a(t)`` per day, lifetime 10-150 days, random
  Carrington longitudes drifting with Snodgrass differential rotation, seen from the
  observer's ``CRLN_OBS``/``CRLT_OBS`` (so they rotate across the disk); each adds
  ``I0_c C_c s sin(pi age / lifetime) G**gamma_c v`` with ``G`` a Gaussian of the AR's size,
  ``s`` its strength and ``v`` a visibility that lets coronal loops show beyond the limb;
- the activity ``a(t)`` (``activity=``): ``"stationary"`` (default) ``a = 0.5`` and latitudes
  drawn from the whole butterfly diagram at every time, so that the undimmed Sun has the same
  statistics every year and the injected degradation can be told from it; ``"cycle24"``
  ``a(t) = sin(pi (year - 2008.96) / 11)**2`` (minimum Dec 2008, maximum 2014, minimum Dec
  2019) and latitudes drifting from 30 to 8 degrees over the cycle.

Everything is deterministic from ``seed``; frames missing at random (``missing_fraction`` per
channel), short automatic-exposure-control exposures and non-zero ``QUALITY`` flags are drawn from
it too. The header values follow the level-1.5 synoptic header (``DSUN_OBS``, ``RSUN_OBS``,
``CRLN_OBS``, ``CRLT_OBS``, ``CAR_ROT`` from simple ephemeris formulas, good to about a degree).
Non-zero ``QUALITY`` values are placeholders (bits 10, 13, 16); their meaning is not modelled.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numcodecs
import numpy as np
import pandas as pd
import zarr

from lascoproc.io.sdoml import AIA_CHANNELS, channel_name, open_store, wavelength_of

__all__ = [
    "DegradationCurve",
    "DEFAULT_DEGRADATION",
    "DEG_COR_BIAS",
    "DEGRADATION_EPOCH",
    "SynthSDOML",
    "write_sdoml_store",
]

#: Time from which the injected degradation runs (``d = 1`` there): the start of SDOML.
DEGRADATION_EPOCH = np.datetime64("2010-05-13T00:00:00", "ns")

_YEAR = 365.25  # days
_DAY_NS = 86_400 * 10**9

#: The conversion's compressor (SDOML/SDOMLv2 ``aia_fits_to_zarr.py``).
COMPRESSOR = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)

_RSUN_TARGET = 976.0  # arcsec: the conversion rescales every disk to this radius
_CDELT_SYNOPTIC = 2.4  # arcsec per 1024-pixel synoptic pixel
_RSUN_REF = 696_000_000.0
_AU = 149_597_870_691.0
_READ_NOISE = 1.18  # DN
_CARRINGTON_JD0 = 2398140.2270
_CARRINGTON_DAYS = 27.2752316
_CARRINGTON_RATE = 14.1844  # deg/day, sidereal


@dataclasses.dataclass(frozen=True)
class DegradationCurve:
    """``d(y) = w exp(-y / tau_f) + (1 - w) exp(-y / tau_s)``, ``y`` in years since the epoch."""

    fast_fraction: float
    fast_years: float
    slow_years: float

    def __call__(self, years: np.ndarray) -> np.ndarray:
        y = np.maximum(np.asarray(years, dtype=np.float64), 0.0)
        w = self.fast_fraction
        return w * np.exp(-y / self.fast_years) + (1.0 - w) * np.exp(-y / self.slow_years)


#: Injected degradation per channel (``w``, ``tau_f`` and ``tau_s`` in years).
DEFAULT_DEGRADATION: dict[str, DegradationCurve] = {
    "94A": DegradationCurve(0.15, 1.0, 30.0),
    "131A": DegradationCurve(0.20, 1.0, 25.0),
    "171A": DegradationCurve(0.15, 1.5, 20.0),
    "193A": DegradationCurve(0.10, 1.5, 20.0),
    "211A": DegradationCurve(0.20, 1.2, 18.0),
    "304A": DegradationCurve(0.35, 0.8, 15.0),
    "335A": DegradationCurve(0.40, 0.6, 20.0),
    "1600A": DegradationCurve(0.05, 2.0, 60.0),
    "1700A": DegradationCurve(0.03, 2.0, 80.0),
    "4500A": DegradationCurve(0.0, 1.0, 200.0),
}

#: Relative error of the archive's ``DEG_COR`` per decade (``beta_c``).
DEG_COR_BIAS: dict[str, float] = {
    "94A": 0.06, "131A": -0.04, "171A": 0.05, "193A": -0.03, "211A": 0.08,
    "304A": 0.12, "335A": -0.10, "1600A": 0.03, "1700A": -0.02, "4500A": 0.0,
}


@dataclasses.dataclass(frozen=True)
class _Channel:
    """Per-channel model and header constants (see the module docstring)."""

    quiet: float  # I0 [DN/s] at disk centre
    limb: float  # k
    scale_height: float  # h, in solar radii
    hole_depth: float  # D: fractional dimming at the centre of a coronal hole
    contrast: float  # C
    gamma: float  # shape exponent: < 1 broad (coronal), > 1 compact
    coronal: bool  # loops visible beyond the limb
    exptime: float  # s
    gain: float  # DN per photon
    instrume: str
    wave_str: str
    offset_s: float  # T_OBS offset within the observing slot


_CHANNELS: dict[str, _Channel] = {
    "94A": _Channel(1.2, 0.6, 0.08, 0.60, 25.0, 0.6, True, 2.9, 2.04, "AIA_4", "94_THIN",
                    2.57),
    "131A": _Channel(7.0, 0.5, 0.06, 0.50, 15.0, 0.7, True, 2.9, 1.46, "AIA_1", "131_THIN",
                     6.62),
    "171A": _Channel(450.0, 0.8, 0.07, 0.50, 3.0, 0.6, True, 2.0, 1.12, "AIA_3", "171_THIN",
                     9.35),
    "193A": _Channel(700.0, 0.9, 0.10, 0.80, 5.0, 0.6, True, 2.0, 0.99, "AIA_2", "193_THIN",
                     4.84),
    "211A": _Channel(200.0, 0.9, 0.09, 0.80, 7.0, 0.7, True, 2.9, 0.91, "AIA_2", "211_THIN",
                     0.62),
    "304A": _Channel(110.0, 0.2, 0.03, 0.35, 5.0, 1.0, False, 2.9, 0.63, "AIA_4", "304_THIN",
                     5.13),
    "335A": _Channel(8.0, 0.7, 0.10, 0.70, 15.0, 0.7, True, 2.9, 0.57, "AIA_1", "335_THIN",
                     1.12),
    "1600A": _Channel(70.0, -0.3, 0.004, 0.0, 3.0, 1.3, False, 2.9, 0.12, "AIA_3", "1600",
                      15.13),
    "1700A": _Channel(1100.0, -0.45, 0.004, 0.0, 1.0, 1.5, False, 1.0, 0.12, "AIA_3", "1700",
                      5.72),
    "4500A": _Channel(5000.0, -0.65, 0.003, 0.0, -0.5, 2.0, False, 1.0, 0.15, "AIA_3", "4500",
                      0.0),
}

_QUALITY_FLAGS = (1 << 10, 1 << 13, 1 << 16)


# --------------------------------------------------------------------------- ephemeris, cycle
def _years_since(times: np.ndarray, epoch: np.datetime64) -> np.ndarray:
    delta = (np.asarray(times, dtype="datetime64[ns]") - epoch).astype(np.float64)
    return delta / (_DAY_NS * _YEAR)


def _decimal_year(times: np.ndarray) -> np.ndarray:
    return 1970.0 + _years_since(times, np.datetime64("1970-01-01", "ns"))


def solar_cycle(times) -> np.ndarray:
    """Activity ``a(t) = sin(pi (year - 2008.96) / 11)**2`` in [0, 1] (cycle 24 and on)."""
    return np.sin(np.pi * (_decimal_year(times) - 2008.96) / 11.0) ** 2


#: Activity models of :func:`write_sdoml_store`.
ACTIVITY = ("stationary", "cycle24")


def _activity(times, activity: str) -> np.ndarray:
    """``a(t)``: :func:`solar_cycle` for ``"cycle24"``, its mean 0.5 for ``"stationary"``."""
    if activity == "cycle24":
        return solar_cycle(times)
    return np.full(np.shape(times), 0.5)


def _julian_day(times: np.ndarray) -> np.ndarray:
    days = (np.asarray(times, dtype="datetime64[ns]") - np.datetime64("1970-01-01", "ns"))
    return days.astype(np.float64) / _DAY_NS + 2440587.5


def _ephemeris(times: np.ndarray) -> dict[str, np.ndarray]:
    """Observer geometry: distance, apparent radius, B0 and Carrington longitude (approximate)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    doy = (times - times.astype("datetime64[Y]")).astype(np.float64) / _DAY_NS
    dsun = _AU * (1.0 - 0.0167 * np.cos(2 * np.pi * (doy - 3.0) / 365.256))
    rsun_obs = np.degrees(np.arctan(_RSUN_REF / dsun)) * 3600.0
    b0 = 7.25 * np.sin(2 * np.pi * (doy - 157.0) / 365.25)
    rotation = (_julian_day(times) - _CARRINGTON_JD0) / _CARRINGTON_DAYS
    car_rot = np.floor(rotation)
    crln = 360.0 * (1.0 - (rotation - car_rot))
    return {"DSUN_OBS": dsun, "RSUN_OBS": rsun_obs, "CRLT_OBS": b0, "CRLN_OBS": crln,
            "CAR_ROT": car_rot.astype(np.int64)}


# --------------------------------------------------------------------------- the sun model
@dataclasses.dataclass(frozen=True, eq=False)
class _ActiveRegions:
    birth: np.ndarray  # datetime64[ns]
    lifetime: np.ndarray  # days
    latitude: np.ndarray  # deg
    longitude: np.ndarray  # Carrington deg at birth
    size: np.ndarray  # radians on the sphere
    strength: np.ndarray


def _active_regions(rng: np.random.Generator, start: np.datetime64,
                    end: np.datetime64, activity: str) -> _ActiveRegions:
    """Births of a thinned Poisson process of rate ``0.02 + 0.55 a(t)`` per day."""
    first = start - np.timedelta64(160, "D")
    days = int((end - first) / np.timedelta64(1, "D")) + 1
    t_grid = first + np.arange(days) * np.timedelta64(1, "D")
    rate = 0.02 + 0.55 * _activity(t_grid, activity)
    counts = rng.poisson(rate)
    n = int(counts.sum())
    birth = np.repeat(t_grid, counts) + (rng.random(n) * _DAY_NS).astype("timedelta64[ns]")
    if activity == "cycle24":
        phase = ((_decimal_year(birth) - 2008.96) / 11.0) % 1.0
    else:  # latitudes of the whole butterfly diagram at every time
        phase = rng.random(n)
    latitude = np.clip(30.0 - 22.0 * phase + rng.normal(0.0, 4.0, n), 3.0, 45.0)
    latitude *= rng.choice([-1.0, 1.0], n)
    return _ActiveRegions(
        birth=birth,
        lifetime=np.clip(rng.lognormal(np.log(40.0), 0.6, n), 10.0, 150.0),
        latitude=latitude,
        longitude=rng.uniform(0.0, 360.0, n),
        size=rng.uniform(0.02, 0.06, n),
        strength=np.clip(rng.lognormal(0.0, 0.6, n), 0.2, 5.0),
    )


def _coronal_holes(rng: np.random.Generator, start: np.datetime64,
                   end: np.datetime64) -> _ActiveRegions:
    """Coronal holes: births at a steady ``0.05`` per day (no cycle), lifetimes of months.

    ``size`` is the angular radius (radians) of the hole's super-Gaussian profile
    ``exp(-(d / size)**4 / 2)``, ``strength`` its depth relative to the channel's
    ``hole_depth`` (1 at most).
    """
    first = start - np.timedelta64(400, "D")
    days = int((end - first) / np.timedelta64(1, "D")) + 1
    t_grid = first + np.arange(days) * np.timedelta64(1, "D")
    counts = rng.poisson(np.full(days, 0.05))
    n = int(counts.sum())
    birth = np.repeat(t_grid, counts) + (rng.random(n) * _DAY_NS).astype("timedelta64[ns]")
    return _ActiveRegions(
        birth=birth,
        lifetime=np.clip(rng.lognormal(np.log(90.0), 0.5, n), 30.0, 400.0),
        latitude=np.degrees(np.arcsin(rng.uniform(-0.9, 0.9, n))),
        longitude=rng.uniform(0.0, 360.0, n),
        size=rng.uniform(0.25, 0.6, n),
        strength=rng.uniform(0.6, 1.0, n),
    )


class _SunModel:
    """Noise-free, undegraded intensity of a channel at a time (see the module docstring)."""

    #: Photon-noise gain multiplier and read noise [DN] of the camera model (writer's noise).
    noise_scale = 1.0
    read_noise = _READ_NOISE

    def __init__(self, size: int, regions: _ActiveRegions, holes: _ActiveRegions | None = None,
                 activity: str = "stationary"):
        self.size = size
        self.activity = activity
        self.binning = 4096 / size
        self.radius = _RSUN_TARGET / (_CDELT_SYNOPTIC * 1024 / size)
        self.crpix = 512.5 / (1024 / size)
        self.center = self.crpix - 1.0  # 0-based pixel of the disk centre
        self.regions = regions
        self.holes = holes
        yy, xx = np.indices((size, size), dtype=np.float64)
        self._rho = np.hypot(xx - self.center, yy - self.center) / self.radius
        # heliographic unit vectors of the on-disk pixels (x right, y down the rows, z to us)
        self._disk = np.flatnonzero(self._rho.ravel() < 1.0)
        xs = ((xx - self.center) / self.radius).ravel()[self._disk]
        ys = ((yy - self.center) / self.radius).ravel()[self._disk]
        self._xyz = np.stack([xs, ys, np.sqrt(np.clip(1.0 - xs**2 - ys**2, 0.0, 1.0))])
        self._quiet: dict[str, np.ndarray] = {}

    def short_exposure_probability(self, channel: str, times: np.ndarray) -> np.ndarray | None:
        """Chance that AIA's automatic exposure control shortens a frame (``None``: never).

        ``0.03 a(t)`` for the EUV channels, the activity ``a`` standing in for the flare rate.
        """
        if channel in ("1600A", "1700A", "4500A"):
            return None
        return 0.03 * _activity(times, self.activity)

    def quiet(self, channel: str) -> np.ndarray:
        """Quiet disk and corona (the same at every time), ``float64 (size, size)``."""
        if channel not in self._quiet:
            par = _CHANNELS[channel]
            rho = self._rho
            mu = np.sqrt(np.clip(1.0 - rho**2, 0.0, 1.0))
            disk = par.quiet * (1.0 + par.limb * (1.0 - mu))
            off = par.quiet * (1.0 + par.limb) * np.exp(-(rho - 1.0) / par.scale_height)
            self._quiet[channel] = np.where(rho < 1.0, disk, off)
        return self._quiet[channel]

    def frame(self, channel: str, time: np.datetime64) -> np.ndarray:
        """``true_c(t)`` [DN/s], ``float64 (size, size)``."""
        par = _CHANNELS[channel]
        time = np.datetime64(time, "ns")
        image = self.quiet(channel).copy()
        self._dim_holes(image, par, time)
        self._add_regions(image, channel, par, time)
        return image

    @staticmethod
    def _alive(features: _ActiveRegions, time) -> tuple[np.ndarray, np.ndarray]:
        age = (time - features.birth).astype(np.float64) / _DAY_NS
        return np.flatnonzero((age > 0.0) & (age < features.lifetime)), age

    @staticmethod
    def _project(features: _ActiveRegions, alive: np.ndarray, age: np.ndarray, time):
        """Unit vectors ``(x, y, z)`` of features, differentially rotated, seen at ``time``."""
        eph = _ephemeris(np.array([time]))
        b0 = np.radians(eph["CRLT_OBS"][0])
        lat = np.radians(features.latitude[alive])
        sin2 = np.sin(lat) ** 2
        sidereal = 14.713 - 2.396 * sin2 - 1.787 * sin2**2
        lon = features.longitude[alive] + (sidereal - _CARRINGTON_RATE) * age[alive]
        cmd = np.radians(lon - eph["CRLN_OBS"][0])
        x = np.cos(lat) * np.sin(cmd)
        y = np.sin(lat) * np.cos(b0) - np.cos(lat) * np.cos(cmd) * np.sin(b0)
        z = np.sin(lat) * np.sin(b0) + np.cos(lat) * np.cos(cmd) * np.cos(b0)
        return x, y, z

    def _dim_holes(self, image, par, time):
        """``image *= prod_h (1 - D_c s_h e_h(t) exp(-(d_h / size_h)**4 / 2))`` on the disk."""
        holes = self.holes
        if holes is None or par.hole_depth == 0.0:
            return
        alive, age = self._alive(holes, time)
        if alive.size == 0:
            return
        x, y, z = self._project(holes, alive, age, time)
        # holes open and close over a tenth of their life each
        frac = age[alive] / holes.lifetime[alive]
        envelope = np.clip(np.minimum(frac, 1.0 - frac) / 0.1, 0.0, 1.0)
        factor = np.ones(self._disk.size)
        for k in range(alive.size):
            if z[k] < -0.6:
                continue
            cos_d = self._xyz[0] * x[k] + self._xyz[1] * y[k] + self._xyz[2] * z[k]
            d = np.arccos(np.clip(cos_d, -1.0, 1.0)) / holes.size[alive[k]]
            factor *= 1.0 - (par.hole_depth * holes.strength[alive[k]] * envelope[k]
                             * np.exp(-0.5 * d**4))
        flat = image.reshape(-1)
        flat[self._disk] *= factor

    def _add_regions(self, image, channel, par, time):
        reg = self.regions
        alive, age = self._alive(reg, time)
        if alive.size == 0:
            return
        x, y, z = self._project(reg, alive, age, time)
        if par.coronal:
            visible = np.clip((z + 0.15) / 0.3, 0.0, 1.0)
        else:
            visible = np.clip(z / 0.1, 0.0, 1.0)
        envelope = np.sin(np.pi * age[alive] / reg.lifetime[alive])
        weight = par.quiet * reg.strength[alive] * envelope * visible
        px = self.center + self.radius * x
        py = self.center + self.radius * y
        sigma = reg.size[alive] * self.radius / np.sqrt(par.gamma)
        for a, s, cx, cy in zip(weight * par.contrast, sigma, px, py, strict=True):
            _add_gaussian(image, a, s, cx, cy)
        np.maximum(image, 0.0, out=image)


def _add_gaussian(image: np.ndarray, amplitude: float, sigma: float, cx: float,
                  cy: float) -> None:
    """``image += amplitude exp(-((x - cx)**2 + (y - cy)**2) / (2 sigma**2))``, cut at 4 sigma."""
    if amplitude == 0.0:
        return
    n = image.shape[0]
    half = int(math.ceil(4.0 * sigma))
    x0, x1 = max(int(cx) - half, 0), min(int(cx) + half + 2, n)
    y0, y1 = max(int(cy) - half, 0), min(int(cy) + half + 2, n)
    if x0 >= x1 or y0 >= y1:
        return
    gx = np.exp(-0.5 * ((np.arange(x0, x1) - cx) / sigma) ** 2)
    gy = np.exp(-0.5 * ((np.arange(y0, y1) - cy) / sigma) ** 2)
    image[y0:y1, x0:x1] += amplitude * np.outer(gy, gx)


# --------------------------------------------------------------------------- the result
@dataclasses.dataclass(frozen=True, eq=False)
class SynthSDOML:
    """What :func:`write_sdoml_store` wrote, and the truth behind it.

    Attributes
    ----------
    url
        Root of the store.
    channels
        Channel group names written (``"171A"``...).
    size, seed, chunks
        As passed.
    nominal_times
        The observing slots (``datetime64[ns]``); each channel's ``T_OBS`` is a slot plus the
        channel's offset and a jitter.
    frames
        Per channel, a table of the frames in *storage* order: ``year``, ``index`` (position in
        the year's array), ``t_obs`` (``datetime64[ns]``, exactly the stored string),
        ``t_obs_str`` (the stored ``T_OBS``), ``nominal_index`` (the slot), ``exptime``,
        ``quality``.
    """

    url: str
    channels: tuple[str, ...]
    size: int
    seed: int
    chunks: int
    nominal_times: np.ndarray
    frames: Mapping[str, pd.DataFrame]
    _model: Any = dataclasses.field(repr=False)
    _degradation: Mapping[str, Any] = dataclasses.field(repr=False)
    _deg_cor_bias: Mapping[str, float] = dataclasses.field(
        repr=False, default_factory=lambda: dict(DEG_COR_BIAS))

    @property
    def years(self) -> tuple[int, ...]:
        """Year groups written."""
        return tuple(sorted({int(y) for f in self.frames.values() for y in f["year"]}))

    def t_obs(self, channel) -> np.ndarray:
        """Sorted ``T_OBS`` of the frames of ``channel`` present in the store."""
        return np.sort(self.frames[channel_name(channel)]["t_obs"].to_numpy("datetime64[ns]"))

    def degradation(self, channel, times) -> np.ndarray:
        """The injected degradation ``d_c(t)`` (the truth a degradation estimate should find)."""
        curve = self._degradation[channel_name(channel)]
        return curve(_years_since(_as_times(times), DEGRADATION_EPOCH))

    def deg_cor(self, channel, times) -> np.ndarray:
        """The archive's ``DEG_COR`` at ``times``: the stored data were divided by it."""
        name = channel_name(channel)
        curve = self._degradation[name]
        times = _as_times(times)
        days = times.astype("datetime64[D]").astype("datetime64[ns]")
        end = max(days.max(), np.datetime64("2030-01-01", "ns"))
        n_knots = 12 * (int(_years_since(np.array([end]), DEGRADATION_EPOCH)[0]) + 2)
        knot_years = np.arange(n_knots, dtype=np.float64) / 12.0
        bias = self._deg_cor_bias.get(name, 0.0)
        knots = curve(knot_years) * (1.0 + bias * knot_years / 10.0)
        return np.interp(_years_since(days, DEGRADATION_EPOCH), knot_years, knots)

    def true_frame(self, channel, time) -> np.ndarray:
        """Noise-free, undegraded ``true_c(t)`` [DN/s], ``float64 (size, size)``."""
        return self._model.frame(channel_name(channel), np.datetime64(_as_times([time])[0]))


def _as_times(times) -> np.ndarray:
    values = pd.to_datetime(np.atleast_1d(np.asarray(times)), utc=True)
    return values.tz_convert(None).to_numpy("datetime64[ns]")


# --------------------------------------------------------------------------- header strings
def _iso(times: np.ndarray, *, decimals: int, zulu: bool) -> list[str]:
    """``YYYY-MM-DDTHH:MM:SS[.ff][Z]`` with ``decimals`` digits (truncated, like the headers)."""
    unit = {0: "s", 2: "10ms"}[decimals]
    text = np.datetime_as_string(np.asarray(times).astype(f"datetime64[{unit}]"), unit="ms")
    cut = 19 if decimals == 0 else 20 + decimals
    suffix = "Z" if zulu else ""
    return [s[:cut] + suffix for s in text]


# --------------------------------------------------------------------------- writer
def write_sdoml_store(
    root,
    *,
    start="2010-05-13",
    end="2020-12-31",
    cadence="30D",
    channels: Sequence = AIA_CHANNELS,
    size: int = 512,
    seed: int = 0,
    chunks: int = 120,
    degradation: Mapping[Any, DegradationCurve] | None = None,
    missing_fraction: float = 0.03,
    noise: bool = True,
    storage_options: Mapping[str, Any] | None = None,
    threads: int | None = None,
    progress: bool = False,
    activity: str = "stationary",
    sun: Callable[..., Any] | None = None,
    deg_cor_bias: Mapping[Any, float] | None = None,
) -> SynthSDOML:
    """Write a synthetic SDOML v2 AIA store (see the module docstring for format and formulas).

    Parameters
    ----------
    root
        Local path or fsspec URL of the store (``file://``, ``memory://``...); overwritten.
    start, end, cadence
        Observing slots ``pandas.date_range(start, end, freq=cadence)``.
    channels
        Channels to write (``"171A"``, ``171`` or ``"171"``).
    size
        Frame size in pixels (512 as the real store; 64 or 128 for tests; a divisor of 1024).
    seed
        Seeds every random draw (active regions, noise, missing frames, storage order).
    chunks
        Frames per chunk along time (capped at the frames of each year).
    degradation
        Per-channel :class:`DegradationCurve` replacing :data:`DEFAULT_DEGRADATION` entries.
    missing_fraction
        Probability that a channel misses a slot (channels miss different slots).
    noise
        Add photon and read noise (``False``: ``stored * DEG_COR == true * d`` to float32).
    storage_options
        fsspec options for a remote ``root``.
    threads
        Arrays written concurrently (default: the CPU count).
    progress
        Show a progress bar.
    activity
        ``"stationary"`` (default) or ``"cycle24"``: the active regions' birth rate and
        latitudes (module docstring).
    sun
        Another Sun: ``sun(size=, slots=, seed=)`` returns an object with ``size``,
        ``binning``, ``noise_scale``, ``read_noise``, ``frame(channel, time)`` and
        ``short_exposure_probability(channel, times)`` (see :class:`_SunModel`); used by the
        generator family (:mod:`lascoproc.testing.sdoml_family`). ``activity`` is then unused.
    deg_cor_bias
        Per-channel ``beta_c`` replacing :data:`DEG_COR_BIAS` entries.
    """
    names = tuple(channel_name(c) for c in channels)
    threads = threads or os.cpu_count() or 1
    curves = dict(DEFAULT_DEGRADATION)
    for key, curve in (degradation or {}).items():
        curves[channel_name(key)] = curve
    start64, end64 = _as_times([start])[0], _as_times([end])[0]
    slots = pd.date_range(start64, end64, freq=cadence).to_numpy("datetime64[ns]")
    if slots.size == 0:
        raise ValueError(f"no observing slot between {start} and {end} at cadence {cadence}")

    if sun is not None:
        model = sun(size=size, slots=slots, seed=seed)
    else:
        if activity not in ACTIVITY:
            raise ValueError(f"activity must be one of {ACTIVITY}, got {activity!r}")
        regions = _active_regions(np.random.default_rng([seed, 0]), slots[0], slots[-1],
                                  activity)
        holes = _coronal_holes(np.random.default_rng([seed, 4]), slots[0], slots[-1])
        model = _SunModel(size, regions, holes, activity)
    bias = dict(DEG_COR_BIAS)
    for key, value in (deg_cor_bias or {}).items():
        bias[channel_name(key)] = float(value)
    store = open_store(str(root), storage_options, mode="w")
    group = zarr.open_group(store=store, mode="w", zarr_format=2)

    tables = {}
    jobs = []
    for ci, name in enumerate(names):
        table = _frame_table(name, ci, slots, seed, missing_fraction, model)
        tables[name] = table
        for year, frames in table.groupby("year", sort=True):
            jobs.append((ci, name, int(year), frames))
    synth = SynthSDOML(
        url=str(root), channels=names, size=size, seed=seed, chunks=chunks,
        nominal_times=slots, frames=tables, _model=model, _degradation=curves,
        _deg_cor_bias=bias,
    )
    for year in sorted({job[2] for job in jobs}):
        group.require_group(str(year))

    def write(job):
        ci, name, year, frames = job
        _write_year(group[str(year)], synth, ci, name, frames, noise=noise)

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(jobs)))) as pool:
        done = pool.map(write, jobs)
        if progress:
            from tqdm.auto import tqdm

            done = tqdm(done, total=len(jobs), desc="writing SDOML", unit="array")
        for _ in done:
            pass
    return synth


def _frame_table(name: str, ci: int, slots: np.ndarray, seed: int,
                 missing_fraction: float, model) -> pd.DataFrame:
    """Frames of one channel: which slots, their T_OBS, EXPTIME, QUALITY and storage order."""
    par = _CHANNELS[name]
    rng = np.random.default_rng([seed, 1, ci])
    present = np.flatnonzero(rng.random(slots.size) >= missing_fraction)
    jitter = rng.uniform(-0.3, 0.3, slots.size)[present]
    exact = slots[present] + ((par.offset_s + jitter) * 1e9).astype("timedelta64[ns]")
    t_obs_str = _iso(exact, decimals=2, zulu=True)
    t_obs = _as_times([s[:-1] for s in t_obs_str])
    exptime = par.exptime * (1.0 + rng.normal(0.0, 5e-4, present.size))
    chance = model.short_exposure_probability(name, t_obs)
    if chance is not None:
        short = rng.random(present.size) < chance
        exptime = np.where(short, exptime * rng.uniform(0.1, 0.3, present.size), exptime)
    quality = np.where(rng.random(present.size) < 0.02,
                       rng.choice(_QUALITY_FLAGS, present.size), 0).astype(np.int64)
    table = pd.DataFrame({
        "year": t_obs.astype("datetime64[Y]").astype(np.int64) + 1970,
        "t_obs": t_obs,
        "t_obs_str": t_obs_str,
        "nominal_index": present,
        "exptime": np.round(exptime, 6),
        "quality": quality,
    })
    # storage order: days out of order, frames of a day in time order (as the real store)
    day = t_obs.astype("datetime64[D]")
    parts = []
    for year, frames in table.groupby("year", sort=True):
        days = np.unique(day[frames.index])
        perm = np.random.default_rng([seed, 2, ci, int(year)]).permutation(days.size)
        rank = {d: r for r, d in enumerate(days[perm])}
        key = np.array([rank[d] for d in day[frames.index]])
        ordered = frames.iloc[np.lexsort((frames["t_obs"].to_numpy(), key))].copy()
        ordered["index"] = np.arange(len(ordered))
        parts.append(ordered)
    table = pd.concat(parts, ignore_index=True)
    return table[["year", "index", "t_obs", "t_obs_str", "nominal_index", "exptime", "quality"]]


def _write_year(year_group, synth: SynthSDOML, ci: int, name: str, frames: pd.DataFrame, *,
                noise: bool) -> None:
    par = _CHANNELS[name]
    model = synth._model
    n, size = len(frames), synth.size
    chunk = max(1, min(synth.chunks, n))
    array = year_group.create_array(
        name, shape=(n, size, size), chunks=(chunk, size, size), dtype="float32",
        compressors=COMPRESSOR, fill_value=0.0, overwrite=True,
    )
    t_obs = frames["t_obs"].to_numpy("datetime64[ns]")
    d = synth.degradation(name, t_obs)
    deg_cor = synth.deg_cor(name, t_obs)
    exptime = frames["exptime"].to_numpy()
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        block = np.empty((hi - lo, size, size), dtype=np.float32)
        for k, i in enumerate(range(lo, hi)):
            counts = model.frame(name, t_obs[i]) * (d[i] * exptime[i])
            if noise:
                rng = np.random.default_rng(
                    [synth.seed, 3, ci, int(frames["nominal_index"].iloc[i])])
                sigma = np.sqrt(par.gain * model.noise_scale * np.maximum(counts, 0.0)
                                + model.read_noise**2)
                counts += sigma / model.binning * rng.standard_normal((size, size))
            block[k] = np.maximum(counts / (exptime[i] * deg_cor[i]), 0.0)
        array[lo:hi] = block
    array.attrs.put(_header_lists(name, frames, model, deg_cor))


def _header_lists(name: str, frames: pd.DataFrame, model: _SunModel,
                  deg_cor: np.ndarray) -> dict[str, list]:
    """The per-frame keyword lists of one year's array, as the conversion writes them."""
    par = _CHANNELS[name]
    n = len(frames)
    t_obs = frames["t_obs"].to_numpy("datetime64[ns]")
    exptime = frames["exptime"].to_numpy()
    eph = _ephemeris(t_obs)
    divide = 1024 / model.size
    date_obs = t_obs - (exptime / 2 * 1e9).astype("timedelta64[ns]")
    t_rec = (t_obs + np.timedelta64(500, "ms")).astype("datetime64[s]")
    rsun_obs = eph["RSUN_OBS"]
    cdelt = _CDELT_SYNOPTIC * divide * rsun_obs / _RSUN_TARGET
    r_sun_synoptic = rsun_obs / 0.6  # in 0.6 arcsec pixels, as R_SUN of the level-1.5 header
    fsn = 10_000_000 + frames["nominal_index"].to_numpy() * 100 + list(_CHANNELS).index(name)

    def const(value):
        return [value] * n

    def floats(values):
        return [float(v) for v in values]

    return {
        "NAXIS": const(2),
        "NAXIS1": const(float(model.size)),
        "NAXIS2": const(float(model.size)),
        "BLD_VERS": const("V5R12X"),
        "LVL_NUM": const(1.5),
        "T_REC": _iso(t_rec, decimals=0, zulu=True),
        "ORIGIN": const("SDO"),
        "TELESCOP": const("SDO"),
        "INSTRUME": const(par.instrume),
        "DATE-OBS": _iso(date_obs, decimals=2, zulu=False),
        "T_OBS": list(frames["t_obs_str"]),
        "CAMERA": const(int(par.instrume[-1])),
        "IMG_TYPE": const("LIGHT"),
        "EXPTIME": floats(exptime),
        "WAVELNTH": const(wavelength_of(name)),
        "WAVEUNIT": const("angstrom"),
        "WAVE_STR": const(par.wave_str),
        "FSN": [int(v) for v in fsn],
        "QUALITY": [int(v) for v in frames["quality"]],
        "CTYPE1": const("HPLN-TAN"),
        "CUNIT1": const("arcsec"),
        "CRVAL1": const(0.0),
        "CDELT1": floats(cdelt),
        "CRPIX1": const(512.5 / divide),
        "CTYPE2": const("HPLT-TAN"),
        "CUNIT2": const("arcsec"),
        "CRVAL2": const(0.0),
        "CDELT2": floats(cdelt),
        "CRPIX2": const(512.5 / divide),
        "CROTA2": const(0.0),
        "R_SUN": floats(r_sun_synoptic / (4.0 * divide) * _RSUN_TARGET / rsun_obs),
        "X0_MP": const(2048.0 / (4.0 * divide)),
        "Y0_MP": const(2048.0 / (4.0 * divide)),
        "DSUN_REF": const(_AU),
        "DSUN_OBS": floats(eph["DSUN_OBS"]),
        "RSUN_REF": const(_RSUN_REF),
        "RSUN_OBS": floats(rsun_obs),
        "CRLN_OBS": floats(eph["CRLN_OBS"]),
        "CRLT_OBS": floats(eph["CRLT_OBS"]),
        "CAR_ROT": [int(v) for v in eph["CAR_ROT"]],
        "HGLN_OBS": const(0.0),
        "HGLT_OBS": floats(eph["CRLT_OBS"]),
        "DEG_COR": floats(deg_cor),
        "PIXLUNIT": const("DN/s"),
    }


