"""Level-1 FITS files of LASCO frames as NRL writes them: header, WCS, brightness, quality.

The one place of the LASCO level-1 header's quirks (STYLE rule 10). Keywords and comments follow
``reduce_level_1.pro`` 1.68 (SolarSoft LASCO library, ``RobertJaro/SOHOpy``
``references/legacy/lasco_idl``) and the real NRL level-1 C2 frame in
``tests/data/lasco_c2_25299383_s.fts``; ``docs/level1_parity.md`` lists every keyword of that
file with its meaning, ours and the test. Keywords computed from pixels (``NMISSING``,
``MISSLIST``, the ``DATA*`` statistics, the C3 Clear integer scaling) are computed by
:mod:`lascoproc.kernels.level1_header` and handed to :func:`pixel_cards`.

The file (:func:`write_level1_frame`):

- primary HDU: the brightness in MSB (float32, NaN where there is no datum), or with
  ``nrl_scaling`` for C3 Clear NRL's int16 with ``BSCALE``/``BZERO``/``BLANK``; a standard WCS
  (helioprojective ``HPLN-TAN``/``HPLT-TAN`` in arcsec, the sun centre at ``CRPIX`` with
  ``CRVAL = 0``, the rotation in ``CROTA2``) and the observer (``DSUN_OBS`` m, ``HGLN_OBS``/
  ``HGLT_OBS`` deg, Stonyhurst), so that a plain ``sunpy.map.Map(path)`` gives one ``LASCOMap``
  with the right observer, as for NRL's own files. NRL's bare ``CROTA`` is written too (same
  value as ``CROTA1``/``CROTA2``); ``astropy.wcs.WCS(header)`` notes it with a
  ``FITSFixedWarning`` ("looks very much like CROTAn"), as it does for NRL's files:
  :func:`level1_wcs` builds the WCS without it.
- ``QUALITY``: the per-pixel flags (uint8) as a one-row binary table whose single cell holds the
  ``(ny, nx)`` image. sunpy makes maps of image HDUs only and skips it; astropy reads it with
  :func:`read_level1_quality`. Its header carries the primary's WCS in the FITS convention for
  image arrays in table cells (``1CTYP1``, ``2CRPX1``, ``2CROT1``...; FITS WCS paper I), so
  ``astropy.wcs.WCS(header, keysel=["binary"], colsel=[1])`` gives the pixel grid's WCS.

File names (:func:`level1_file_name`, :func:`level1_fits_targets`): from the level-0.5 file name
of the archive listing (the cube's ``path`` coordinate), never from a header's ``FILENAME``;
NRL's renaming applied; ``OUT/YYMMDD/c2|c3/`` by the (corrected) observation day; two frames
with one name refused, existing files kept unless ``overwrite``; each file written to a
temporary name in its directory and renamed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import posixpath
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from astropy.io import fits
from fsspec.implementations.local import LocalFileSystem

from lascoproc.io.fs import get_fs, protocol_of, redact_url

if TYPE_CHECKING:  # the kernels' results, read by attribute only
    from lascoproc.kernels.level1_header import (
        ImageStatistics,
        MissingBlocksHeader,
        NrlScaledImage,
    )

__all__ = [
    "ObservationTime",
    "observation_time",
    "level1_file_name",
    "level1_fits_path",
    "level1_fits_targets",
    "level1_cards",
    "pixel_cards",
    "level1_hdulist",
    "write_level1_frame",
    "read_level1_quality",
    "level1_header",
    "level1_wcs",
    "to_sunpy_map",
]

Card = tuple[str, Any, str]

#: ``reduce_level_1.pro`` 1.68: the level-0.5 file's second character (its "source") and the
#: level-1 one (``STRPUT, root, '4'|'5', 1``): quicklook 1 and 3 -> 4, final 2 -> 5.
NRL_SOURCE_RENAME = {"1": "4", "2": "5", "3": "4"}

#: Suffix of a level-1 name whose level-0.5 name does not follow NRL's pattern.
FALLBACK_SUFFIX = "_l1"

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")

_STATISTICS_COMMENTS = {
    "DATAMIN": " Minimum Value Not Equal to Zero before BSCALE",
    "DATAMAX": " Maximum Value before BSCALE",
    "DATAZER": " Number of Zero Pixels",
    "DATASAT": " Number of Saturated Pixels",
    "DSATVAL": " Value used as saturated",
    "DSATMIN": " Minimum value in scaled image",
    "NSATMIN": " Number of pixels cut off on lower end",
    "DATAAVG": " Mean of Image before BSCALE",
    "DATASIG": " Standard Deviation of Image before BSCALE",
}

_QUALITY_COMMENT = "bits: 1 missing telemetry, 2 outside field, 4 filled"


# --------------------------------------------------------------------------------------------
# Time: DATE-OBS / DATE_OBS / TIME-OBS
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ObservationTime:
    """The times of one frame: what ``DATE-OBS`` says, the level-0.5 time, and whether the
    former is NRL's corrected time (``adjust_all_date_obs``, TIME_DIFF tables)."""

    date_obs: np.datetime64
    level05: np.datetime64
    corrected: bool
    source: str = ""


