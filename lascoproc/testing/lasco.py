"""A synthetic SOHO/LASCO level-0.5 archive, in NRL's layout and byte for byte in its file format.

Layout, as NRL serves ``lasco/level_05``::

    root/level_05/YYMMDD/c2/img_hdr.txt        one line per frame (``reduce_img_hdr.pro``)
    root/level_05/YYMMDD/c2/2NNNNNNN.fts       C2 frames: file numbers start with 2
    root/level_05/YYMMDD/c3/3NNNNNNN.fts       C3 frames: file numbers start with 3

File format, as IDL's ``writefits`` writes it for NRL's level-0.5 reduction: 80-character header
cards (one of them a ``HISTORY`` card holding a TAB, which astropy reads but refuses to write, so
the cards are formatted here), ``END``, spaces up to a multiple of 2880 bytes, then the image as
big-endian signed 16-bit integers (``BITPIX = 16`` and no ``BZERO``: 14-bit CCD counts), zero
padded to a multiple of 2880 bytes. The cards are those of a real C3 header
(``lascoproc/data/lasco_c3_l05.header``, written by ``make_fits_hdr.pro``), in its order and with
its number formats (IDL prints a float with 6 significant digits, a double with 8), with the
per-frame values set as the NRL routines set them:

- ``EXPTIME = EXP0 + EXP3`` and ``MID_TIME`` = seconds of day of the exposure start plus half
  ``EXPTIME`` (``make_fits_hdr.pro``); ``OBT_TIME`` is TAI seconds since 1958 (``utc2tai``).
- ``R1COL..R2ROW`` from ``P1COL..P2ROW`` for read port C (``reduce_rectify_p1p2.pro``): the stored
  image is the rectified one, its column ``x`` (0-based) is CCD column ``R1COL + x * binning``.
- ``DATAMIN`` ... ``DATAP99`` as ``reduce_statistics.pro`` computes them: zeros (missing blocks)
  and saturated pixels (16383) left out.
- ``OFFSET`` is the bias of one pixel (``offset_bias.pro`` without ``/SUM``); an image summed in
  the LASCO electronics box (``LEBXSUM = LEBYSUM = 2``) holds four times that bias, one summed on
  the chip (``SUMCOL = SUMROW = 2``) holds it once.

The pixels are a plausible white-light corona in DN: an F corona and a K corona falling off as
power laws of the heliocentric distance, streamers (angular modulation that narrows outwards),
background stars drifting west by the Sun's ~1 deg/day along the ecliptic, a CME per day (a bright
curved front and a fainter interior moving outwards), behind the instrument's transmission
(the occulter, the pylon towards the lower left, vignetting and the field stop towards the
corners), then Poisson noise on electrons, the bias, Gaussian read noise, clipping to
``[1, 16383]`` and missing 32x32 telemetry blocks set to exactly 0.

The static part of a scene (geometry, transmission, corona) is computed once per detector, readout
window and roll and cached (~20 MB for a 1024x1024 one, at most 16 kept): a 1024x1024 frame then
takes ~80 ms to render and write.

Everything is deterministic from ``seed``: each frame draws from its own
``numpy.random.Generator`` seeded with ``(seed, frame index)``, and the header ``DATE`` (when the
file was written) is derived from the observation time, never taken from the clock.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import os
import re
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from lascoproc.io.img_hdr import format_img_hdr_line

__all__ = ["SynthFrame", "SynthArchive", "write_lasco_archive", "GOOD_KINDS", "BAD_KINDS",
           "BAD_INPUTS", "BadInput", "add_bad_inputs"]

#: Kinds of frames a calibration can use, and kinds of broken files.
GOOD_KINDS = ("full", "binned", "subfield")
BAD_KINDS = ("truncated", "not_fits", "header_incomplete", "wrong_size")

FITS_BLOCK = 2880
CARD = 80
SATURATED = 16383  # 14-bit CCD counts
BLOCK = 32  # telemetry block edge in pixels
RSUN_KM = 695_700.0
MJD_EPOCH = np.datetime64("1858-11-17", "D")
TAI_EPOCH = np.datetime64("1958-01-01", "D")
GAIN = 15.0  # electrons per DN
READ_NOISE = 1.5  # DN
STAR_DRIFT = 3548.0  # arcsec/day: the Sun moves ~0.9856 deg/day east among the stars
#: Real level-0.5 headers whose cards the frames take (``lascoproc/data``; see its README).
_TEMPLATES = {"2002": "lasco_c3_l05.header", "2023": "lasco_c3_l05_33785492.header"}

# TAI - UTC in seconds (IERS Bulletin C), for OBT_TIME.
_LEAP_SECONDS = (
    ("1996-01-01", 30), ("1997-07-01", 31), ("1999-01-01", 32), ("2006-01-01", 33),
    ("2009-01-01", 34), ("2012-07-01", 35), ("2015-07-01", 36), ("2017-01-01", 37),
)


# ------------------------------------------------------------------------------ public API


@dataclass(frozen=True)
class SynthFrame:
    """The truth about one written frame.

    ``shape`` is that of the stored image: the header's for ``truncated`` and
    ``header_incomplete``, ``(256, 256)`` for ``wrong_size`` (its header says 1024x1024),
    ``(0, 0)`` for ``not_fits``. ``has_cme`` is true when a CME adds at least 10 DN to some pixel.
    """

    path: str
    detector: str
    time: np.datetime64
    shape: tuple[int, int]
    filter: str
    polar: str
    exptime: float
    missing_blocks: tuple[tuple[int, int], ...]
    has_cme: bool
    kind: str
    in_img_hdr: bool


@dataclass(frozen=True)
class SynthArchive:
    """A written archive: its root directory and the truth about every frame, in time order."""

    root: str
    frames: tuple[SynthFrame, ...]

    def good(self, detector: str | None = None) -> list[SynthFrame]:
        """Frames a reader must return (full, binned, subfield), optionally of one detector."""
        want = None if detector is None else detector.upper()
        return [f for f in self.frames
                if f.kind in GOOD_KINDS and (want is None or f.detector == want)]

    def bad(self) -> list[SynthFrame]:
        """Broken files a reader must reject with a reason."""
        return [f for f in self.frames if f.kind in BAD_KINDS]


def write_lasco_archive(
    root, *, start="2002-05-21", days: int = 2, frames_per_day: int = 6,
    detectors=("c2", "c3"), seed: int = 0, binned_per_day: int = 1, subfields_per_day: int = 1,
    missing_blocks: tuple[int, int] = (0, 6), cme: bool = True, bad_files: bool = False,
    days_without_img_hdr: int = 0, unlisted_per_day: int = 0, progress: bool = False,
    roll: float | None = None, roll_drift: float = 0.0, template: str = "2002",
) -> SynthArchive:
    """Write a synthetic LASCO level-0.5 archive under ``root`` (a local directory).

    Parameters
    ----------
    root : str or path-like
        Directory to write ``level_05/`` into; created if needed.
    start : str
        First day, ``YYYY-MM-DD``.
    days : int
        Number of days.
    frames_per_day : int
        Frames listed in ``img_hdr.txt`` per day and detector, spread over the whole day (one
        per ``86400 / frames_per_day`` seconds, jittered: 72-120 give NRL's 12-20 minute
        cadence). ``binned_per_day`` of them are 512x512 summed frames (alternately
        ``LEBXSUM = LEBYSUM = 2`` and ``SUMCOL = SUMROW = 2``), ``subfields_per_day`` readout
        windows around the Sun (512x512 and 640x480 in turn), the others full 1024x1024. Over
        the archive, one full C2 frame is taken in the Blue filter, one through the +60 deg
        polarizer, one full C3 frame in the Orange filter and one with ``CROTA`` near 180 deg
        (the 1998-1999 'keyhole' periods), when there are enough full frames.
    detectors : tuple of str
        ``"c2"`` and/or ``"c3"``.
    seed : int
        Everything written is a function of the arguments: the same call writes the same bytes.
    missing_blocks : (int, int)
        Each good frame has ``n`` missing 32x32 blocks (exactly 0), ``low <= n < high``.
    cme : bool
        One CME per day, launched in the first half of the day at 250-1800 km/s (faster for a
        higher cadence, so that its front crosses C3 in about six frames), seen in the frames
        where it is in the field.
    bad_files : bool
        Add one C3 file of each of :data:`BAD_KINDS` on the first day (if C3 is written):
        ``truncated`` (complete header, data cut short), ``not_fits`` (an HTML error page named
        ``NNNNNNNN.fts``), ``header_incomplete`` (valid, without ``DATE-OBS`` and ``EXPTIME``),
        ``wrong_size`` (header says 1024x1024, data is 256x256); ``truncated``,
        ``not_fits`` and ``wrong_size`` are listed in ``img_hdr.txt`` (the index says they exist),
        ``header_incomplete`` (no ``DATE-OBS``, no ``EXPTIME``) is not.
    days_without_img_hdr : int
        The last days get no ``img_hdr.txt``: readers must fall back to the FITS headers.
    unlisted_per_day : int
        Extra full frames per day and detector, written but not listed in ``img_hdr.txt``.
    progress : bool
        Show a tqdm progress bar.
    roll : float or None
        Spacecraft roll (``CROTA1``, deg) of every frame; by default a small roll within
        +-0.5 deg per detector (no north-up rotation at level 1). Since about 2010 most frames
        have ``|roll| >= 1`` deg and are rotated north up at level 1.
    roll_drift : float
        Degrees added to the roll at each frame of a detector, in time order: the roll of real
        frames drifts from frame to frame, so that no two frames share a level-1 geometry.
    template : str
        The real header whose cards (order, formats, extra keywords) the frames take:
        ``"2002"`` (C3 32088304.fts, 2002-05-21) or ``"2023"`` (C3 33785492.fts, 2023-12-01,
        a quicklook header with ``CROTA``, ``XCEN``, ``NMISSING``...; both in
        ``lascoproc/data``).

    Returns
    -------
    SynthArchive
        The root and the truth about every frame.
    """
    lo, hi = (int(v) for v in missing_blocks)
    if not 0 <= lo < hi:
        raise ValueError(f"missing_blocks must be (low, high) with 0 <= low < high, got "
                         f"{missing_blocks!r}; (0, 1) means none")
    if days < 1 or frames_per_day < 1:
        raise ValueError("days and frames_per_day must be at least 1")
    if template not in _TEMPLATES:
        raise ValueError(f"template must be one of {sorted(_TEMPLATES)}, not {template!r}")
    dets = tuple(dict.fromkeys(d.upper() for d in detectors))
    unknown = set(dets) - set(_TELESCOPES)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; LASCO has C2 and C3")
    root = os.fspath(root)
    start_day = np.datetime64(start, "D")
    plans = _plan_archive(
        start_day, days=days, frames_per_day=frames_per_day, detectors=dets, seed=seed,
        binned_per_day=binned_per_day, subfields_per_day=subfields_per_day,
        bad_files=bad_files, unlisted_per_day=unlisted_per_day,
        days_without_img_hdr=days_without_img_hdr, roll=roll, roll_drift=roll_drift,
    )
    sky = _Sky.build(start_day, days=days, seed=seed, cme=cme, frames_per_day=frames_per_day)

    frames, listings = [], {}
    for plan in tqdm(plans, disable=not progress, desc="LASCO level-0.5", unit="frame"):
        frame, line = _write_frame(root, plan, sky, seed=seed, missing_range=(lo, hi),
                                   template=template)
        frames.append(frame)
        if plan.day_has_img_hdr:
            lines = listings.setdefault(plan.directory, [])
            if plan.listed:
                lines.append(line)
    for directory, lines in listings.items():
        # the plans are in time order, so are the lines
        with open(os.path.join(root, directory, "img_hdr.txt"), "w", encoding="ascii") as out:
            out.write("".join(line + "\n" for line in lines))
    return SynthArchive(root=root, frames=tuple(frames))


# ------------------------------------------------------------------------------ header cards


@dataclass(frozen=True)
class _Card:
    """One header card: keyword, value, comment, and how the value is printed."""

    key: str
    value: object
    comment: str | None
    kind: str  # "int", "float" (6 digits), "double" (8 digits), "str", "bool", "text"


_INT = re.compile(r"^[+-]?\d+$")


def _parse_card(line: str) -> _Card:
    """Parse a template card (one line of ``lasco_c3_l05.header``)."""
    key = line[:8].rstrip()
    if key in ("HISTORY", "COMMENT", ""):
        return _Card(key, line[8:].rstrip("\r\n"), None, "text")
    if line[8:10] != "= ":
        raise ValueError(f"not a value card: {line!r}")
    rest = line[10:].rstrip("\r\n")
    stripped = rest.lstrip()
    if stripped.startswith("'"):
        i, parts = 1, []
        while True:
            j = stripped.index("'", i)
            if stripped[j + 1:j + 2] == "'":
                parts.append(stripped[i:j + 1])
                i = j + 2
            else:
                parts.append(stripped[i:j])
                break
        value, kind, tail = "".join(parts).rstrip(), "str", stripped[j + 1:]
    else:
        text, _, _ = stripped.partition("/")
        text = text.strip()
        tail = stripped[len(stripped.partition("/")[0]):]
        if text in ("T", "F"):
            value, kind = text == "T", "bool"
        elif _INT.match(text):
            value, kind = int(text), "int"
        else:
            value = float(text)
            kind = "float" if _format_float(value, "float") == text else "double"
    comment = tail.split("/", 1)[1].strip() if "/" in tail else None
    return _Card(key, value, comment, kind)


def _format_float(value: float, kind: str) -> str:
    """IDL's free format: 6 significant digits for a float, 8 for a double (``G`` format)."""
    digits = 8 if kind == "double" else 6
    return f"{float(value):#.{digits}G}"


