"""Per-frame photometric factors of the LASCO C2/C3 level-1 chain, and the photometric step.

Pure numpy/python kernels ported from the NRL SolarSoft LASCO library (``reduce_level_1.pro``
1.68 and the routines it calls). Every function names its IDL source and version. The formulas
are the IDL ones; the code is written from them, not translated line by line.

Units: MJD are integer Modified Julian Days, times in seconds, biases in DN, exposure times in
seconds, calibration factors in mean solar brightness per (DN / pixel / s) (``MSB``).

IDL arithmetic note: IDL evaluates ``4.60403e-07*mjd + 0.0374116`` in single precision (the literal
constants are ``float``); here everything is float64. The two agree to about 1e-7 relative, well
inside the 6 significant digits IDL writes to ``HISTORY``.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "DETECTORS",
    "POLARIZATION_PRODUCTS",
    "MJD_J2000_DATE",
    "SUBTENSE_ARCSEC",
    "ExposureFactorRecord",
    "ExposureCorrection",
    "NEWEST_OFFSET_BIAS_VERSION",
    "OffsetBiasHistory",
    "offset_bias",
    "parse_offset_bias_history",
    "table_bias_for_frame",
    "parse_expfactor_table",
    "expfactor_columns",
    "match_expfactor",
    "match_expfactor_array",
    "exposure_correction",
    "expfactor_table_name",
    "corrected_exposure_time",
    "calibration_factor",
    "calibration_factor_unsummed",
    "level1_calibration_files",
    "ramp_applies",
    "is_polarization_product",
    "clip_c2_vignetting",
    "photometric_calibration",
    "solar_radius_arcsec",
    "plate_scale_arcsec",
]

DETECTORS = ("C2", "C3")

#: ``POLAR`` values of polarisation products made from level-0.5 images (``c2_calibrate.pro``
#: 1.14, ``c3_calibrate.pro`` 1.54): for these the offset bias (and for C3 the ramp) is not
#: subtracted. The IDL comparison is case sensitive.
POLARIZATION_PRODUCTS = ("PB", "TI", "UP", "JY", "JZ", "Qs", "Us", "Qt", "Jr", "Jt")

#: MJD of 2000-01-01 00:00 UTC, the origin of ``solar_ephem.pro``'s day count.
MJD_J2000_DATE = 51544

#: Full-resolution plate scale in arcsec per pixel (``subtense.pro``; confirmed by the real
#: headers: C3 level-0.5 ``CDELT1 = 56.0``, C2 level-1 rebinned x8 ``CDELT1 = 95.2 = 8 x 11.9``).
SUBTENSE_ARCSEC = {"C2": 11.9, "C3": 56.0}


def _detector(detector: str) -> str:
    tel = str(detector).strip().upper()
    if tel not in DETECTORS:
        raise ValueError(f"detector {detector!r} is not LASCO C2 or C3")
    return tel


# --------------------------------------------------------------------------------------------
# offset_bias.pro
# --------------------------------------------------------------------------------------------

#: Port-C offset-bias polynomials: per detector, segments ``(mjd_end, firstday, coeffs)`` in
#: increasing order; a segment applies when ``mjd < mjd_end`` (integer MJD) and gives
#: ``bias = sum_k coeffs[k] * (mjd - firstday)**k``. ``coeffs = (b,)`` with ``firstday = 0`` is a
#: constant.
#:
#: ``"1.26"``: ``offset_bias.pro 1.26 07/09/02`` (V15), read verbatim (SOHOpy legacy copy).
#: ``"latest"``: 1.26 up to MJD 51915, then the later segments of the current SolarSoft version as
#: transcribed in CorKit 1.0.16 ``utils.offset_bias`` (the IDL text of that version is not in the
#: reference corpus; see docs/level1_port.md). Note its C2 segment ``[57388, 58571)`` counts days
#: from 57290 and ``[58571, 58802)`` from 58578, as transcribed.
_OFFSET_BIAS_PORT_C: dict[str, dict[str, tuple[tuple[float, int, tuple[float, ...]], ...]]] = {
    "1.26": {
        "C2": (
            (51058, 50079, (470.97732, 0.12792513, -3.6621933e-05)),  # mjd <= 51057
            (51819, 51099, (551.67277, 0.091365902, -0.00012637790, 7.4049597e-08)),
            (51915, 51558, (574.5788, 0.019772032)),
            (np.inf, 51915, (582.0574, 0.016625946)),
        ),
        "C3": (
            (50072, 0, (319.0,)),
            (51058, 50072, (322.21639, 0.011775379, 4.4256968e-05, -3.167423e-08)),
            (51697, 51099, (354.50857, 0.062196067, -8.8114799e-05, 5.0505447e-08)),  # <= 51696
            (51915, 51558, (369.02719, 0.014994955, -4.0873204e-06)),
            (np.inf, 51915, (373.94898, 0.011018500)),
        ),
    },
}
_OFFSET_BIAS_PORT_C["latest"] = {
    "C2": _OFFSET_BIAS_PORT_C["1.26"]["C2"][:3] + (
        (54792, 51915, (581.81517, 0.019221920, -2.3110489e-06)),
        (55044, 54792, (617.70556, 0.010290491, -6.0131545e-06)),
        (56450, 55044, (619.99733, 0.0059081617, -3.3932229e-07)),
        (57388, 56450, (627.61246, 0.0049003351, -5.3812001e-07)),
        (58571, 57290, (631.20515, 0.0056815108, -1.3439596e-06)),
        (58802, 58578, (651.50189, -0.028926206, 7.8531807e-05, -5.8964538e-08)),
        (np.inf, 58802, (648.41904, -0.0020514176, 1.8072963e-05)),
    ),
    "C3": _OFFSET_BIAS_PORT_C["1.26"]["C3"][:4] + (
        (54792, 51915, (374.11139, 0.010731823, -1.0726207e-06)),
        (55044, 54792, (395.85091, 0.0079344115, -6.2530780e-06)),
        (56170, 55044, (397.52040, 0.0040765192)),
        (56360, 56170, (407.04606, -0.024819780, 0.00011694347)),
        (56478, 56360, (406.01009, 0.0046765547, -9.912626e-07)),
        (56597, 56478, (406.72179, 0.0045780623, -2.3134855e-06)),
        (57024, 56597, (406.77706, 0.0040538719, -1.6571028e-06)),
        (np.inf, 57024, (408.38117, 0.0027558157, -1.3694218e-07)),
    ),
}

#: Constant biases of the other read-out ports (``offset_bias.pro`` 1.26, unchanged since).
_OFFSET_BIAS_OTHER_PORTS = {
    "C2": {"A": 364.0, "B": 540.0, "D": 526.0},
    "C3": {"A": 314.0, "B": 346.0, "D": 283.0},
}


def offset_bias(detector: str, mjd: int, *, readport: str = "C", lebsum: int = 1,
                version: str = "latest") -> float:
    """CCD offset bias in DN from the date polynomial of ``offset_bias.pro``.

    For read-out port C (all science frames)::

        bias = sum_k c_k * (mjd - firstday)**k

    with the coefficients ``c_k`` and ``firstday`` of the date segment holding ``mjd``; ports
    A, B, D are constants. With ``/SUM`` IDL multiplies by the LEB summing,
    ``bias *= (LEBXSUM > 1) * (LEBYSUM > 1)``: pass that product as ``lebsum``.

    This is the fallback of ``get_exp_factor.pro`` when no exposure-factor table line matches
    the frame (:func:`exposure_correction`). IDL takes ``mjd = MID_DATE`` (an integer).

    Parameters
    ----------
    detector : {"C2", "C3"}
    mjd : int
        Integer MJD (``MID_DATE``).
    readport : str
        ``READPORT`` (``"C"`` for science frames).
    lebsum : int
        ``(LEBXSUM > 1) * (LEBYSUM > 1)`` when the bias of a LEB-summed frame is wanted.
    version : {"latest", "1.26"}
        Coefficient set; see ``_OFFSET_BIAS_PORT_C``.

    Returns
    -------
    float
        Bias in DN.

    Notes
    -----
    Source: SolarSoft ``lasco/idl/reduce/offset_bias.pro`` 1.26 (07/09/02) verbatim; the later
    segments of ``"latest"`` as transcribed by CorKit 1.0.16. Neither set reproduces the
    ``OFFSET = 378.876`` that version 1.24 (12/13/01) wrote into the 2002/05/21 C3 header
    (1.26 gives 379.458, latest 379.209): the 1.24 coefficients are not available.
    """
    tel = _detector(detector)
    port = str(readport).strip().upper()
    if port != "C":
        base = _OFFSET_BIAS_OTHER_PORTS[tel].get(port, 0.0)
        return float(base * lebsum)
    try:
        segments = _OFFSET_BIAS_PORT_C[version][tel]
    except KeyError:
        raise ValueError(f"unknown offset_bias version {version!r}") from None
    mjd = int(mjd)
    for mjd_end, firstday, coeffs in segments:
        if mjd < mjd_end:
            dd = float(mjd - firstday) if firstday else 0.0
            bias = sum(c * dd**k for k, c in enumerate(coeffs))
            return float(bias * lebsum)
    raise AssertionError("unreachable: last segment is open-ended")


#: The newest ``offset_bias.pro`` version seen in real level-0.5 headers (``1.32, 09/01/11`` in
#: the 2023 C3 header ``33785492.fts``). Its coefficients are not public; for frames whose
#: level-0.5 HISTORY records the value this version computed, that value is the bias NRL used.
NEWEST_OFFSET_BIAS_VERSION = "1.32"

_HISTORY_BIAS = re.compile(
    r"offset_bias\.pro\s+(?P<version>\d+(?:\.\d+)+)\s*,?\s*"
    r"(?P<date>\d{2}/\d{2}/\d{2})\s*,\s*(?P<value>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


@dataclasses.dataclass(frozen=True)
class OffsetBiasHistory:
    """The ``offset_bias.pro`` line of a level-0.5 HISTORY: version, SCCS date, value (DN)."""

    version: str
    date: str
    value: float


def parse_offset_bias_history(history: Iterable[str]) -> OffsetBiasHistory | None:
    """The bias NRL's ``offset_bias.pro`` wrote into a level-0.5 header's HISTORY, or ``None``.

    ``MAKE_FITS_HDR`` (``make_fits_hdr.pro`` V15) calls ``OFFSET_BIAS(fits)``, which appends
    ``version + ', ' + TRIM(STRING(b))`` with ``version`` the SCCS string after ``@(#)``
    (``offset_bias.pro`` 1.26: ``'@(#)offset_bias.pro<TAB>1.26 07/09/02'``). Real headers::

        offset_bias.pro<TAB>1.24 12/13/01, 378.876        (2002, C3 32088304.fts)
        offset_bias.pro<TAB>1.32, 09/01/11, 418.861       (2023, C3 33785492.fts)

    The value is the bias of one unsummed pixel: ``MAKE_FITS_HDR`` does not pass ``/SUM``
    (``make_fits_hdr.pro``: ``fxaddpar,fits,'OFFSET',offset_bias(fits)``). The last matching
    line wins.
    """
    found = None
    for line in history:
        match = _HISTORY_BIAS.search(str(line))
        if match:
            found = OffsetBiasHistory(match["version"], match["date"], float(match["value"]))
    return found


def table_bias_for_frame(table_bias: np.ndarray, lebsum: np.ndarray, *,
                         scale_by_leb_summing: bool = True) -> np.ndarray:
    """The bias to subtract from a frame whose exposure-factor line gives ``table_bias``.

    Whether the table's bias already holds the LEB summing is **not settled by a public IDL
    source**: ``get_exp_factor.pro``, which reads the table, is not public. What the public
    sources say:

    - ``c2_calibrate.pro`` 1.14 subtracts what ``GET_EXP_FACTOR`` returns unchanged (line 82
      ``valid= GET_EXP_FACTOR(header,expfac,bias)``, line 215 ``img = (img-bias)*calfac/
      hdr.exptime``); ``c3_calibrate.pro`` 1.54 likewise (line 114, and line 344
      ``img = (img0-bias)/hdr.exptime``).
    - Its comment (``c2_calibrate.pro`` 1.14 lines 149-155, ``c3_calibrate.pro`` 1.54 lines
      252-258): "value of lebsummed = 4(v + b); correctedval = (val/4) - b = (val - b*4)/4 ...
      bias is *4 in offset_bias.pro, if appropriate": for a LEB-summed frame the bias
      subtracted must be ``LEBXSUM * LEBYSUM`` times the one-pixel bias.
    - ``offset_bias.pro`` 1.26 multiplies by ``(LEBXSUM>1)*(LEBYSUM>1)`` only with ``/SUM``.

    So IDL subtracts the right bias from a LEB-summed frame only if the table holds the summed
    bias or ``GET_EXP_FACTOR`` scales it. With ``scale_by_leb_summing`` (the default, as
    before) the table value is taken as a one-pixel bias and multiplied by ``lebsum``
    (``(LEBXSUM>1)*(LEBYSUM>1)``); without, it is used as it is (the NOAA port of
    ``GET_EXP_FACTOR`` does that). For a 2 x 2 LEB-summed C2 frame the two differ by three times
    the bias, ~1800 DN.
    """
    bias = np.asarray(table_bias, dtype=np.float64)
    if not scale_by_leb_summing:
        return bias
    return bias * np.asarray(lebsum, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# get_exp_factor.pro / read_exp_factor.pro
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ExposureFactorRecord:
    """One line of an exposure-factor table ``{c2,c3}_expfactor_YYMMDD.dat``."""

    filename: str
    factor: float
    bias: float
    mjd: int
    time_ms: int
    filter: str
    polar: str
    wavelength: str
    nregion: int
    sigma: float


@dataclasses.dataclass(frozen=True)
class ExposureCorrection:
    """Result of the ``get_exp_factor.pro`` rule for one frame.

    ``source`` is ``"table"`` when a table line matched, ``"offset_bias"`` when the fallback was
    used (IDL then writes ``WARNING: No exposure correction found`` and keeps ``EXPTIME``).
    """

    factor: float
    bias: float
    source: str
    record: ExposureFactorRecord | None = None


def _yymmdd_to_mjd(yymmdd: str) -> int:
    year = int(yymmdd[:2])
    year += 1900 if year >= 50 else 2000
    day = _dt.date(year, int(yymmdd[2:4]), int(yymmdd[4:6]))
    return (day - _dt.date(1858, 11, 17)).days


def expfactor_table_name(detector: str, yymmdd: str) -> str:
    """File name of the exposure-factor table of one day: ``c2_expfactor_090228.dat``.

    The tables live in SolarSoft ``lasco/expfac/data/YYMM/`` (``get_exp_factor.pro``).
    """
    return f"{_detector(detector).lower()}_expfactor_{yymmdd}.dat"


def parse_expfactor_table(text: str) -> list[ExposureFactorRecord]:
    """Parse an exposure-factor table into records (pure: text in, records out).

    Line layout (``read_exp_factor.pro``, ``FORMAT='(a12,f10.6,f10.1,2x,a6,2x,f10.2,2x,a12,a12,
    a9,i4,e10.2)'``): file name, exposure factor, bias (DN), date ``YYMMDD``, ``MID_TIME`` (s of
    day), filter, polarizer, wavelength, number of regions, sigma. The five leading fields hold
    no blanks and are split on white space; filter/polarizer/wavelength (which may hold blanks,
    e.g. ``+60 Deg``) are cut at 12/12/9 columns after the time field, and the last two tokens
    are the region count and sigma.

    As in IDL, a later line with the same time (ms) replaces the earlier one; blank lines and
    lines that do not parse are skipped.
    """
    records: list[ExposureFactorRecord] = []
    by_time: dict[int, int] = {}
    for line in text.splitlines():
        record = _parse_expfactor_line(line)
        if record is None:
            continue
        if record.time_ms in by_time:
            records[by_time[record.time_ms]] = record
        else:
            by_time[record.time_ms] = len(records)
            records.append(record)
    return records


def expfactor_columns(text: str) -> dict[str, np.ndarray]:
    """The columns the matching needs (``mjd``, ``time_ms``, ``factor``, ``bias``) of a table,
    with exactly the records of :func:`parse_expfactor_table` (same line rules, same duplicate
    rule), without building a record object per line: what a mission's planning reads."""
    mjd_of: dict[str, int] = {}
    mjd, time_ms, factor, bias = [], [], [], []
    by_time: dict[int, int] = {}
    for line in text.splitlines():
        tokens = line.split()
        if len(tokens) < 7:
            continue
        try:
            int(tokens[-2])
            float(tokens[-1])
            day = mjd_of.get(tokens[3])
            if day is None:
                day = mjd_of[tokens[3]] = _yymmdd_to_mjd(tokens[3])
            values = (float(tokens[1]), float(tokens[2]), int(float(tokens[4]) * 1000.0))
        except (ValueError, IndexError):
            continue
        k = by_time.get(values[2])
        if k is None:
            by_time[values[2]] = len(mjd)
            mjd.append(day)
            factor.append(values[0])
            bias.append(values[1])
            time_ms.append(values[2])
        else:
            mjd[k], factor[k], bias[k], time_ms[k] = day, values[0], values[1], values[2]
    return {"mjd": np.array(mjd, dtype=np.int64), "time_ms": np.array(time_ms, dtype=np.int64),
            "factor": np.array(factor, dtype=np.float64),
            "bias": np.array(bias, dtype=np.float64)}