_UNCORRECTED_WORDS = ("level-0.5", "level 0.5", "level05", "uncorrected", "not corrected",
                      "not covered")


def _is_time(value) -> bool:
    try:
        return not np.isnat(np.datetime64(value, "ns"))
    except (TypeError, ValueError):
        return False


def observation_time(frame: Mapping[str, Any]) -> ObservationTime:
    """The frame's ``DATE-OBS``, from the per-frame coordinates of a level-1 cube.

    - ``date_obs`` (the plan's corrected time) when present and not NaT; a ``date_obs`` equal
      to the level-0.5 time whose ``date_obs_source`` says level-0.5 / not covered is not a
      correction;
    - else ``time`` when ``time_level05`` exists (the cube's time axis is then the corrected
      time);
    - else the level-0.5 time, ``corrected=False``.

    The level-0.5 time is ``time_level05`` when present, else ``time``.
    """
    level05 = np.datetime64(frame["time_level05"] if "time_level05" in frame else frame["time"],
                            "ns")
    source = str(frame.get("date_obs_source", "") or "")
    candidate = None
    if "date_obs" in frame and _is_time(frame["date_obs"]):
        candidate = np.datetime64(frame["date_obs"], "ns")
    elif "time_level05" in frame and _is_time(frame["time"]):
        candidate = np.datetime64(frame["time"], "ns")
    if candidate is None:
        return ObservationTime(level05, level05, False, source)
    says_uncorrected = any(word in source.lower() for word in _UNCORRECTED_WORDS)
    if candidate == level05 and says_uncorrected:
        return ObservationTime(level05, level05, False, source)
    return ObservationTime(candidate, level05, True, source)


def _iso(time: np.datetime64) -> str:
    """``utc2str`` form: ``YYYY-MM-DDTHH:MM:SS.sss``."""
    return str(np.datetime64(time, "ms"))


def _ecs(time: np.datetime64) -> str:
    """The level-0.5 ``DATE-OBS TIME-OBS`` form: ``YYYY/MM/DD HH:MM:SS.sss``."""
    return _iso(time).replace("-", "/").replace("T", " ")


def _mjd(time: np.datetime64) -> float:
    """MJD of ``time`` to the millisecond of ``DATE-OBS`` (wcslib's ``datfix`` finds them equal)."""
    days = (np.datetime64(time, "ms") - np.datetime64("1858-11-17", "ms")) / np.timedelta64(1, "D")
    return float(days)


# --------------------------------------------------------------------------------------------
# File names and places
# --------------------------------------------------------------------------------------------

def level1_file_name(level05_name: str) -> str:
    """NRL's level-1 file name of a level-0.5 file (``reduce_level_1.pro`` 1.68).

    IDL: ``root`` is the name up to its first ``.``; its second character, the "source", becomes
    ``'4'`` for ``'1'`` and ``'3'`` (quicklook) and ``'5'`` for ``'2'`` (final); the level-1
    name is ``root + '.fts'``: ``22299383.fts`` -> ``25299383.fts``, ``33785492.fts`` ->
    ``34785492.fts``. IDL refuses other sources; here the root gets :data:`FALLBACK_SUFFIX`
    (``27000001.fts`` -> ``27000001_l1.fts``), so that a level-1 file never takes its level-0.5
    file's name.

    Only the last path component is used, and characters other than ``A-Z a-z 0-9 . _ + -``
    become ``_`` (leading dots removed): a name can never leave its directory.
    """
    name = posixpath.basename(str(level05_name).replace("\\", "/"))
    root = _UNSAFE.sub("_", name.split(".", 1)[0]).lstrip(".")
    if not root:
        raise ValueError(f"no level-1 file name can be made from {level05_name!r}")
    if len(root) >= 2 and root[1] in NRL_SOURCE_RENAME:
        return root[0] + NRL_SOURCE_RENAME[root[1]] + root[2:] + ".fts"
    return root + FALLBACK_SUFFIX + ".fts"