def _format_card(card: _Card) -> str:
    """The 80-character card, as IDL's ``fxaddpar`` lays it out."""
    if card.kind == "text":
        text = card.key.ljust(8) + str(card.value)
    else:
        value = card.value
        if card.kind == "str":
            field = ("'" + str(value).replace("'", "''").ljust(8) + "'").ljust(20)
        elif isinstance(value, bool | np.bool_):
            field = ("T" if value else "F").rjust(20)
        elif isinstance(value, int | np.integer):
            field = str(int(value)).rjust(20)
        else:
            field = _format_float(float(value), card.kind).rjust(20)
        text = card.key.ljust(8) + "= " + field + " /"
        if card.comment:
            text += " " + card.comment
    if len(text) > CARD:
        raise ValueError(f"card longer than 80 characters: {text!r}")
    return text.ljust(CARD)


@functools.lru_cache(maxsize=2)
def _template_cards(template: str = "2002") -> tuple[_Card, ...]:
    """The cards of a real C3 level-0.5 header shipped in ``lascoproc/data``."""
    resource = importlib.resources.files("lascoproc") / "data" / _TEMPLATES[template]
    text = resource.read_bytes().decode("latin-1")
    return tuple(_parse_card(line) for line in text.splitlines()
                 if line.strip() and line.rstrip() != "END")