def _parse_expfactor_line(line: str) -> ExposureFactorRecord | None:
    spans = [m.span() for m in re.finditer(r"\S+", line)]
    if len(spans) < 7:
        return None
    tokens = [line[a:b] for a, b in spans]
    try:
        filename, factor, bias, yymmdd, time_s = tokens[:5]
        nregion, sigma = int(tokens[-2]), float(tokens[-1])
        record_mjd = _yymmdd_to_mjd(yymmdd)
        factor_f, bias_f, time_f = float(factor), float(bias), float(time_s)
    except (ValueError, IndexError):
        return None
    # Text between the time field and the region count: 2x, filter a12, polar a12, wl a9.
    middle = line[spans[4][1]:spans[-2][0]]
    middle = middle[2:] if middle.startswith("  ") else middle.lstrip()
    fields = (middle[:12], middle[12:24], middle[24:33])
    return ExposureFactorRecord(
        filename=filename, factor=factor_f, bias=bias_f, mjd=record_mjd,
        time_ms=int(time_f * 1000.0), filter=fields[0].strip(), polar=fields[1].strip(),
        wavelength=fields[2].strip(), nregion=nregion, sigma=sigma,
    )


def match_expfactor(records: Iterable[ExposureFactorRecord], mid_date: int, mid_time: float,
                    *, tolerance_ms: int = 100) -> ExposureFactorRecord | None:
    """The table line of a frame, by ``get_exp_factor.pro``'s rule, or ``None``.

    IDL matches on the time of the middle of the exposure, not on the file name: the first
    line with ``mjd == MID_DATE`` and ``|long(1000 * MID_TIME) - time_ms| < 100`` ms.
    """
    target = int(1000.0 * float(mid_time))
    for record in records:
        if record.mjd == int(mid_date) and abs(target - record.time_ms) < tolerance_ms:
            return record
    return None