def _detector_dir(detector: str) -> str:
    det = str(detector).strip().upper()
    if det not in ("C1", "C2", "C3"):
        raise ValueError(f"detector {detector!r} is not LASCO C1, C2 or C3")
    return det.lower()


def level1_fits_path(root: str, time: np.datetime64, detector: str, filename: str) -> str:
    """``root/YYMMDD/c2|c3/filename`` as NRL lays out its level-1 archive.

    ``reduce_level_1.pro`` 1.68: ``sd = outdir + yymmdd + '/' + camera``, ``yymmdd`` of the
    corrected ``DATE-OBS`` ("make sure file is put into correct day directory according to
    corrected time"). ``filename`` must be a plain name (:func:`level1_file_name`).
    """
    if "/" in filename or "\\" in filename or filename.startswith(".") or not filename:
        raise ValueError(f"{filename!r} is not a plain file name")
    day = np.datetime_as_string(np.datetime64(time, "D")).replace("-", "")[2:]
    return "/".join([root.rstrip("/"), day, _detector_dir(detector), filename])


def _source_name(frame: Mapping[str, Any]) -> str:
    """The level-0.5 file name from the archive listing (``path``), never the header's."""
    path = redact_url(str(frame.get("path", "") or ""))
    if not path:
        raise ValueError("the frame has no 'path' coordinate (the level-0.5 file from the "
                         "archive listing): its level-1 file name cannot be made safely")
    return posixpath.basename(path.replace("\\", "/"))


def level1_fits_targets(out: str, frames: Sequence[Mapping[str, Any]], detector: str, *,
                        storage_options: Mapping[str, Any] | None = None,
                        overwrite: bool = False) -> list[str]:
    """The file each frame will be written to, checked before anything is written.

    Names: :func:`level1_file_name` of the level-0.5 file of the archive listing (``path``);
    directory: :func:`level1_fits_path` by the day of ``DATE-OBS`` (:func:`observation_time`).
    Returns local paths for a local ``out``, URLs otherwise.

    Raises
    ------
    ValueError
        Two frames would be written to one file (both sources named), or a frame has no
        ``path``.
    FileExistsError
        Files exist already and ``overwrite`` is False.
    """
    fs, root = get_fs(out, storage_options)
    targets: list[str] = []
    seen: dict[str, str] = {}
    clashes: list[str] = []
    for frame in frames:
        source = redact_url(str(frame.get("path", "")))
        name = level1_file_name(_source_name(frame))
        path = level1_fits_path(root, observation_time(frame).date_obs, detector, name)
        if path in seen:
            clashes.append(f"{path}: from {seen[path]} and from {source}")
        seen.setdefault(path, source)
        targets.append(path)
    if clashes:
        raise ValueError(f"{len(clashes)} level-1 file(s) would be written twice, nothing was "
                         "written: " + "; ".join(clashes[:5])
                         + (" ..." if len(clashes) > 5 else ""))
    if not overwrite:
        existing = [p for p in targets if fs.exists(p)]
        if existing:
            raise FileExistsError(
                f"{len(existing)} level-1 file(s) exist already (first: {existing[0]}); "
                "nothing was written. Pass overwrite=True (--overwrite) to replace them")
    if protocol_of(out) != "file":
        return [fs.unstrip_protocol(p) for p in targets]
    return targets


# --------------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------------

def _finite(value) -> bool:
    try:
        return bool(np.isfinite(float(value)))
    except (TypeError, ValueError):
        return False


def _text(value) -> str:
    return str(value if value is not None else "").strip()


def _pointing_comment(frame: Mapping[str, Any]) -> str:
    """IDL's ``cmnt``: ``'Final Correction '`` for table values, ``'WARNING: Interim value '``
    where the tables stop (the level-0.5 header's, ``get_sun_center``'s or ``get_roll_or_xy``'s
    estimate)."""
    source = _text(frame.get("pointing_source", ""))
    interim = source.startswith(("level-0.5", "get_sun_center", "get_roll_or_xy"))
    return "WARNING: Interim value " if interim else "Final Correction "