def _header_bytes(cards: list[_Card]) -> bytes:
    """Cards, ``END`` and space padding to a multiple of 2880 bytes."""
    text = "".join(_format_card(c) for c in cards) + "END".ljust(CARD)
    raw = text.encode("latin-1")
    return raw + b" " * (-len(raw) % FITS_BLOCK)


def _data_bytes(image: np.ndarray) -> bytes:
    """Big-endian int16 pixels, zero padded to a multiple of 2880 bytes."""
    raw = image.astype(">i2").tobytes()
    return raw + b"\0" * (-len(raw) % FITS_BLOCK)


# ------------------------------------------------------------------------------ instrument


@dataclass(frozen=True)
class _Telescope:
    """What the generator needs to know of one coronagraph (approximate, see module docstring)."""

    detector: str
    digit: int  # first digit of the file numbers
    platescl: float  # arcsec per full-resolution pixel
    crpix: tuple[float, float]  # Sun centre of a full frame, 1-based FITS pixels
    occulter_rsun: float
    field_stop_px: float  # radius of the field stop in full-resolution pixels
    pylon_pa: float  # image position angle of the pylon, deg CCW from up
    pylon_halfwidth_px: float
    k_corona: tuple[float, float]  # K corona: DN/s at 1 Rsun (extrapolated), power-law index
    f_corona: tuple[float, float]  # F corona: same
    star_density: float  # stars per square arcsec
    star_flux: tuple[float, float]  # faintest and brightest star, DN/s
    expcmd: float  # commanded exposure of a full frame in the standard filter, s
    compression: str
    hcomp_sf: int
    filter: str  # the standard filter
    bias_anchors: tuple[tuple[int, float], ...]  # (MJD, DN): a slowly rising bias


_TELESCOPES = {
    "C2": _Telescope(
        detector="C2", digit=2, platescl=11.9, crpix=(511.738, 506.294), occulter_rsun=2.2,
        field_stop_px=500.0, pylon_pa=128.0, pylon_halfwidth_px=18.0,
        k_corona=(9000.0, 3.8), f_corona=(375.0, 2.2), star_density=60 / (1024 * 11.9) ** 2,
        star_flux=(4.0, 1500.0), expcmd=23.0, compression="X%", hcomp_sf=64, filter="Orange",
        bias_anchors=((50083, 471.0), (51057, 520.0), (51100, 552.0), (51915, 582.0),
                      (58000, 683.0)),
    ),
    "C3": _Telescope(
        detector="C3", digit=3, platescl=56.0, crpix=(517.95599, 532.63202), occulter_rsun=3.7,
        field_stop_px=505.0, pylon_pa=135.0, pylon_halfwidth_px=22.0,
        k_corona=(12000.0, 3.0), f_corona=(4000.0, 1.9), star_density=400 / (1024 * 56.0) ** 2,
        star_flux=(2.0, 2500.0), expcmd=17.0, compression="X#", hcomp_sf=32, filter="Clear",
        bias_anchors=((50083, 322.0), (51057, 345.0), (51100, 355.0), (51915, 374.0),
                      (58000, 441.0)),
    ),
}

#: Relative throughput of filters and polarizers, and how much longer they are exposed.
_FILTER_THROUGHPUT = {("C2", "Orange"): 1.0, ("C2", "Blue"): 0.55,
                      ("C3", "Clear"): 1.0, ("C3", "Orange"): 0.3}
_POLAR_THROUGHPUT = {"Clear": 1.0, "+60 Deg": 0.45}
_OS_NUM = {("C2", "Orange"): 1250, ("C2", "Blue"): 1251, ("C3", "Clear"): 3390,
           ("C3", "Orange"): 3391}


def _os_num(plan) -> int:
    """Observing-sequence number: one per detector, filter, polarizer and readout kind."""
    return (_OS_NUM[(plan.detector, plan.filter)] + (10 if plan.polar != "Clear" else 0)
            + (100 if plan.kind in ("binned", "subfield") else 0))


def _offset_bias(detector: str, mjd: int) -> float:
    """Approximate CCD bias [DN] of port C on a date: a slow rise through the mission."""
    days, values = zip(*_TELESCOPES[detector].bias_anchors, strict=True)
    return float(np.float32(np.interp(mjd, days, values)))