def match_expfactor_array(record_mjd: np.ndarray, record_time_ms: np.ndarray,
                          mid_date: np.ndarray, mid_time: np.ndarray, *,
                          tolerance_ms: int = 100) -> np.ndarray:
    """:func:`match_expfactor` for many frames of one table: the index of each frame's line
    (first in table order), or -1.

    ``record_*`` are the table's records in order (after :func:`parse_expfactor_table`'s
    duplicate rule); the frame's time is ``int(1000 * MID_TIME)`` (truncated, as IDL's
    ``LONG``).
    """
    rec_mjd = np.asarray(record_mjd, dtype=np.int64)
    rec_ms = np.asarray(record_time_ms, dtype=np.int64)
    day = np.asarray(mid_date, dtype=np.int64)
    target = np.trunc(1000.0 * np.asarray(mid_time, dtype=np.float64))
    out = np.full(day.shape, -1, dtype=np.int64)
    if rec_mjd.size == 0 or day.size == 0:
        return out
    ok = np.isfinite(target)
    target = np.where(ok, target, 0).astype(np.int64)
    hit = (rec_mjd[None, :] == day[:, None]) & \
        (np.abs(target[:, None] - rec_ms[None, :]) < tolerance_ms) & ok[:, None]
    found = hit.any(axis=1)
    out[found] = np.argmax(hit[found], axis=1)
    return out