def level1_cards(frame: Mapping[str, Any], *, shape: tuple[int, int], detector: str,
                 file_name: str | None = None, pixel_keywords: Iterable[Card] = (),
                 history: Iterable[str] = (), created: np.datetime64 | None = None
                 ) -> list[Card]:
    """The level-1 header cards of one frame, as ``reduce_level_1.pro`` 1.68 writes them.

    Parameters
    ----------
    frame
        The frame's per-frame coordinates of a level-1 cube
        (:func:`lascoproc.calibrate.level1.calibrate_level1`): ``time`` (and ``time_level05``,
        ``date_obs``, ``date_obs_source`` where the time correction ran), the plan's
        ``exptime``, ``crpix1``, ``crpix2``, ``cdelt``, ``crota``, ``rectify``, ``rotation``,
        ``rsun``, ``dsun_obs``, ``hgln_obs``, ``hglt_obs``, ``pointing_source``,
        ``observer_source``, ``bias``, ``bias_source``, and the level-0.5 header values
        (``filename``, ``fileorig``, ``filter``, ``polarizer``, ``readport``, ``r1col`` ...
        ``lebysum``, ``mid_date``, ``mid_time``, ``comprssn`` when carried) and ``path``.
        A non-finite number leaves its card out (a frame that could not be calibrated).
    shape
        ``(ny, nx)`` of the image.
    file_name
        The level-1 file name (``FILENAME``); default :func:`level1_file_name` of ``path``.
    pixel_keywords
        Cards computed from the pixels (:func:`pixel_cards`).
    created
        ``DATE`` (file creation, UTC); default now.

    Returns
    -------
    list of (keyword, value, comment)
        ``HISTORY``/``COMMENT`` lines as ``("HISTORY", text, "")``.
    """
    ny, nx = (int(v) for v in shape)
    when = observation_time(frame)
    source_name = str(frame.get("path", "") or "") and _source_name(frame)
    header_name = _text(frame.get("filename", ""))
    if file_name is None:
        file_name = level1_file_name(source_name or header_name or "frame.fts")
    created = np.datetime64(dt.datetime.now(dt.UTC).replace(tzinfo=None), "ms") \
        if created is None else created
    cmnt = _pointing_comment(frame)
    rotated = _finite(frame.get("rotation", 0.0)) and float(frame.get("rotation", 0.0)) != 0.0
    rcmnt = cmnt + (": image corrected to solar north" if rotated else "")
    tcmnt = "Final Correction " if when.corrected else "WARNING: Original uncorrected value"
    cards: list[Card] = [
        ("DATE", _iso(created), "file creation (UTC)"),
        ("FILENAME", file_name, ""),
        ("FILEORIG", _text(frame.get("fileorig", "")), ""),
        ("DATE-OBS", _iso(when.date_obs), tcmnt),
        ("TIME-OBS", "", " Obsolete"),
        ("DATE_OBS", _iso(when.date_obs), ""),
        ("MJD-OBS", _mjd(when.date_obs), "MJD of DATE-OBS"),
        ("EXPTIME", frame.get("exptime"), "[s] corrected exposure time"),
        ("TELESCOP", "SOHO", ""),
        ("INSTRUME", "LASCO", ""),
        ("DETECTOR", str(detector).strip().upper(), ""),
        ("READPORT", _text(frame.get("readport", "")) or "C", ""),
        ("SUMROW", frame.get("sumrow"), ""),
        ("SUMCOL", frame.get("sumcol"), ""),
        ("LEBXSUM", frame.get("lebxsum"), ""),
        ("LEBYSUM", frame.get("lebysum"), ""),
        ("FILTER", _text(frame.get("filter", "")), ""),
        ("POLAR", _text(frame.get("polarizer", "")), ""),
    ]
    if "comprssn" in frame:
        cards.append(("COMPRSSN", _text(frame["comprssn"]), ""))
    cards += [
        ("MID_DATE", frame.get("mid_date"), "WARNING: Original (Uncorrected)"),
        ("MID_TIME", frame.get("mid_time"), "WARNING: Original (Uncorrected)"),
        ("R1COL", frame.get("r1col"), ""),
        ("R1ROW", frame.get("r1row"), ""),
        ("R2COL", frame.get("r2col"), ""),
        ("R2ROW", frame.get("r2row"), ""),
        ("LEVEL", "1.0", ""),
        ("RECTIFY", frame.get("rectify"), "[deg] rotation applied to the image"),
        ("CRPIX1", frame.get("crpix1"), " sun center pixel (X), " + cmnt),
        ("CRPIX2", frame.get("crpix2"), " sun center pixel (Y), " + cmnt),
        ("CROTA", frame.get("crota"), rcmnt),
        ("CROTA1", frame.get("crota"), rcmnt),
        ("CROTA2", frame.get("crota"), rcmnt),
        ("CRVAL1", 0.0, ""),
        ("CRVAL2", 0.0, ""),
        ("CTYPE1", "HPLN-TAN", ""),
        ("CTYPE2", "HPLT-TAN", ""),
        ("CUNIT1", "arcsec", ""),
        ("CUNIT2", "arcsec", ""),
        ("CDELT1", frame.get("cdelt"), " Arcsec/pixel"),
        ("CDELT2", frame.get("cdelt"), " Arcsec/pixel"),
    ]
    if all(_finite(frame.get(k)) for k in ("cdelt", "crpix1", "crpix2")):
        cdelt = float(frame["cdelt"])
        # reduce_level_1.pro 1.68: XCEN = platescl * ((naxis1 + 1) / 2. - crpix_x)
        cards += [("XCEN", cdelt * ((nx + 1) / 2.0 - float(frame["crpix1"])), " Arcsec"),
                  ("YCEN", cdelt * ((ny + 1) / 2.0 - float(frame["crpix2"])), " Arcsec")]
    cards += [
        ("RSUN", frame.get("rsun"), " Arcsec"),
        ("WCSNAME", "Helioprojective-cartesian", ""),
        ("DSUN_OBS", frame.get("dsun_obs"), "[m] SOHO-Sun distance"),
        ("HGLN_OBS", frame.get("hgln_obs"), "[deg] Stonyhurst longitude of SOHO"),
        ("HGLT_OBS", frame.get("hglt_obs"), "[deg] Stonyhurst latitude of SOHO"),
        ("RSUN_REF", 695700000.0, "[m] IAU 2015 nominal solar radius"),
    ]
    cards += list(pixel_keywords)
    cards.append(("BUNIT", "MSB", " Mean Solar Brightness"))
    cards = [_typed(card) for card in cards if _keep(card)]

    cards += [("COMMENT", f" FITS coordinate for center of full image is ({(nx + 1) / 2:g},"
                          f"{(ny + 1) / 2:g}).", ""),
              ("COMMENT", " Rotate image CROTA degrees CCW to correct.", "")]
    cards += [("HISTORY", line, "") for line in _history(frame, when, source_name, header_name,
                                                          file_name)]
    cards += [("HISTORY", str(line), "") for line in history]
    return cards


