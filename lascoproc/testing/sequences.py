"""Synthetic level-1 LASCO sequences with moving CMEs and evolving streamers (numpy, xarray).

For the temporal fill (``lascoproc.inpaint`` ``method="temporal"``) and its evaluation: a cube
shaped as :func:`lascoproc.calibrate.level1.calibrate_level1` makes it (``brightness`` in MSB,
NaN where ``quality != 0``; ``quality`` bits 1 missing telemetry, 2 outside the field; per-frame
coordinates ``time``, ``detector``, ``filter``, ``polarizer``, ``crpix1``/``crpix2``, ``cdelt``,
``rsun``), together with the truth (the brightness before any block was lost) and the lost
blocks. Independent of the network's training scenes (:mod:`lascoproc.inpaint.synthetic`): other
code, other models.

What is in a frame at time ``t`` (approximate LASCO numbers, not a fit to any data):

- geometry: a full frame ``size x size`` (1024: C2 11.9 and C3 56 arcsec per pixel, scaled for
  other sizes), the Sun near the centre, occulter (C2 2.2, C3 3.7 Rsun), field stop (C2 6.0,
  C3 30 Rsun, cut by the frame's corners), pylon;
- K corona ``k0 r^-a`` (C2 9000 DN/s at 1 Rsun, ``a`` 3.8; C3 12000, 3.0) modulated by 3-6
  streamers (Gaussian in position angle, 6-20 deg wide, narrowing outwards, position angle
  drifting 0-4 deg per day, brightness varying by 10-30% over 1-3 days) and by fine rays (a
  random angular profile whose pattern changes over 6-24 hours), with outflowing blobs (10-30;
  5-20% of the local K corona, 200-450 km/s);
- F corona ``f0 r^-b`` (C2 375, 2.2; C3 4000, 1.9), flattened along the ecliptic;
- CMEs: a bright curved front (1.5-3 times the K corona, thickness 8% of its radius), a darker
  cavity and a bright core, 20-45 deg half-width, 300-1500 km/s from 1.5 Rsun at a random time;
- stars (C2: 60, C3: 400 per full frame, brightness with a power-law distribution) drifting
  0.9856 deg per day as the Sun moves among them;
- exposure 26 s (C2), 19 s (C3), gain 15 electrons per DN, read noise 8 electrons: Poisson-like
  noise, then MSB with ``calfac`` (C2 6.3e-12, C3 4.6e-13 MSB per DN/s); frame-to-frame
  exposure errors of 0.5%;
- lost blocks: ``missing_blocks`` random 32 x 32 blocks of the grid per frame (a fraction of the
  block size for smaller frames), among those inside the field.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

__all__ = ["SequenceSpec", "Sequence", "make_sequence", "RSUN_ARCSEC"]

RSUN_ARCSEC = 960.0
RSUN_KM = 695_700.0
_STAR_DRIFT = 0.9856 * 3600.0  # arcsec per day


@dataclasses.dataclass(frozen=True)
class _Instrument:
    platescale: float  # arcsec per pixel of a 1024 frame
    occulter: float  # Rsun
    field: float  # Rsun
    pylon_pa: float  # deg, image position angle (from +y, counter-clockwise)
    k: tuple[float, float]
    f: tuple[float, float]
    stars: int
    exptime: float
    calfac: float
    filter: str


_INSTRUMENTS = {
    "C2": _Instrument(11.9, 2.2, 6.0, 128.0, (9000.0, 3.8), (375.0, 2.2), 60, 26.0, 6.3e-12,
                      "Orange"),
    "C3": _Instrument(56.0, 3.7, 30.0, 135.0, (12000.0, 3.0), (4000.0, 1.9), 400, 19.0,
                      4.6e-13, "Clear"),
}


@dataclasses.dataclass(frozen=True)
class SequenceSpec:
    """One synthetic sequence.

    Attributes
    ----------
    detector
        ``"C2"`` or ``"C3"``.
    frames, cadence_minutes
        Number of frames and their spacing (LASCO: 12 min for C3, 12-24 min for C2).
    size
        Frame edge in pixels (a full 1024 frame by default; smaller frames scale the
        plate scale, as a summed frame does).
    cmes
        CMEs launched during the sequence.
    missing_blocks
        ``(low, high)`` lost blocks per frame.
    seed
        Everything random comes from it.
    start
        Time of the first frame.
    """

    detector: str = "C3"
    frames: int = 12
    cadence_minutes: float = 12.0
    size: int = 1024
    cmes: int = 2
    missing_blocks: tuple[int, int] = (2, 8)
    seed: int = 0
    start: str = "2003-10-28T00:00"

    def __post_init__(self):
        if self.detector not in _INSTRUMENTS:
            raise ValueError(f"detector must be C2 or C3, not {self.detector!r}")
        if self.frames < 1 or self.size < 64 or self.cadence_minutes <= 0:
            raise ValueError(f"invalid sequence {self}")


@dataclasses.dataclass(frozen=True)
class Sequence:
    """A synthetic level-1 cube with lost blocks, its truth (noisy, as observed), the noise-free
    brightness (``clean``: what no fill can beat on average) and the lost pixels."""

    cube: xr.Dataset
    truth: np.ndarray
    clean: np.ndarray
    lost: np.ndarray


def _angular_profile(rng, n: int = 4096, slope: float = 1.6) -> np.ndarray:
    m = np.arange(n // 2 + 1, dtype=np.float64)
    amp = np.zeros_like(m)
    amp[3:] = m[3:] ** (-slope / 2)
    g = np.fft.irfft(amp * (rng.standard_normal(m.size) + 1j * rng.standard_normal(m.size)), n)
    return (g - g.mean()) / g.std()


def _lookup(profile: np.ndarray, theta: np.ndarray) -> np.ndarray:
    n = profile.size
    pos = (theta % (2 * np.pi)) * (n / (2 * np.pi))
    i0 = np.floor(pos).astype(np.int64)
    f = pos - i0
    return profile[i0 % n] * (1 - f) + profile[(i0 + 1) % n] * f


class _Sky:
    """Everything that persists across the frames of one sequence."""

    def __init__(self, spec: SequenceSpec, rng: np.random.Generator):
        inst = _INSTRUMENTS[spec.detector]
        self.inst = inst
        self.scale = inst.platescale * 1024.0 / spec.size  # arcsec per pixel
        self.rsun_px = RSUN_ARCSEC / self.scale
        n = spec.size
        self.center = (n / 2 - 0.5 + rng.normal(0, 0.01 * n),
                       n / 2 - 0.5 + rng.normal(0, 0.01 * n))
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
        dx, dy = xx - self.center[0], yy - self.center[1]
        self.r = np.hypot(dx, dy) / self.rsun_px  # Rsun
        self.pa = np.arctan2(-dx, dy)  # position angle, radians from +y counter-clockwise
        k0, ka = inst.k
        f0, fb = inst.f
        r = np.maximum(self.r, 0.5 * inst.occulter)
        self.k_base = k0 * r ** -ka
        self.f_corona = f0 * r ** -fb * (0.85 + 0.3 * np.sin(self.pa) ** 2)
        centres = rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7)))
        m = centres.size
        self.streamers = np.column_stack([
            centres, np.radians(rng.uniform(6, 20, m)), rng.uniform(0.8, 3.0, m),
            np.radians(rng.normal(0, 2.0, m)),  # drift per day
            rng.uniform(0.1, 0.3, m), rng.uniform(1.0, 3.0, m), rng.uniform(0, 2 * np.pi, m)])
        self.rays = (_angular_profile(rng), _angular_profile(rng))
        self.ray_contrast = rng.uniform(0.1, 0.3)
        self.ray_time = rng.uniform(6.0, 24.0) * 60.0  # minutes for a new pattern
        nb = int(rng.integers(10, 31))
        self.blobs = np.column_stack([
            self.streamers[rng.integers(0, m, nb), 0] + np.radians(rng.normal(0, 5, nb)),
            rng.uniform(inst.occulter, 0.7 * inst.field, nb),  # radius at t = 0, Rsun
            rng.uniform(200, 450, nb) * 60.0 / RSUN_KM,  # Rsun per minute
            rng.uniform(0.05, 0.2, nb),  # contrast
            np.radians(rng.uniform(1.0, 3.0, nb)),  # angular half size
            rng.uniform(0.1, 0.3, nb) * inst.occulter])  # radial half size, Rsun
        duration = spec.frames * spec.cadence_minutes
        self.cmes = [(rng.uniform(-0.3, 0.8) * duration,  # launch time, minutes
                      rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(20, 45)),
                      rng.uniform(300, 1500) * 60.0 / RSUN_KM, rng.uniform(1.5, 3.0))
                     for _ in range(spec.cmes)]
        half = 0.75 * n * self.scale
        drift = _STAR_DRIFT * duration / 1440.0
        count = int(inst.stars * (1.0 + drift / (2 * half)))
        self.stars = np.column_stack([
            rng.uniform(-half - drift, half, count), rng.uniform(-half, half, count),
            np.minimum(2.0 * rng.uniform(1e-4, 1.0, count) ** (-1 / 0.8), 3000.0)])
        # the field: occulter, field stop, pylon (outside) and the exposure errors
        ux, uy = -np.sin(np.radians(inst.pylon_pa)), np.cos(np.radians(inst.pylon_pa))
        along = dx * ux + dy * uy
        across = np.abs(dx * uy - dy * ux)
        pylon = (along > 0) & (across < 0.02 * n)
        self.outside = (self.r < inst.occulter) | (self.r > inst.field) | pylon

    def rate(self, t: float) -> np.ndarray:
        """Noise-free brightness (DN/s) at ``t`` minutes."""
        days = t / 1440.0
        mod = np.full(self.r.shape, 0.35)
        for pa, width, amp, drift, var, period, phase in self.streamers:
            w = width * (2.5 / np.maximum(self.r, 1.0)) ** 0.3
            delta = (self.pa - pa - drift * days + np.pi) % (2 * np.pi) - np.pi
            level = amp * (1.0 + var * np.sin(2 * np.pi * days / period + phase))
            mod = mod + level * np.exp(-0.5 * (delta / w) ** 2)
        phi = 0.5 * np.pi * t / self.ray_time
        rays = (np.cos(phi) * _lookup(self.rays[0], self.pa)
                + np.sin(phi) * _lookup(self.rays[1], self.pa))
        k = self.k_base * mod * np.exp(self.ray_contrast * rays)
        for pa, r0, speed, contrast, half_a, half_r in self.blobs:
            rb = r0 + speed * t
            if rb > self.inst.field + 1:
                continue
            delta = (self.pa - pa + np.pi) % (2 * np.pi) - np.pi
            k = k * (1.0 + contrast * np.exp(-0.5 * ((delta / half_a) ** 2
                                                     + ((self.r - rb) / half_r) ** 2)))
        for t0, pa, half, speed, contrast in self.cmes:
            front = 1.5 + speed * (t - t0)
            if t < t0 or front < self.inst.occulter * 0.8 or 0.4 * front > self.inst.field * 1.5:
                continue
            delta = (self.pa - pa + np.pi) % (2 * np.pi) - np.pi
            u = delta / half
            angular = 1.0 / (1.0 + u ** 8)
            edge = front * np.clip(1 - 0.25 * u * u, 0.5, None)
            shell = np.exp(-0.5 * ((self.r - edge) / (0.08 * front)) ** 2)
            cavity = -0.3 * ((self.r < 0.9 * edge) & (self.r > 0.6 * edge))
            core = 0.8 * np.exp(-0.5 * ((self.r - 0.5 * edge) / (0.07 * front)) ** 2)
            k = k * (1.0 + angular * (contrast * shell + cavity + core))
        return k + self.f_corona

    def add_stars(self, rate: np.ndarray, t: float) -> None:
        n = rate.shape[0]
        x = self.stars[:, 0] + _STAR_DRIFT * t / 1440.0
        col = self.center[0] + x / self.scale
        row = self.center[1] + self.stars[:, 1] / self.scale
        i0, j0 = np.floor(row).astype(int), np.floor(col).astype(int)
        keep = (i0 >= 0) & (i0 < n - 1) & (j0 >= 0) & (j0 < n - 1)
        fr, fc = (row - i0)[keep], (col - j0)[keep]
        i0, j0, flux = i0[keep], j0[keep], self.stars[keep, 2]
        for di, dj, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                          (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
            np.add.at(rate, (i0 + di, j0 + dj), flux * w)


def _lost_blocks(outside: np.ndarray, count: int, block: int, rng) -> np.ndarray:
    n = outside.shape[0]
    nb = n // block
    inside = ~outside[:nb * block, :nb * block].reshape(nb, block, nb, block).any(axis=(1, 3))
    candidates = np.flatnonzero(inside)
    lost = np.zeros(outside.shape, bool)
    for k in rng.choice(candidates, min(count, candidates.size), replace=False):
        j, i = divmod(int(k), nb)
        lost[j * block:(j + 1) * block, i * block:(i + 1) * block] = True
    return lost


def make_sequence(spec: SequenceSpec = SequenceSpec()) -> Sequence:
    """Render a sequence (module docstring)."""
    rng = np.random.default_rng([spec.seed, 31])
    sky = _Sky(spec, rng)
    inst = sky.inst
    n, nt = spec.size, spec.frames
    block = max(4, 32 * n // 1024)
    start = np.datetime64(spec.start, "ms")
    times = start + (np.arange(nt) * spec.cadence_minutes * 60e3).astype("timedelta64[ms]")
    truth = np.empty((nt, n, n), np.float32)
    clean = np.empty((nt, n, n), np.float32)
    lost = np.zeros((nt, n, n), bool)
    gain, read = 15.0, 8.0
    for i in range(nt):
        t = i * spec.cadence_minutes
        rate = sky.rate(t)
        sky.add_stars(rate, t)
        exptime = inst.exptime * (1.0 + 0.005 * rng.standard_normal())
        electrons = rate * exptime * gain
        noisy = electrons + np.sqrt(electrons + read * read) * rng.standard_normal(rate.shape)
        msb = noisy / gain / inst.exptime * inst.calfac
        truth[i] = np.where(sky.outside, np.nan, msb).astype(np.float32)
        clean[i] = np.where(sky.outside, np.nan, rate * inst.calfac).astype(np.float32)
        count = int(rng.integers(spec.missing_blocks[0], spec.missing_blocks[1] + 1))
        lost[i] = _lost_blocks(sky.outside, count, block, rng)
    quality = np.where(sky.outside, np.uint8(2), np.uint8(0))[None] | np.where(
        lost, np.uint8(1), np.uint8(0))
    brightness = np.where(quality != 0, np.float32(np.nan), truth)
    crpix = (sky.center[0] + 1.0, sky.center[1] + 1.0)
    cube = xr.Dataset(
        {"brightness": (("time", "y", "x"), brightness,
                        {"units": "MSB", "comment": "mean solar brightness; NaN where quality "
                         "!= 0"}),
         "quality": (("time", "y", "x"), quality.astype(np.uint8),
                     {"flag_masks": np.array([1, 2, 4, 8], np.uint8),
                      "flag_meanings": "missing_telemetry outside_field filled filled_temporal"}),
         "frame_status": ("time", np.zeros(nt, np.uint8))},
        coords={"time": times.astype("datetime64[ns]"),
                "detector": ("time", np.array([spec.detector] * nt, dtype=object)),
                "filter": ("time", np.array([inst.filter] * nt, dtype=object)),
                "polarizer": ("time", np.array(["Clear"] * nt, dtype=object)),
                "crpix1": ("time", np.full(nt, crpix[0])),
                "crpix2": ("time", np.full(nt, crpix[1])),
                "cdelt": ("time", np.full(nt, sky.scale)),
                "rsun": ("time", np.full(nt, RSUN_ARCSEC))},
        attrs={"detector": spec.detector, "level": "1",
               "title": f"synthetic LASCO {spec.detector} level-1 sequence "
                        f"(lascoproc.testing.sequences, seed {spec.seed})"})
    return Sequence(cube=cube, truth=truth, clean=clean, lost=lost)