def exposure_correction(records: Sequence[ExposureFactorRecord] | None, *, detector: str,
                        mid_date: int, mid_time: float, readport: str = "C",
                        lebsum: int = 1, bias_version: str = "latest") -> ExposureCorrection:
    """Exposure factor and bias of a frame (``get_exp_factor.pro`` 1.20 07/26/11).

    A matching table line gives ``(factor, bias)``; otherwise (no table for the day, or no
    line within 100 ms) ``factor = 1`` and ``bias = offset_bias(...)``.

    Parameters
    ----------
    records : sequence of ExposureFactorRecord or None
        The parsed table of the frame's day (``None`` when there is no table).
    """
    if records:
        record = match_expfactor(records, mid_date, mid_time)
        if record is not None:
            return ExposureCorrection(record.factor, record.bias, "table", record)
    bias = offset_bias(detector, mid_date, readport=readport, lebsum=lebsum,
                       version=bias_version)
    return ExposureCorrection(1.0, bias, "offset_bias", None)


def corrected_exposure_time(exptime: float, factor: float) -> float:
    """Level-1 ``EXPTIME``: ``EXPTIME * expfac`` (``c2_calibrate.pro``/``c3_calibrate.pro``).

    IDL writes the product back into the level-1 header as ``EXPTIME`` (``Corrected exposure
    time``), so a level-1 ``EXPTIME`` already contains the exposure factor.
    """
    return float(exptime) * float(factor)