def _keep(card: Card) -> bool:
    _, value, _ = card
    if value is None:
        return False
    if isinstance(value, (str, np.str_)):
        return True
    return _finite(value)


def _typed(card: Card) -> Card:
    """numpy scalars to Python int/float/str (astropy formats those)."""
    key, value, comment = card
    if isinstance(value, (bool, np.bool_)):
        value = bool(value)
    elif isinstance(value, (int, np.integer)):
        value = int(value)
    elif isinstance(value, (float, np.floating)):
        value = float(value)
    else:
        value = str(value)
    return key, value, comment


def _history(frame, when: ObservationTime, source_name: str, header_name: str,
             file_name: str) -> list[str]:
    lines = [f"reduce_level_1.pro 1.68 as ported by lascoproc,'{source_name or header_name}',"
             f"'{file_name}'"]
    if source_name and header_name and header_name != source_name:
        lines.append(f"level-0.5 header FILENAME '{_UNSAFE.sub('?', header_name)}' differs "
                     f"from the archive's file name '{source_name}'")
    if when.corrected:
        lines.append(f"date_obs corrected ({when.source or 'adjust_all_date_obs'}) Original "
                     f"date_obs: {_ecs(when.level05)}")
    else:
        lines.append("WARNING: DATE-OBS is original uncorrected value (level-0.5 time; no "
                     "TIME_DIFF correction"
                     + (f": {when.source})" if when.source else " in this cube)"))
    if _finite(frame.get("bias")):
        lines.append(f"Bias ({float(frame['bias']):.3f}) from "
                     f"{_text(frame.get('bias_source', '')) or 'unknown'}")
    lines += _factor_history(frame)
    pointing = _text(frame.get("pointing_source", ""))
    if pointing:
        lines.append(f"sun centre and roll from {pointing}")
    observer = _text(frame.get("observer_source", ""))
    lines.append(f"observer (DSUN_OBS, HGLN_OBS, HGLT_OBS): {observer}" if observer else
                 "observer: HGLN_OBS = 0 and DSUN_OBS = 0.99 x Earth-Sun distance "
                 "(approximation; no SOHO orbit file used)")
    keyhole = bool(frame.get("keyhole", False))
    if keyhole:
        lines.append("Image rotated 180 degrees.")  # reduce_level_1.pro 1.68, |CROTA1| > 170
    if _finite(frame.get("rotation")) and float(frame["rotation"]) != 0.0:
        lines.append(f"Applied rotation of {float(frame['rotation']):.4f} deg CCW about the "
                     "sun centre after rectification.")
    elif not keyhole:
        lines.append("No roll correction applied.")
    reason = _text(frame.get("frame_status_reason", ""))
    if reason:
        lines.append(f"frame_status_reason: {reason}")
    return lines