@dataclass(frozen=True)
class _Readout:
    """The readout window in rectified CCD pixels (``R1COL..R2ROW``) and the summing."""

    r1col: int = 20
    r1row: int = 1
    r2col: int = 1043
    r2row: int = 1024
    sumcol: int = 0
    sumrow: int = 0
    lebxsum: int = 1
    lebysum: int = 1

    @property
    def binning(self) -> tuple[int, int]:
        return (max(self.sumcol, 1) * max(self.lebxsum, 1),
                max(self.sumrow, 1) * max(self.lebysum, 1))

    @property
    def leb_sum(self) -> int:
        """Pixels summed in the electronics box, each bringing its bias."""
        return max(self.lebxsum, 1) * max(self.lebysum, 1)

    @property
    def shape(self) -> tuple[int, int]:
        bx, by = self.binning
        return ((self.r2row - self.r1row + 1) // by, (self.r2col - self.r1col + 1) // bx)

    @property
    def p_window(self) -> tuple[int, int, int, int]:
        """``P1COL, P1ROW, P2COL, P2ROW`` on the raw CCD: ``reduce_rectify_p1p2.pro``, port C,
        inverted."""
        return 1044 - self.r2row, 1044 - self.r2col, 1044 - self.r1row, 1044 - self.r1col

    def crpix(self, full: tuple[float, float]) -> tuple[float, float]:
        """Sun centre on the stored grid, from its full-frame position."""
        bx, by = self.binning
        return ((full[0] - 0.5 - (self.r1col - 20)) / bx + 0.5,
                (full[1] - 0.5 - (self.r1row - 1)) / by + 0.5)


_FULL = _Readout()
_BINNED = (_Readout(lebxsum=2, lebysum=2), _Readout(sumcol=2, sumrow=2))


def _subfields(tel: _Telescope) -> tuple[_Readout, ...]:
    """A 512x512 and a 640x480 window around the Sun centre."""
    cx, cy = round(tel.crpix[0] - 1), round(tel.crpix[1] - 1)
    out = []
    for width, height in ((512, 512), (640, 480)):
        c1 = 20 + cx - width // 2
        r1 = 1 + cy - height // 2
        out.append(_Readout(r1col=c1, r1row=r1, r2col=c1 + width - 1, r2row=r1 + height - 1))
    return tuple(out)


# ------------------------------------------------------------------------------ the sky


def _rsun_arcsec(day: np.datetime64) -> float:
    """Apparent solar radius from SOHO (~1% closer to the Sun than the Earth)."""
    doy = (day - day.astype("datetime64[Y]")).astype(int)
    distance_au = 0.99 * (1 - 0.0167 * np.cos(2 * np.pi * (doy - 3) / 365.25))
    return float(959.63 / distance_au)


@dataclass(frozen=True)
class _Cme:
    t0: np.datetime64  # front at 1.2 Rsun
    pa: float  # solar position angle of the axis, deg
    halfwidth: float  # deg
    speed: float  # km/s
    contrast: float  # front brightness / background corona

    def front(self, time: np.datetime64) -> float:
        """Front radius [Rsun] at ``time`` (NaN before launch)."""
        dt = (time - self.t0) / np.timedelta64(1, "s")
        return 1.2 + self.speed * dt / RSUN_KM if dt >= 0 else float("nan")


@dataclass(frozen=True)
class _Sky:
    """What is seen: streamers, stars, CMEs, solar radius; the same for C2 and C3."""

    start: np.datetime64
    rsun: float
    streamers: tuple[tuple[float, float, float], ...]  # (PA deg, width deg, amplitude)
    stars: dict  # detector -> (x arcsec, y arcsec at start, flux DN/s)
    cmes: tuple[_Cme, ...]

    @classmethod
    def build(cls, start, *, days, seed, cme, frames_per_day):
        rng = np.random.default_rng([seed, 2])
        centres = [rng.normal(90, 20), rng.normal(270, 20), rng.normal(75, 30),
                   rng.normal(255, 30), rng.uniform(0, 360)]
        streamers = tuple((float(c % 360), float(rng.uniform(8, 16)), float(rng.uniform(0.5, 1.0)))
                          for c in centres)
        stars = {}
        for name, tel in _TELESCOPES.items():
            half = 1.05 * 512 * tel.platescl * np.sqrt(2)
            x_lo, x_hi = -half - STAR_DRIFT * (days + 1), half
            n = rng.poisson(tel.star_density * (x_hi - x_lo) * 2 * half)
            lo, hi = tel.star_flux
            flux = np.minimum(lo * rng.uniform(1e-6, 1, n) ** (-1 / 0.8), hi)
            stars[name] = (rng.uniform(x_lo, x_hi, n), rng.uniform(-half, half, n), flux)
        cmes = []
        if cme:
            cadence = 86400.0 / frames_per_day
            # the front crosses C3 in about six frames, at a speed CMEs have
            speed = float(np.clip(25 * RSUN_KM / (6 * cadence), 250.0, 1800.0))
            for day in range(days):
                t0 = (start + np.timedelta64(day, "D")).astype("datetime64[ms]") + np.timedelta64(
                    int(rng.uniform(0.05, 0.5) * 86400e3), "ms")
                cmes.append(_Cme(t0=t0, pa=float(rng.uniform(0, 360)),
                                 halfwidth=float(rng.uniform(20, 45)),
                                 speed=speed * float(rng.uniform(0.8, 1.2)),
                                 contrast=float(rng.uniform(0.8, 1.5))))
        return cls(start=start, rsun=_rsun_arcsec(start), streamers=streamers, stars=stars,
                   cmes=tuple(cmes))


@dataclass(frozen=True)
class _Scene:
    """Static per-pixel quantities of one detector, readout window and roll (read only)."""

    r: np.ndarray  # heliocentric distance, Rsun
    pa: np.ndarray  # solar position angle, deg CCW from solar north
    background: np.ndarray  # unmodulated F + K corona, DN/s per full-resolution pixel
    transmission: np.ndarray  # occulter x pylon x vignetting x field stop
    corona: np.ndarray  # streamer-modulated corona behind the transmission, DN/s per stored px


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _transmission(dx, dy, r, tel: _Telescope, rsun_px: float) -> np.ndarray:
    """Occulter (0 inside, soft 0.12 Rsun edge), pylon, vignetting and field stop."""
    occulter = _smoothstep((r - tel.occulter_rsun) / 0.12)
    ux, uy = -np.sin(np.radians(tel.pylon_pa)), np.cos(np.radians(tel.pylon_pa))
    along = dx * ux + dy * uy
    across = np.abs(dy * ux - dx * uy)
    halfwidth = tel.pylon_halfwidth_px * (1 + 0.4 * np.clip(along, 0, None) / 512)
    shadow = _smoothstep((halfwidth - across) / 4 + 0.5) * (along > 0.5 * tel.occulter_rsun
                                                             * rsun_px)
    pylon = 1 - 0.97 * shadow
    r_px = np.hypot(dx, dy)
    vignetting = (1 - 0.35 * (r_px / 512) ** 2) * 0.5 * (1 - np.tanh((r_px - tel.field_stop_px)
                                                                      / 8))
    return (occulter * pylon * np.clip(vignetting, 0, None)).astype(np.float32)


def _corona(r, pa, tel: _Telescope, streamers) -> tuple[np.ndarray, np.ndarray]:
    """Unmodulated and streamer-modulated F + K corona [DN/s per full-resolution pixel]."""
    r = np.maximum(r, 0.9 * tel.occulter_rsun)
    k = tel.k_corona[0] * r ** -tel.k_corona[1]
    f = tel.f_corona[0] * r ** -tel.f_corona[1]
    sin2 = np.sin(np.radians(pa)) ** 2
    angular = 0.3 + 0.2 * sin2  # dimmer polar coronal holes
    narrowing = (2.5 / r) ** 0.25  # streamers narrow into plasma sheets outwards
    for centre, width, amplitude in streamers:
        delta = (pa - centre + 180) % 360 - 180
        angular = angular + amplitude * np.exp(-0.5 * (delta / (width * narrowing)) ** 2)
    f_shape = 0.8 + 0.4 * sin2  # F corona flattened along the ecliptic
    return k + f, k * angular + f * f_shape


@functools.lru_cache(maxsize=16)
def _static_scene(detector: str, readout: _Readout, roll: float, rsun: float,
                  streamers: tuple) -> _Scene:
    """The per-pixel geometry and static corona of one configuration (cached)."""
    tel = _TELESCOPES[detector]
    ny, nx = readout.shape
    bx, by = readout.binning
    x = (readout.r1col - 20) + (np.arange(nx) + 0.5) * bx - 0.5
    y = (readout.r1row - 1) + (np.arange(ny) + 0.5) * by - 0.5
    dx = (x - (tel.crpix[0] - 1))[None, :]
    dy = (y - (tel.crpix[1] - 1))[:, None]
    rsun_px = rsun / tel.platescl
    r = np.hypot(dx, dy) / rsun_px
    pa = (np.degrees(np.arctan2(-dx, dy)) + roll) % 360
    transmission = _transmission(dx, dy, r, tel, rsun_px)
    background, modulated = _corona(r, pa, tel, streamers)
    corona = (modulated * transmission * (bx * by)).astype(np.float32)
    arrays = [r.astype(np.float32), pa.astype(np.float32), background.astype(np.float32),
              transmission, corona]
    for a in arrays:
        a.flags.writeable = False
    return _Scene(*arrays)


def _add_stars(rate: np.ndarray, sky: _Sky, tel: _Telescope, readout: _Readout, roll: float,
               time: np.datetime64, transmission: np.ndarray) -> None:
    """Add the stars (bilinear point sources, behind the transmission) to ``rate`` in place."""
    x0, y0, flux = sky.stars[tel.detector]
    days = (time - sky.start) / np.timedelta64(1, "D")
    x = x0 + STAR_DRIFT * days
    c, s = np.cos(np.radians(roll)), np.sin(np.radians(roll))
    xi, yi = c * x + s * y0, -s * x + c * y0  # sky rotated by -roll into the image
    bx, by = readout.binning
    col = (tel.crpix[0] - 1 + xi / tel.platescl - (readout.r1col - 20) + 0.5) / bx - 0.5
    row = (tel.crpix[1] - 1 + yi / tel.platescl - (readout.r1row - 1) + 0.5) / by - 0.5
    ny, nx = rate.shape
    i0, j0 = np.floor(row).astype(int), np.floor(col).astype(int)
    keep = (i0 >= 0) & (i0 < ny - 1) & (j0 >= 0) & (j0 < nx - 1)
    i0, j0, fr, fc, f = i0[keep], j0[keep], (row - np.floor(row))[keep], \
        (col - np.floor(col))[keep], flux[keep]
    for di, dj, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc),
                      (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        ii, jj = i0 + di, j0 + dj
        np.add.at(rate, (ii, jj), (f * w * transmission[ii, jj]).astype(np.float32))


def _cme_rate(scene: _Scene, sky: _Sky, tel: _Telescope, time: np.datetime64, nbin: int):
    """CME brightness behind the transmission [DN/s per stored pixel], or None if none is seen."""
    r_max = float(scene.r.max())
    out = None
    for cme in sky.cmes:
        front = cme.front(time)
        if not np.isfinite(front) or front < tel.occulter_rsun or 0.5 * front > r_max:
            continue
        delta = (scene.pa - np.float32(cme.pa) + 180) % 360 - 180
        u = delta / np.float32(cme.halfwidth)
        angular = 1 / (1 + u ** 8)
        edge = np.float32(front) * np.clip(1 - 0.3 * u * u, 0.5, None)  # a curved front
        front_shell = np.exp(-0.5 * ((scene.r - edge) / np.float32(0.06 * front)) ** 2)
        interior = 0.3 * _smoothstep((scene.r - 0.5 * edge) / (0.2 * edge)) * (scene.r < edge)
        rate = (np.float32(cme.contrast * nbin) * scene.background * scene.transmission
                * angular * (front_shell + interior))
        out = rate if out is None else out + rate
    return out


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class _Plan:
    """One file to write."""

    detector: str
    day: np.datetime64
    time: np.datetime64  # ms
    kind: str
    readout: _Readout
    filter: str
    polar: str
    roll: float
    listed: bool  # a line in img_hdr.txt (if the day has one)
    day_has_img_hdr: bool
    index: int = 0
    number: int = 0
    imgctr: int = 0

    @property
    def directory(self) -> str:
        day = self.day.astype(object)
        return f"level_05/{day:%y%m%d}/{self.detector.lower()}"

    @property
    def has_listing(self) -> bool:
        return self.listed and self.day_has_img_hdr

    @property
    def path(self) -> str:
        return f"{self.directory}/{self.number:08d}.fts"


def _day_kinds(n, unlisted_per_day, bad, binned_per_day, subfields_per_day, rng):
    """Kinds and listing of one day's ``n`` files of one detector."""
    order = rng.permutation(n)
    kinds = ["full"] * n
    listed = [True] * n
    for i in order[:unlisted_per_day]:
        listed[i] = False
    rest = list(order[unlisted_per_day:])
    for kind in bad:
        i = rest.pop()
        kinds[i] = kind
        listed[i] = kind != "header_incomplete"
    for i in rest[:binned_per_day]:
        kinds[i] = "binned"
    for i in rest[binned_per_day:binned_per_day + subfields_per_day]:
        kinds[i] = "subfield"
    return kinds, listed


def _plan_archive(start_day, *, days, frames_per_day, detectors, seed, binned_per_day,
                  subfields_per_day, bad_files, unlisted_per_day, days_without_img_hdr,
                  roll=None, roll_drift=0.0):
    """Times, kinds, windows, filters and file numbers of every file, in time order."""
    rng = np.random.default_rng([seed, 1])
    drawn = {d: round(float(rng.uniform(-0.5, 0.5)), 3) for d in _TELESCOPES}
    roll = drawn if roll is None else {d: float(roll) for d in _TELESCOPES}
    plans = []
    counts = {"binned": 0, "subfield": 0}
    for day in range(days):
        date = start_day + np.timedelta64(day, "D")
        has_img_hdr = day < days - days_without_img_hdr
        for det in detectors:
            tel = _TELESCOPES[det]
            bad = list(BAD_KINDS) if (bad_files and day == 0 and det == "C3") else []
            n = frames_per_day + unlisted_per_day + len(bad)
            slot = 86400.0 / n
            phase = rng.uniform(0.3, 0.45)
            offsets = (np.arange(n) + phase + rng.uniform(-0.25, 0.25, n)) * slot
            times = date.astype("datetime64[ms]") + (offsets * 1e3).astype("timedelta64[ms]")
            kinds, listed = _day_kinds(n, unlisted_per_day, bad, binned_per_day,
                                       subfields_per_day, rng)
            for i in range(n):
                plans.append(_Plan(det, date, times[i], kinds[i],
                                   _readout(kinds[i], tel, counts), tel.filter, "Clear",
                                   roll[det], listed[i], has_img_hdr))
    plans = _special_frames(plans, rng, roll)
    plans.sort(key=lambda p: (p.time, p.detector))
    if roll_drift:
        plans = _drifted(plans, roll_drift)
    return _numbered(plans, rng)


def _readout(kind: str, tel, counts: dict) -> _Readout:
    """The readout of a file: binned and subfield windows in turn, else the full frame."""
    if kind == "binned":
        counts["binned"] += 1
        return _BINNED[(counts["binned"] - 1) % 2]
    if kind == "subfield":
        counts["subfield"] += 1
        return _subfields(tel)[(counts["subfield"] - 1) % 2]
    return _FULL


def _drifted(plans, roll_drift: float):
    """The roll of each detector's frames grown by ``roll_drift`` per frame, in time order."""
    seen = dict.fromkeys(_TELESCOPES, 0)
    out = []
    for plan in plans:
        k = seen[plan.detector]
        seen[plan.detector] += 1
        out.append(dataclasses.replace(plan, roll=round(plan.roll + roll_drift * k, 6)))
    return out


def _numbered(plans, rng):
    """File numbers and image counters, per detector, in time order."""
    numbers = {d: int(rng.integers(1_000_000, 8_000_000)) for d in _TELESCOPES}
    counters = {d: int(rng.integers(1, 60_000)) for d in _TELESCOPES}
    out = []
    for index, plan in enumerate(plans):
        det = plan.detector
        number = _TELESCOPES[det].digit * 10_000_000 + numbers[det]
        out.append(dataclasses.replace(plan, index=index, number=number,
                                       imgctr=counters[det] % 65536))
        numbers[det] += 1
        counters[det] += 1
    return out


def _special_frames(plans, rng, roll):
    """One of each less common full frame: C2 Blue, C2 polarized, C3 Orange, C3 rolled by 180
    deg (the 1998-1999 'keyhole' periods, when SOHO flew upside down)."""
    special = (("C2", {"filter": "Blue"}), ("C2", {"polar": "+60 Deg"}),
               ("C3", {"filter": "Orange"}), ("C3", {"roll": round(180.0 + roll["C3"], 3)}))
    taken = set()
    for det, change in special:
        candidates = [i for i, p in enumerate(plans)
                      if p.detector == det and p.kind == "full" and i not in taken]
        if not candidates:
            continue
        i = candidates[int(rng.integers(len(candidates)))]
        taken.add(i)
        plans[i] = dataclasses.replace(plans[i], **change)
    return plans


# ------------------------------------------------------------------------------ one frame


def _exposure(plan: _Plan, tel: _Telescope, rng) -> dict:
    """``EXP0..3``, ``EXPCMD`` and ``EXPTIME = EXP0 + EXP3`` (``make_fits_hdr.pro``); EXP1-3 in
    units of 1/2048 s, EXP0 of 1/32 s."""
    expcmd = tel.expcmd
    if plan.filter != tel.filter or plan.polar != "Clear":
        expcmd *= 2
    if plan.readout.binning != (1, 1):
        expcmd /= 4
    expcmd = round(expcmd * 32) / 32
    exp1, exp2, exp3 = (round(rng.uniform(a, b) * 2048) / 2048
                        for a, b in ((1.85, 1.91), (3.15, 3.20), (2.07, 2.13)))
    exptime = float(_format_float(expcmd + exp3, "float"))
    return {"EXPTIME": exptime, "EXP0": expcmd, "EXPCMD": expcmd, "EXP1": exp1, "EXP2": exp2,
            "EXP3": exp3}


def _render(plan: _Plan, sky: _Sky, tel: _Telescope, exptime: float, bias: float, rng):
    """The image in DN (int16, no missing blocks yet) and whether a CME is seen."""
    scene = _static_scene(tel.detector, plan.readout, plan.roll, sky.rsun, sky.streamers)
    bx, by = plan.readout.binning
    nbin = bx * by
    throughput = _FILTER_THROUGHPUT[(tel.detector, plan.filter)] * _POLAR_THROUGHPUT[plan.polar]
    rate = scene.corona.copy()
    _add_stars(rate, sky, tel, plan.readout, plan.roll, plan.time, scene.transmission)
    cme = _cme_rate(scene, sky, tel, plan.time, nbin)
    has_cme = False
    if cme is not None:
        has_cme = bool(cme.max() * exptime * throughput >= 10.0)
        rate += cme
    signal = rate * np.float32(exptime * throughput)
    electrons = rng.poisson(signal.astype(np.float64) * GAIN).astype(np.float32)
    leb = plan.readout.leb_sum
    noise = rng.standard_normal(signal.shape, dtype=np.float32)
    counts = electrons / np.float32(GAIN) + np.float32(bias * leb) \
        + np.float32(READ_NOISE * np.sqrt(leb)) * noise
    image = np.clip(np.rint(counts), 1, SATURATED).astype(np.int16)
    return image, has_cme


def _choose_missing_blocks(shape, missing_range, rng) -> tuple[tuple[int, int], ...]:
    """Missing telemetry blocks: runs of consecutive blocks in raster order, as packets drop."""
    nby, nbx = shape[0] // BLOCK, shape[1] // BLOCK
    total = nby * nbx
    n = min(int(rng.integers(*missing_range)), total)
    chosen: set[int] = set()
    while len(chosen) < n:
        first = int(rng.integers(total))
        for k in range(int(rng.integers(1, 4))):
            if len(chosen) < n:
                chosen.add((first + k) % total)
    return tuple(sorted((b // nbx, b % nbx) for b in chosen))


_PERCENTILES = (("DATAP01", 0.01), ("DATAP10", 0.10), ("DATAP25", 0.25), ("DATAP75", 0.75),
                ("DATAP90", 0.90), ("DATAP95", 0.95), ("DATAP98", 0.98), ("DATAP99", 0.99))


def _statistics(image: np.ndarray) -> dict:
    """Image statistics as ``reduce_statistics.pro`` computes them.

    ``DATAMIN`` is the minimum of the non-zero pixels, ``DATAMAX`` the maximum of those below
    saturation, ``DATAZER`` the number of zero pixels, ``DATASAT`` the fraction of saturated ones
    (integer 0 when none), ``DATAAVG``/``DATASIG`` and the percentiles over pixels neither 0 nor
    saturated; percentile ``p`` is the smallest value whose cumulative histogram exceeds
    ``p * n``, each search starting one bin past the previous one, as the IDL loop does.
    """
    flat = image.ravel()
    nonzero = flat[flat != 0]
    if nonzero.size == 0:
        return {}
    out = {"DATAMIN": float(nonzero.min())}
    mx = int(nonzero.max())
    nsat: int | float = 0
    if mx == SATURATED:
        below = flat[flat != SATURATED]
        if below.size == 0:
            nsat = 1
        else:
            mx = int(below.max())
            nsat = float(np.float32(1 - below.size / flat.size))
    out["DATAMAX"] = float(mx)
    out["DATAZER"] = int(flat.size - nonzero.size)
    out["DATASAT"] = nsat
    used = nonzero[nonzero != SATURATED]
    if used.size < 4:
        return out
    hist = np.bincount(used.astype(np.int64))
    values = np.arange(hist.size, dtype=np.float64)
    mean = float((hist * values).sum() / used.size)
    out["DATAAVG"] = mean
    out["DATASIG"] = float(np.sqrt((hist * (values - mean) ** 2).sum() / (used.size - 1)))
    cumulative = np.cumsum(hist)
    low = 0
    for key, limit in _PERCENTILES:
        if low < hist.size:
            low = min(max(low, int(np.searchsorted(cumulative, limit * used.size, "right"))),
                      hist.size - 1) + 1
        out[key] = low - 1
    return out


def _ms_text(time: np.datetime64) -> str:
    return str(time.astype("datetime64[ms]"))


_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec")


def _cards(plan: _Plan, tel: _Telescope, exposure: dict, stats: dict, bias: float,
           shape: tuple[int, int], template: str = "2002") -> list[_Card]:
    """The template's cards with this frame's values."""
    time = plan.time
    day = time.astype("datetime64[D]")
    iso = _ms_text(time)  # YYYY-MM-DDTHH:MM:SS.sss
    seconds = (time - day) / np.timedelta64(1, "s")
    mjd = int((day - MJD_EPOCH) / np.timedelta64(1, "D"))
    mid = seconds + exposure["EXPTIME"] / 2
    mid_date = mjd + int(mid // 86400)
    mid %= 86400
    leap = [n for d, n in _LEAP_SECONDS if np.datetime64(d, "D") <= day]
    obt = (day - TAI_EPOCH) / np.timedelta64(1, "s") + seconds + (leap[-1] if leap else 29)
    # written 16 days later, as the level-0.5 reduction of 2002 was
    written = time + np.timedelta64(16, "D") + np.timedelta64(81_900_000 + plan.number % 3_600_000,
                                                              "ms")
    local = written.astype("datetime64[s]") - np.timedelta64(4 * 3600 - 4, "s")  # EDT
    lt = local.astype(object)
    written_by = (f"Written by IDL:  {_DAY_NAMES[lt.weekday()]} {_MONTH_NAMES[lt.month - 1]} "
                  f"{lt.day:2d} {lt:%H:%M:%S} {lt.year}")
    fileorig = (time + np.timedelta64(45_000 + plan.number % 10_000, "ms")).astype(object)
    p1col, p1row, p2col, p2row = plan.readout.p_window
    bx, by = plan.readout.binning
    crpix1, crpix2 = plan.readout.crpix(tel.crpix)
    values = {
        "NAXIS1": shape[1], "NAXIS2": shape[0],
        "FILENAME": f"{plan.number:08d}.fts", "FILEORIG": f"{fileorig:%y%m%d_%H%M%S}.img",
        "DATE": _ms_text(written).replace("-", "/").replace("T", " "),
        "DATE-OBS": iso[:10].replace("-", "/"), "TIME-OBS": iso[11:23],
        "P1COL": p1col, "P1ROW": p1row, "P2COL": p2col, "P2ROW": p2row,
        **exposure,
        "DETECTOR": tel.detector, "READPORT": "C",
        "SUMROW": plan.readout.sumrow, "SUMCOL": plan.readout.sumcol,
        "LEBXSUM": plan.readout.lebxsum, "LEBYSUM": plan.readout.lebysum,
        "FILTER": plan.filter, "POLAR": plan.polar,
        "OS_NUM": _os_num(plan),
        "IMGCTR": plan.imgctr, "IMAGE_CT": plan.imgctr,
        "COMPRSSN": tel.compression, "HCOMP_SF": tel.hcomp_sf,
        "MID_DATE": mid_date, "MID_TIME": mid, "PLATESCL": tel.platescl, "OFFSET": bias,
        "OBT_TIME": obt,
        "R1COL": plan.readout.r1col, "R1ROW": plan.readout.r1row,
        "R2COL": plan.readout.r2col, "R2ROW": plan.readout.r2row, "EFFPORT": "C",
        **stats,
        "CRPIX1": crpix1, "CRPIX2": crpix2, "CROTA": plan.roll, "CROTA1": plan.roll,
        "CROTA2": plan.roll,
        "CDELT1": tel.platescl * bx, "CDELT2": tel.platescl * by,
    }
    cards = []
    for card in _template_cards(template):
        if card.key == "SIMPLE":
            card = dataclasses.replace(card, comment=written_by)
        elif card.kind == "text" and card.value.startswith("offset_bias.pro\t"):
            # "offset_bias.pro<TAB>1.24 12/13/01, 378.876" or "...<TAB>1.32, 09/01/11, 418.861"
            version = card.value.rsplit(",", 1)[0]
            card = dataclasses.replace(card, value=f"{version}, {_format_float(bias, 'float')}")
        elif card.key in values:
            card = dataclasses.replace(card, value=values[card.key])
        cards.append(card)
    return cards


_NOT_FITS = (
    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n"
    "<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n"
    "<p>The server is temporarily unable to service your request.</p>\n</body></html>\n"
)


def _write_frame(root: str, plan: _Plan, sky: _Sky, *, seed: int, missing_range,
                 template: str = "2002"):
    """Write one file; return its truth and its ``img_hdr.txt`` line."""
    tel = _TELESCOPES[plan.detector]
    rng = np.random.default_rng([seed, plan.index, 7])
    exposure = _exposure(plan, tel, rng)
    mjd = int((plan.day - MJD_EPOCH) / np.timedelta64(1, "D"))
    bias = _offset_bias(tel.detector, mjd)
    shape = plan.readout.shape
    good = plan.kind in GOOD_KINDS
    missing: tuple[tuple[int, int], ...] = ()
    has_cme = False
    path = os.path.join(root, plan.path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if plan.kind == "not_fits":
        with open(path, "w", encoding="ascii") as out:
            out.write(_NOT_FITS)
        stored = (0, 0)
    else:
        image, has_cme = _render(plan, sky, tel, exposure["EXPTIME"], bias, rng)
        if good:
            missing = _choose_missing_blocks(shape, missing_range, rng)
            for i, j in missing:
                image[BLOCK * i:BLOCK * (i + 1), BLOCK * j:BLOCK * (j + 1)] = 0
        stats = {**_statistics(image), "NMISSING": len(missing)}
        cards = _cards(plan, tel, exposure, stats, bias, shape, template)
        stored = shape
        if plan.kind == "header_incomplete":
            cards = [c for c in cards if c.key not in ("DATE-OBS", "EXPTIME")]
        header = _header_bytes(cards)
        if plan.kind == "wrong_size":
            image = image[::4, ::4]
            stored = image.shape
        data = _data_bytes(image)
        if plan.kind == "truncated":
            data = data[: int(0.4 * len(data)) + 1234]
        with open(path, "wb") as out:
            out.write(header + data)
    frame = SynthFrame(
        path=plan.path, detector=tel.detector, time=plan.time, shape=tuple(stored),
        filter=plan.filter, polar=plan.polar, exptime=exposure["EXPTIME"],
        missing_blocks=missing, has_cme=has_cme, kind=plan.kind,
        in_img_hdr=plan.has_listing,
    )
    iso = _ms_text(plan.time)
    p1col, p1row, _, _ = plan.readout.p_window
    line = format_img_hdr_line(
        filename=f"{plan.number:08d}.fts", date_obs=iso[:10].replace("-", "/"),
        time_obs=iso[11:23], detector=tel.detector, exptime=exposure["EXPTIME"],
        naxis1=shape[1], naxis2=shape[0], p1col=p1col, p1row=p1row, filter=plan.filter,
        polar=plan.polar, lp_num="Normal", os_num=_os_num(plan),
    )
    return frame, line


# ------------------------------------------------------------------------------ bad inputs

#: The kinds of bad input :func:`add_bad_inputs` writes, and what a run must make of each:
#: ``(outcome, reason code)``; ``"rejected"`` files are left out of every cube, ``"flagged"``
#: frames are in a cube but never with ``frame_status`` 0 (or, for ``unparsable_card`` and
#: ``time_shared``, calibrated with the problem named).
BAD_INPUTS = {
    "exptime_zero": ("flagged", "exptime_zero"),
    "exptime_negative": ("flagged", "exptime_negative"),
    "exptime_nan": ("flagged", "exptime_nonfinite"),
    "exptime_missing": ("flagged", "exptime_missing"),
    "no_data": ("flagged", "no_data"),
    "unknown_filter": ("flagged", "not_calibrated"),
    "unparsable_card": ("flagged", "unparsable_card"),
    "time_shared": ("flagged", "time_shared"),
    "detector_mismatch": ("rejected", "detector_mismatch_directory"),
    "window_mismatch": ("rejected", "size_mismatch_window"),
    "instrument_not_lasco": ("rejected", "instrument_not_lasco"),
    "date_before_launch": ("rejected", "date_before_launch"),
    "date_in_future": ("rejected", "date_in_future"),
    "duplicate": ("rejected", "duplicate"),
    "truncated_data": ("rejected", "file_truncated"),
    "not_fits": ("rejected", "header_unreadable"),
}


@dataclass(frozen=True)
class BadInput:
    """A bad file written beside the good frames, and what a run must make of it."""

    path: str
    kind: str
    outcome: str
    code: str
    source: str  # the good frame it was made from


def _split_fits(raw: bytes) -> tuple[list[str], bytes]:
    """Header cards (80-character strings, without END) and the data bytes of a file."""
    cards, pos = [], 0
    while pos < len(raw):
        card = raw[pos:pos + CARD].decode("latin-1")
        pos += CARD
        if card.startswith("END "):
            break
        cards.append(card)
    return cards, raw[-(-pos // FITS_BLOCK) * FITS_BLOCK:]


def _set_card(cards: list[str], key: str, text: str | None) -> list[str]:
    """Cards with ``key``'s value field replaced by ``text`` as written (None: card removed)."""
    out = []
    for card in cards:
        if card[:8].rstrip() == key:
            if text is not None:
                out.append(f"{key:<8}= {text:>20}".ljust(CARD)[:CARD])
            continue
        out.append(card)
    return out


def _join_fits(cards: list[str], data: bytes) -> bytes:
    header = "".join(cards) + "END".ljust(CARD)
    raw = header.encode("latin-1")
    return raw + b" " * (-len(raw) % FITS_BLOCK) + data


def _bad_bytes(kind: str, cards: list[str], data: bytes) -> bytes:
    """The bytes of a bad file of ``kind`` made from a good frame's cards and data."""
    quoted = {"window_mismatch": ("R2COL", "1042"), "exptime_zero": ("EXPTIME", "0.00000"),
              "exptime_negative": ("EXPTIME", "-12.5000"), "exptime_nan": ("EXPTIME", "NaN"),
              "exptime_missing": ("EXPTIME", None), "unknown_filter": ("FILTER", "'Bogus   '"),
              "unparsable_card": ("DATAAVG", "NaN"),
              "detector_mismatch": ("DETECTOR", "'C2      '"),
              "instrument_not_lasco": ("INSTRUME", "'EIT     '"),
              "date_before_launch": ("DATE-OBS", "'1994/05/21'"),
              "date_in_future": ("DATE-OBS", "'2199/05/21'")}
    if kind in quoted:
        key, text = quoted[kind]
        return _join_fits(_set_card(cards, key, text), data)
    if kind == "no_data":
        return _join_fits(cards, b"\0" * len(data))
    if kind == "truncated_data":
        return _join_fits(cards, data)[: len(data) // 3]
    if kind == "not_fits":
        return _NOT_FITS.encode("ascii")
    raise ValueError(f"unknown bad input kind {kind!r}")


def add_bad_inputs(root, *, detector: str = "c3", kinds=None, seed: int = 0) -> list[BadInput]:
    """Write one file of each bad-input kind (:data:`BAD_INPUTS`) beside the good frames of an
    archive written by :func:`write_lasco_archive`, without touching the good files.

    Each is made from a good full frame of ``detector`` (its header cards edited as the kind
    says, or its data emptied or cut) and written under a new file number in the same day
    directory; none is listed in ``img_hdr.txt`` (a reader finds them by their headers), so the
    good frames and their listing are byte for byte those of the clean archive. ``duplicate``
    is a byte-identical copy of a good frame; ``time_shared`` a frame with another frame's
    ``DATE-OBS``/``TIME-OBS`` and its own pixels.

    Returns
    -------
    list of BadInput
        Path (relative to ``root``), kind, the outcome and reason code a run must report.
    """
    root = os.fspath(root)
    det = detector.lower()
    rng = np.random.default_rng([seed, 99])
    fulls = [p for p in _glob_frames(root, det)
             if _card_value(_split_fits(_read(root, p))[0], "NAXIS1") == "1024"]
    if len(fulls) < 2:
        raise ValueError(f"add_bad_inputs needs two full {det} frames in {root}")
    out = []
    number = 9_000_000 + int(rng.integers(0, 900_000))
    for k, kind in enumerate(kinds or BAD_INPUTS):
        source = fulls[k % len(fulls)]
        raw = _read(root, source)
        cards, data = _split_fits(raw)
        if kind == "duplicate":
            new = raw
        elif kind == "time_shared":
            other, _ = _split_fits(_read(root, fulls[(k + 1) % len(fulls)]))
            when = {c[:8].rstrip(): c for c in other}
            cards = [when[c[:8].rstrip()] if c[:8].rstrip() in ("DATE-OBS", "TIME-OBS")
                     else c for c in cards]
            new = _join_fits(cards, data)
        else:
            new = _bad_bytes(kind, cards, data)
        digit = source.rsplit("/", 1)[-1][0]
        name = f"{digit}{number + k:07d}.fts"
        path = f"{source.rsplit('/', 1)[0]}/{name}"
        if kind not in ("duplicate", "not_fits", "truncated_data"):
            new = _join_fits(_set_card(_split_fits(new)[0], "FILENAME", f"'{name}'"),
                             _split_fits(new)[1])
        with open(os.path.join(root, path), "wb") as handle:
            handle.write(new)
        outcome, code = BAD_INPUTS[kind]
        out.append(BadInput(path, kind, outcome, code, source))
    return out


def _read(root: str, path: str) -> bytes:
    with open(os.path.join(root, path), "rb") as handle:
        return handle.read()


def _card_value(cards: list[str], key: str) -> str | None:
    for card in cards:
        if card[:8].rstrip() == key:
            return card[10:].split("/", 1)[0].strip()
    return None


def _glob_frames(root: str, det: str):
    base = os.path.join(root, "level_05")
    for day in sorted(os.listdir(base)):
        folder = os.path.join(base, day, det)
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                if name.endswith(".fts"):
                    yield f"level_05/{day}/{det}/{name}"