# --------------------------------------------------------------------------------------------
# c2_calfactor.pro / c3_calfactor.pro
# --------------------------------------------------------------------------------------------

_POLREF = 0.25256  # "absolute value of +60": polarizer throughput relative to clear

# Per filter: (clear-polarizer value as a function of mjd, [C3: {polar: factor on polref}],
# else rule): "clear" -> IDL's ELSE keeps the clear-polarizer value; "zero" -> IDL returns 0.
_C2_TABLE = {
    "ORANGE": (lambda mjd: 4.60403e-07 * mjd + 0.0374116, "clear"),
    "BLUE": (lambda mjd: 0.1033, "clear"),
    "DEEPRD": (lambda mjd: 0.1033, "zero"),
    "HALPHA": (lambda mjd: 0.01055, "clear"),  # IDL comment: "wrong"
    "LENS": (lambda mjd: 0.01055, "clear"),  # IDL comment: "wrong"
}
_C2_POLARIZERS = ("+60DEG", "0DEG", "-60DEG")  # all use clear / 0.25256

_C3_TABLE = {
    "ORANGE": (lambda mjd: 0.0297, {"+60DEG": 1.0, "0DEG": 0.9648, "-60DEG": 1.0798}, "clear"),
    "BLUE": (lambda mjd: 0.0975, {"+60DEG": 1.0, "0DEG": 0.9734, "-60DEG": 1.0613}, "clear"),
    "CLEAR": (lambda mjd: 7.43e-8 * (mjd - 50000) + 5.96e-3,
              {"+60DEG": 1.0, "0DEG": 0.9832, "-60DEG": 1.0235}, "zero"),
    "DEEPRD": (lambda mjd: 0.0259, {"+60DEG": 1.0, "0DEG": 0.9983, "-60DEG": 1.0300}, "clear"),
    "IR": (lambda mjd: 0.0887, {"+60DEG": 1.0, "0DEG": 0.9833, "-60DEG": 1.0288}, "clear"),
}