def _factor_history(frame) -> list[str]:
    """The factors NRL's level-1 HISTORY carries (``get_exp_factor.pro`` and
    ``c2/c3_calfactor.pro`` lines: 1.00108 and 6.26831e-12 in the real C2 frame 25299383), the
    level-0.5 exposure time they apply to, and ``c2/c3_calibrate.pro``'s warning when the
    day has no exposure-factor table."""
    lines = []
    if _finite(frame.get("expfac")):
        table = _text(frame.get("expfactor_file", ""))
        lines.append(f"get_exp_factor: {float(frame['expfac']):.5f} "
                     + (f"from {posixpath.basename(table)}" if table else
                        "(no table for the day)"))
        if not table:
            lines.append(" WARNING: No exposure correction found.")
    if _finite(frame.get("exptime_level05")):
        lines.append(f"level-0.5 EXPTIME {float(frame['exptime_level05']):.6g} s")
    if _finite(frame.get("calfac")):
        lines.append(f"calfactor: {float(frame['calfac']):.6g}")
    return lines


def pixel_cards(*, missing: MissingBlocksHeader | None = None,
                statistics: ImageStatistics | None = None,
                scaled: NrlScaledImage | None = None) -> list[Card]:
    """Cards of the pixel-derived keywords, with IDL's comments.

    ``missing``: ``NMISSING``/``MISSLIST`` and IDL's lines
    (:func:`lascoproc.kernels.level1_header.c2_missing_blocks_header`, ``c3_...``);
    ``statistics``: ``reduce_statistics2.pro`` keywords
    (:func:`lascoproc.kernels.level1_header.reduce_statistics2`); ``scaled``: the C3 Clear
    scaling (:func:`lascoproc.kernels.level1_header.nrl_integer_scaling`): ``BSCALE``,
    ``BZERO`` (the IDL FLOAT values as ``FXADDPAR`` writes them, 6 significant digits),
    ``BLANK`` and IDL's two comments.
    """
    cards: list[Card] = []
    if missing is not None:
        cards += [("NMISSING", int(missing.nmissing), " Number of missing blocks."),
                  ("MISSLIST", str(missing.misslist), "")]
        cards += [("COMMENT", line, "") for line in missing.comments]
        cards += [("HISTORY", line, "") for line in missing.history]
    if statistics is not None:
        for key, value in statistics.keywords():
            cards.append((key, value, _STATISTICS_COMMENTS.get(key, " Percentile Value")))
        if statistics.odd_image:
            cards.append(("HISTORY", "reduce_statistics2: odd image (max >= 0.1): statistics "
                                     "of the image with values > 5e-5 set to 5e-5", ""))
    if scaled is not None:
        cards += [("BSCALE", scaled.bscale_card, "Data value = FITS value x BSCALE + BZERO"),
                  ("BZERO", scaled.bzero_card, ""),
                  ("BLANK", int(scaled.blank), ""),
                  ("COMMENT", " Data is scaled between 0 and 6.50000e-09", ""),
                  ("COMMENT", " Percentile values are before scaling.", "")]
    return cards


# --------------------------------------------------------------------------------------------
# HDUs and files
# --------------------------------------------------------------------------------------------

def _header(cards: Iterable[Card], skip: Iterable[str] = ()) -> fits.Header:
    """A FITS header of ``cards``; comments cut to the 80-column card (never a warning)."""
    skip = set(skip)
    header = fits.Header()
    for key, value, comment in cards:
        if key in skip:
            continue
        if key in ("HISTORY", "COMMENT"):
            text = _PRINTABLE.sub("?", str(value))  # FITS cards hold printable ASCII only
            (header.add_history if key == "HISTORY" else header.add_comment)(text)
        elif isinstance(value, str):
            header[key] = (_PRINTABLE.sub("?", value), _fitting_comment(key, value, comment))
        else:
            header[key] = (value, _fitting_comment(key, value, comment))
    return header


def _fitting_comment(key: str, value, comment: str) -> str:
    """``comment`` cut to what fits on the card after ``value`` (none after a long string)."""
    image = fits.Card(key, _PRINTABLE.sub("?", value) if isinstance(value, str) else value).image
    room = 80 - len(image.rstrip()) - 3 if len(image) <= 80 else 0
    return _PRINTABLE.sub("?", comment)[:room] if room > 0 else ""