def _squeeze(name: str) -> str:
    """IDL ``STRUPCASE(STRCOMPRESS(s, /REMOVE_ALL))``."""
    return "".join(str(name).split()).upper()


def _calfactor_unsummed(tel: str, filt: str, polar: str, mjd: int) -> float:
    if tel == "C2":
        if filt not in _C2_TABLE:
            raise ValueError(f"C2 filter {filt!r} has no calibration factor (c2_calfactor.pro)")
        clear_of, else_rule = _C2_TABLE[filt]
        clear = clear_of(mjd)
        if polar == "CLEAR":
            return clear
        if polar in _C2_POLARIZERS:
            return clear / _POLREF
        # IDL lists 'nd' in lower case after upper-casing the polarizer: it never matches.
    else:
        if filt not in _C3_TABLE:
            raise ValueError(f"C3 filter {filt!r} has no calibration factor (c3_calfactor.pro)")
        clear_of, polar_mult, else_rule = _C3_TABLE[filt]
        clear = clear_of(mjd)
        if polar == "CLEAR":
            return clear
        if polar in polar_mult:
            return clear / _POLREF * polar_mult[polar]
        if filt == "CLEAR" and polar == "H_ALPHA":
            return 1.541
    if else_rule == "clear":
        return clear
    raise ValueError(
        f"{tel} filter {filt!r} with polarizer {polar!r}: IDL {tel.lower()}_calfactor.pro "
        "returns 0 (no calibration) for this combination")