_WCS_IN_CELL = (("CTYPE", "CTYP"), ("CUNIT", "CUNI"), ("CRPIX", "CRPX"), ("CRVAL", "CRVL"),
                ("CDELT", "CDLT"))
_OBSERVER_IN_CELL = (("DSUN_OBS", "DSUN1"), ("HGLN_OBS", "HGLN1"), ("HGLT_OBS", "HGLT1"))


def _quality_hdu(quality: np.ndarray, header: fits.Header,
                 flag_comment: str = _QUALITY_COMMENT) -> fits.BinTableHDU:
    """``QUALITY``: one row, one cell holding the ``(ny, nx)`` flags, with the image's WCS.

    WCS keywords for an image array in column 1 of a binary table (FITS WCS papers I and VII):
    ``iCTYP1``, ``iCUNI1``, ``iCRPX1``, ``iCRVL1``, ``iCDLT1`` for axis ``i``, ``2CROT1``, and
    ``DSUN1``, ``HGLN1``, ``HGLT1`` for the observer (the time is the primary's ``DATE-OBS``).
    """
    quality = np.ascontiguousarray(quality, dtype=np.uint8)
    ny, nx = quality.shape
    column = fits.Column(name="QUALITY", format=f"{ny * nx}B", dim=f"({nx},{ny})",
                         array=quality[np.newaxis])
    hdu = fits.BinTableHDU.from_columns([column], name="QUALITY")
    for key, cell_key in _WCS_IN_CELL:
        for axis in (1, 2):
            if f"{key}{axis}" in header:
                hdu.header[f"{axis}{cell_key}1"] = header[f"{key}{axis}"]
    if "CROTA2" in header:
        hdu.header["2CROT1"] = header["CROTA2"]
    for key, cell_key in _OBSERVER_IN_CELL:
        if key in header:
            hdu.header[cell_key] = header[key]
    hdu.header["COMMENT"] = flag_comment
    hdu.header["COMMENT"] = "Image in the cell of row 1; WCS of the image as in the primary HDU."
    return hdu


def level1_hdulist(cards: Iterable[Card], data: np.ndarray, quality: np.ndarray, *,
                   flag_comment: str = _QUALITY_COMMENT) -> fits.HDUList:
    """The HDUs of one level-1 frame: primary image + ``QUALITY`` table.

    ``data``: float32 brightness (NaN = no datum), or the int16 of the C3 Clear scaling, whose
    ``BSCALE``/``BZERO``/``BLANK`` are among ``cards`` and are written as given (the integers
    are stored as they are, never rescaled by astropy).
    """
    cards = list(cards)
    data = np.asarray(data)
    scaled = data.dtype == np.int16
    header = _header(cards, skip=() if scaled else ("BSCALE", "BZERO", "BLANK"))
    if scaled:
        scaling = {k: header.pop(k) for k in ("BSCALE", "BZERO", "BLANK") if k in header}
        primary = fits.PrimaryHDU(data, header=header, do_not_scale_image_data=True)
        for key, value in scaling.items():
            primary.header[key] = value
    else:
        primary = fits.PrimaryHDU(np.asarray(data, dtype=np.float32), header=header)
    return fits.HDUList([primary, _quality_hdu(quality, primary.header, flag_comment)])