def calibration_factor_unsummed(detector: str, filter: str, polar: str, mjd: int) -> float:
    """:func:`calibration_factor` before the summing division and the ``1e-10`` (the value
    the IDL tables hold, in units of 1e-10 MSB/(DN/pixel/s)); raises as it does."""
    return _calfactor_unsummed(_detector(detector), _squeeze(filter), _squeeze(polar), int(mjd))


def calibration_factor(detector: str, filter: str, polar: str, mjd: int, *, sumcol: int = 0,
                       sumrow: int = 0, lebxsum: int = 1, lebysum: int = 1) -> float:
    """Calibration factor in MSB per (DN / pixel / s) (``c2_calfactor.pro``/``c3_calfactor.pro``).

    The factor is tabulated in units of 1e-10 MSB/(DN/pixel/s) and multiplied by ``1e-10`` at
    the end, which is why a C2 Orange factor of ~0.0627 becomes ~6.27e-12. Time dependence:

    - C2 Orange: ``4.60403e-7 * mjd + 0.0374116`` (c2_calfactor.pro 1.9, 03/22/07)
    - C3 Clear: ``7.43e-8 * (mjd - 50000) + 5.96e-3`` (c3_calfactor.pro 1.17, 11/06/12)

    other filters are constants (C2 Blue/Deeprd 0.1033, Halpha/Lens 0.01055 "wrong"; C3 Orange
    0.0297, Blue 0.0975, Deeprd 0.0259, IR 0.0887). Polarizers ``+60/0/-60 Deg`` use
    ``clear / 0.25256`` (C3: times 1.0 / 0.9648.. per filter); C3 Clear with ``H_ALPHA`` is
    1.541. Then the summing division, exactly as IDL::

        if SUMCOL > 0: f /= SUMCOL;  if SUMROW > 0: f /= SUMROW
        if LEBXSUM > 1: f /= LEBXSUM; if LEBYSUM > 1: f /= LEBYSUM

    Parameters
    ----------
    detector, filter, polar : str
        Header ``DETECTOR``, ``FILTER``, ``POLAR``; compared blank-free and upper-cased.
    mjd : int
        Integer MJD of the date of ``DATE-OBS`` (IDL ``STR2UTC(hdr.date_obs).mjd``; a level-0.5
        ``DATE-OBS`` holds the date only, so this is the day, not ``MID_DATE``).

    Raises
    ------
    ValueError
        For a detector or filter IDL does not know, and for the combinations where IDL's
        ``ELSE`` branch returns 0 (C2 Deeprd or C3 Clear with an unlisted polarizer). For other
        unlisted polarizers (e.g. ``ND``, whose IDL case label is ``'nd'`` and never matches)
        IDL silently uses the clear-polarizer value, and so does this function.
    """
    factor = calibration_factor_unsummed(detector, filter, polar, mjd)
    if sumcol > 0:
        factor /= sumcol
    if sumrow > 0:
        factor /= sumrow
    if lebxsum > 1:
        factor /= lebxsum
    if lebysum > 1:
        factor /= lebysum
    return factor * 1.0e-10


# --------------------------------------------------------------------------------------------
# c2_calibrate.pro / c3_calibrate.pro
# --------------------------------------------------------------------------------------------

def level1_calibration_files(detector: str, mjd: int) -> dict[str, str]:
    """Names of the calibration images level 1 uses (``$LASCO_DATA/calib``).

    C2 (``c2_calibrate.pro`` 1.14): vignetting ``c2vig_final.fts`` (already inverted).
    C3 (``c3_calibrate.pro`` 1.54): vignetting ``c3vig_preint_final.fts`` before MJD 51000
    (~1998-07-06, the SOHO interruption) else ``c3vig_postint_final.fts``; mask
    ``c3_cl_mask_lvl1.fts``; stray-light ramp ``C3ramp.fts``; background ``3m_clcl_all.fts``
    (only for the fuzzy fill of missing blocks). ``mjd`` is the day of ``DATE-OBS``.
    """
    tel = _detector(detector)
    if tel == "C2":
        return {"vignetting": "c2vig_final.fts"}
    vig = "c3vig_preint_final.fts" if int(mjd) < 51000 else "c3vig_postint_final.fts"
    return {"vignetting": vig, "mask": "c3_cl_mask_lvl1.fts", "ramp": "C3ramp.fts",
            "background": "3m_clcl_all.fts"}