def _write_atomic(fs, path: str, hdul: fits.HDUList, *, overwrite: bool) -> None:
    """Write ``hdul`` to a temporary name in ``path``'s directory, then rename it to ``path``.

    Local files are flushed to disk (``fsync``) before the rename (``os.replace``, atomic); other
    filesystems write the temporary object completely, then ``mv`` it. A failure removes the
    temporary file and leaves ``path`` as it was.
    """
    directory, name = path.rsplit("/", 1)
    fs.makedirs(directory, exist_ok=True)
    if not overwrite and fs.exists(path):
        raise FileExistsError(f"{path} exists already; pass overwrite=True (--overwrite) to "
                              "replace it")
    tmp = f"{directory}/.{name}.{uuid.uuid4().hex}.part"
    try:
        if isinstance(fs, LocalFileSystem):
            with open(tmp, "wb") as handle:
                hdul.writeto(handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:
            with fs.open(tmp, "wb") as handle:
                hdul.writeto(handle)
            fs.mv(tmp, path)
    except BaseException:
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except Exception:  # noqa: BLE001 - the original error is what matters
            pass
        raise


def write_level1_frame(path: str, cards: Iterable[Card], data: np.ndarray,
                       quality: np.ndarray, *,
                       storage_options: Mapping[str, Any] | None = None,
                       overwrite: bool = False, flag_comment: str = _QUALITY_COMMENT) -> str:
    """Write one level-1 frame to ``path`` (a path or URL from :func:`level1_fits_targets`).

    Written to a temporary name beside ``path`` and renamed (a crash never leaves a truncated
    file under the final name); an existing ``path`` is replaced only with ``overwrite``.
    Returns the path written (a URL for remote filesystems).
    """
    fs, fspath = get_fs(path, storage_options)
    hdul = level1_hdulist(cards, data, quality, flag_comment=flag_comment)
    _write_atomic(fs, fspath, hdul, overwrite=overwrite)
    return fspath if protocol_of(path) == "file" else path


def read_level1_quality(path: str, *, storage_options: Mapping[str, Any] | None = None
                        ) -> np.ndarray:
    """The ``QUALITY`` flags ``(ny, nx)`` uint8 of a level-1 file written by lascoproc."""
    fs, fspath = get_fs(path, storage_options)
    with fs.open(fspath, "rb") as handle, fits.open(handle) as hdul:
        return np.array(hdul["QUALITY"].data["QUALITY"][0], dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# Header, WCS and sunpy map of a frame of a level-1 dataset (no pixel statistics)
# --------------------------------------------------------------------------------------------

def _frame_values(frame_ds) -> dict[str, Any]:
    """The scalar coordinates of one frame of a level-1 dataset (``ds.isel(time=i)``)."""
    return {str(name): coord.values[()] for name, coord in frame_ds.coords.items()
            if coord.ndim == 0}


def _detector_of(frame_ds, frame: Mapping[str, Any]) -> str:
    return str(frame_ds.attrs.get("detector", "") or frame.get("detector", "")).strip().upper()


def level1_header(frame_ds) -> fits.Header:
    """The level-1 FITS header of one frame of a level-1 cube or store (``ds.isel(time=i)``).

    Only per-frame coordinates are read (no pixel data): no ``NMISSING``/``MISSLIST``/``DATA*``,
    no HISTORY; ``DATE`` is now.
    """
    frame = _frame_values(frame_ds)
    shape = (int(frame_ds.sizes["y"]), int(frame_ds.sizes["x"]))
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = shape[1]
    header["NAXIS2"] = shape[0]
    cards = [c for c in level1_cards(frame, shape=shape, detector=_detector_of(frame_ds, frame))
             if c[0] != "HISTORY"]
    header.extend(_header(cards), update=True)
    return header


def level1_wcs(frame_ds):
    """The :class:`astropy.wcs.WCS` of one frame of a level-1 cube (``ds.isel(time=i)``).

    Built from :func:`level1_header` without NRL's bare ``CROTA`` (which wcslib reports as
    "looks very much like CROTAn"); the rotation is ``CROTA2``.
    """
    from astropy.wcs import WCS

    header = level1_header(frame_ds)
    del header["CROTA"]
    return WCS(header)


def to_sunpy_map(dataset, index: int):
    """A :class:`sunpy.map.sources.LASCOMap` of frame ``index`` of a level-1 dataset.

    ``dataset``: the lazy level-1 cube (:func:`lascoproc.pipeline.level1.open_level1`) or a
    level-1 Zarr store opened with ``xarray.open_zarr``. The map's data is the frame's
    ``brightness`` (float32 MSB, NaN where there is no datum; this frame is read/computed here,
    it is what was asked for); its header :func:`level1_header`, with the observer
    (``HGLN_OBS``, ``HGLT_OBS``, ``DSUN_OBS``) and ``DATE-OBS`` of the frame. The quality flags
    are ``dataset["quality"][index]``.

    ``map.unit`` is None, and reading it makes sunpy note (``SunpyMetadataWarning``) that
    ``BUNIT = 'MSB'``, NRL's unit, is no FITS unit, as for NRL's own files;
    :data:`lascoproc.units.MSB` is the astropy unit.

    Raises
    ------
    ImportError
        sunpy is not installed (``pip install 'lascoproc[sunpy]'``).
    """
    try:
        import sunpy.map
    except ImportError as err:
        raise ImportError("to_sunpy_map needs sunpy: pip install 'lascoproc[sunpy]'") from err
    frame_ds = dataset.isel(time=int(index))
    header = level1_header(frame_ds)
    data = np.asarray(frame_ds["brightness"].values, dtype=np.float32)
    return sunpy.map.Map(data, header)