def ramp_applies(detector: str, filter: str) -> bool:
    """Whether the C3 stray-light ramp is subtracted: C3 and ``FILTER == 'Clear'`` only."""
    return _detector(detector) == "C3" and str(filter).strip() == "Clear"


def is_polarization_product(polar: str) -> bool:
    """``POLAR`` names a polarisation product (no bias, no ramp); IDL compares case sensitively."""
    return str(polar).strip() in POLARIZATION_PRODUCTS


def clip_c2_vignetting(vignetting: np.ndarray) -> np.ndarray:
    """C2 vignetting as ``c2_calibrate.pro`` uses it: negatives set to 0, values > 100 to 100."""
    return np.clip(np.asarray(vignetting, dtype=np.float64), 0.0, 100.0)


def photometric_calibration(raw: np.ndarray, *, bias: float, exptime: float, calfac: float,
                            vignetting: np.ndarray | float = 1.0,
                            ramp: np.ndarray | float = 0.0,
                            subtract_bias: bool = True,
                            dtype: type = np.float64) -> np.ndarray:
    """DN to MSB, in the order and with the constants of ``c2/c3_calibrate.pro``.

    ::

        C2:  img = (raw - bias) * calfac / exptime * vig
        C3:  img = (raw - bias) / exptime * vig * calfac - ramp

    The two orders are the same product; this computes ``(raw - bias) / exptime`` first (IDL
    C3: "because of cases where exptime is small") in float64. ``exptime`` is the corrected
    one (:func:`corrected_exposure_time`); ``vig`` is the inverted vignetting, binned to the
    frame (``lasco_geometry.bin_to_frame``); ``ramp`` is the C3 stray-light ramp in MSB (not
    vignetted, subtracted after the calibration factor; 0 for C2 and for C3 non-Clear filters,
    see :func:`ramp_applies`). For polarisation products (``subtract_bias=False``) IDL uses
    ``raw / exptime * calfac * vig`` with no bias and no ramp.

    Missing blocks (raw ``<= 0``) are not treated here: IDL lets them through as
    ``-bias * calfac / exptime * vig`` and masks them later (``reduce_level_1.pro``; see
    ``lasco_geometry.missing_pixel_mask``). The C3 background ``3m_clcl_all.fts`` is only used by
    IDL to fill missing blocks (fuzzy) and is never subtracted.
    """
    img = np.asarray(raw, dtype=dtype)
    bias, exptime, calfac = dtype(bias), dtype(exptime), dtype(calfac)
    if subtract_bias:
        img = (img - bias) / exptime
        return img * vignetting * calfac - ramp
    return img / exptime * calfac * vignetting


# --------------------------------------------------------------------------------------------
# get_solar_radius.pro / solar_ephem.pro / get_sec_pixel.pro
# --------------------------------------------------------------------------------------------

def solar_radius_arcsec(mjd: int, *, soho: bool = True) -> float:
    """Apparent solar radius in arcsec (``get_solar_radius.pro`` 1.13 via ``solar_ephem``).

    ::

        n    = mjd - 51544                       (days since 2000-01-01, integer)
        g    = 357.528 + 0.9856003 n             (mean anomaly, deg)
        dist = 1.00014 - 0.01672 cos g - 0.00014 cos 2g   (AU)
        dist = 0.99 dist  for SOHO (LASCO detectors)
        R    = 3600 * 0.2666 / dist

    ``get_solar_radius`` passes ``utc2yymmdd(DATE-OBS)`` to ``solar_ephem``: only the day
    counts, so ``mjd`` is the integer MJD of the (uncorrected) observation date.
    """
    n = float(int(mjd) - MJD_J2000_DATE)
    g = np.deg2rad(357.528 + 0.9856003 * n)
    dist = 1.00014 - 0.01672 * np.cos(g) - 0.00014 * np.cos(2.0 * g)
    if soho:
        dist *= 0.99
    return float(0.2666 / dist * 3600.0)


def plate_scale_arcsec(detector: str, binning: float = 1.0) -> float:
    """Plate scale in arcsec per pixel: ``subtense(detector) * binning`` (``get_sec_pixel.pro``).

    ``binning`` is IDL's ``(R2COL - R1COL + 1) / NAXIS1``: 1 for a full 1024 frame, 2 for 512.
    C2 11.9, C3 56.0 arcsec per full-resolution pixel.
    """
    return SUBTENSE_ARCSEC[_detector(detector)] * float(binning)
