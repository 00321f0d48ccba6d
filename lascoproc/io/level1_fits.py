"""Level-1 FITS files of LASCO frames: header, WCS, brightness and quality.

Keywords per NRL's level-1 products (``reduce_level_1.pro`` 1.68 and the real level-1 C2 frame
in ``tests/data``): ``LEVEL = '1.0'``, ``BUNIT = 'MSB'``, ``NMISSING``, ``MISSLIST``, ``RSUN``
(arcsec, from SOHO's distance), ``DATE-OBS`` in ISO form with an empty ``TIME-OBS``,
``CROTA1``/``CROTA2`` (0 after a north-up rotation, else the roll), ``RECTIFY``, the corrected
``EXPTIME``; plus a standard WCS that astropy and ``sunpy.map.Map`` accept: helioprojective
``HPLN-TAN``/``HPLT-TAN`` in arcsec with the sun centre at ``CRPIX`` and ``CRVAL = (0, 0)``,
the rotation in ``CROTA2``, and the observer position (``DSUN_OBS`` in m, ``HGLN_OBS``/
``HGLT_OBS`` in deg, Stonyhurst). NRL's files also carry a bare ``CROTA``, which astropy's WCS
rejects ("looks very much like CROTAn but isn't"); it is left out.

Written by :func:`write_level1_frame`: the primary HDU holds the brightness (float32 MSB, NaN
where there is no valid datum), an image extension ``QUALITY`` the per-pixel flags. File names
follow NRL's level-1 archive: the level-0.5 file name in ``OUT/YYMMDD/c2|c3/``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from astropy.io import fits

from lascoproc.io.fs import get_fs

__all__ = ["level1_cards", "level1_hdulist", "misslist", "write_level1_frame",
           "level1_fits_path"]


def misslist(blocks: Iterable[int], width: int = 68) -> str:
    """``MISSLIST``: the missing 32x32 block indices (``by * nbx + bx``), blank-separated.

    ``'None'`` when no block is missing (as in the real C2 level-1 header); a list too long
    for one card ends with ``...`` (``NMISSING`` always has the full count).
    """
    blocks = [int(b) for b in blocks]
    if not blocks:
        return "None"
    text = " ".join(str(b) for b in blocks)
    return text if len(text) <= width else text[: width - 3].rsplit(" ", 1)[0] + " ..."


def _mjd(time: np.datetime64) -> float:
    days = (np.datetime64(time, "ms") - np.datetime64("1858-11-17", "ms")) / np.timedelta64(1, "D")
    return round(float(days), 6)


def _iso(time: np.datetime64) -> str:
    return str(np.datetime64(time, "ms"))


def level1_cards(frame: Mapping[str, Any], *, shape: tuple[int, int], detector: str,
                 missing_blocks: Iterable[int] = (), history: Iterable[str] = ()
                 ) -> list[tuple[str, Any, str]]:
    """The level-1 header cards of one frame.

    ``frame`` holds the frame's per-frame coordinates of a level-1 cube
    (:func:`lascoproc.calibrate.level1.calibrate_level1`): ``time``, ``filter``, ``polarizer``,
    ``exptime``, ``crpix1``, ``crpix2``, ``cdelt``, ``crota``, ``rectify``, ``rsun``,
    ``dsun_obs``, ``hgln_obs``, ``hglt_obs`` and the level-0.5 header values (``filename``,
    ``fileorig``, ``r1col``... ``lebysum``, ``readport``, ``mid_date``, ``mid_time``).
    """
    ny, nx = shape
    crota = float(frame["crota"])
    cdelt = float(frame["cdelt"])
    blocks = list(missing_blocks)
    cards: list[tuple[str, Any, str]] = [
        ("TELESCOP", "SOHO", ""),
        ("INSTRUME", "LASCO", ""),
        ("DETECTOR", detector.upper(), ""),
        ("FILENAME", str(frame.get("filename", "")), "level-0.5 file"),
        ("FILEORIG", str(frame.get("fileorig", "")), ""),
        ("LEVEL", "1.0", "lascoproc port of reduce_level_1.pro"),
        ("BUNIT", "MSB", "mean solar brightness"),
        ("DATE-OBS", _iso(frame["time"]), "start of exposure (UTC)"),
        ("TIME-OBS", "", ""),
        ("MJD-OBS", _mjd(frame["time"]), "MJD of DATE-OBS"),
        ("EXPTIME", float(frame["exptime"]), "[s] corrected exposure time"),
        ("FILTER", str(frame["filter"]), ""),
        ("POLAR", str(frame["polarizer"]), ""),
        ("READPORT", str(frame.get("readport", "C")), ""),
        ("R1COL", int(frame["r1col"]), ""),
        ("R1ROW", int(frame["r1row"]), ""),
        ("R2COL", int(frame["r2col"]), ""),
        ("R2ROW", int(frame["r2row"]), ""),
        ("SUMCOL", int(frame["sumcol"]), ""),
        ("SUMROW", int(frame["sumrow"]), ""),
        ("LEBXSUM", int(frame["lebxsum"]), ""),
        ("LEBYSUM", int(frame["lebysum"]), ""),
        ("MID_DATE", int(frame["mid_date"]), "MJD of mid-exposure"),
        ("MID_TIME", float(frame["mid_time"]), "[s] of day of mid-exposure"),
        ("WCSNAME", "Helioprojective-cartesian", ""),
        ("CTYPE1", "HPLN-TAN", ""),
        ("CTYPE2", "HPLT-TAN", ""),
        ("CUNIT1", "arcsec", ""),
        ("CUNIT2", "arcsec", ""),
        ("CRPIX1", float(frame["crpix1"]), "sun centre, FITS pixels"),
        ("CRPIX2", float(frame["crpix2"]), "sun centre, FITS pixels"),
        ("CRVAL1", 0.0, "[arcsec]"),
        ("CRVAL2", 0.0, "[arcsec]"),
        ("CDELT1", cdelt, "[arcsec/pixel]"),
        ("CDELT2", cdelt, "[arcsec/pixel]"),
        ("CROTA1", crota, "[deg] rotate CROTA1 deg CCW to correct"),
        ("CROTA2", crota, "[deg] the WCS rotation"),
        ("RECTIFY", float(frame["rectify"]), "[deg] rotation applied to the image"),
        ("RSUN", float(frame["rsun"]), "[arcsec] apparent solar radius from SOHO"),
        ("DSUN_OBS", float(frame["dsun_obs"]), "[m] SOHO-Sun distance"),
        ("HGLN_OBS", float(frame["hgln_obs"]), "[deg] Stonyhurst longitude of SOHO"),
        ("HGLT_OBS", float(frame["hglt_obs"]), "[deg] Stonyhurst latitude of SOHO (B0)"),
        ("RSUN_REF", 695700000.0, "[m] IAU 2015 nominal solar radius"),
        ("NMISSING", len(blocks), "missing 32x32 blocks in the level-0.5 frame"),
        ("MISSLIST", misslist(blocks), "missing block indices (row * nbx + col)"),
    ]
    del ny, nx  # the FITS writer sets NAXIS from the data
    for line in history:
        cards.append(("HISTORY", str(line), ""))
    return cards


def level1_hdulist(cards: Iterable[tuple[str, Any, str]], brightness: np.ndarray,
                   quality: np.ndarray) -> fits.HDUList:
    """The HDUs of one level-1 frame: primary brightness + ``QUALITY`` extension."""
    header = fits.Header()
    for key, value, comment in cards:
        if key == "HISTORY":
            header.add_history(value)
            continue
        if isinstance(value, str) or len(f"{key:8}= {value!r:>20} / {comment}") > 80:
            comment = comment[: max(0, 80 - 33 - len(str(value)))]
        header[key] = (value, comment)
    primary = fits.PrimaryHDU(np.asarray(brightness, dtype=np.float32), header=header)
    qual = fits.ImageHDU(np.asarray(quality, dtype=np.uint8), name="QUALITY")
    qual.header["COMMENT"] = "bits: 1 missing telemetry, 2 outside field, 4 filled"
    return fits.HDUList([primary, qual])


def level1_fits_path(root: str, time: np.datetime64, detector: str, filename: str) -> str:
    """``root/YYMMDD/c2|c3/filename`` as NRL lays out its level-1 archive."""
    day = np.datetime_as_string(np.datetime64(time, "D")).replace("-", "")[2:]
    return "/".join([root.rstrip("/"), day, detector.lower(), filename])


def write_level1_frame(out: str, frame: Mapping[str, Any], brightness: np.ndarray,
                       quality: np.ndarray, *, detector: str, missing_blocks: Iterable[int],
                       history: Iterable[str] = (),
                       storage_options: Mapping[str, Any] | None = None) -> str:
    """Write one level-1 frame under ``out`` (path or URL); returns the file's path."""
    fs, root = get_fs(out, storage_options)
    name = str(frame.get("filename") or "frame.fts")
    path = level1_fits_path(root, frame["time"], detector, name)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    cards = level1_cards(frame, shape=brightness.shape, detector=detector,
                         missing_blocks=missing_blocks, history=history)
    hdul = level1_hdulist(cards, brightness, quality)
    with fs.open(path, "wb") as handle:
        hdul.writeto(handle)
    return path


def level1_header(frame_ds) -> fits.Header:
    """The level-1 FITS header of one frame of a level-1 cube (``ds.isel(time=i)``).

    Only per-frame coordinates are read (no pixel data); the header has no HISTORY.
    """
    frame = {name: frame_ds[name].values.item() for name, coord in frame_ds.coords.items()
             if coord.ndim == 0}
    frame["time"] = frame_ds["time"].values
    shape = (frame_ds.sizes["y"], frame_ds.sizes["x"])
    detector = str(frame_ds.attrs.get("detector", frame.get("detector", "")))
    header = fits.Header()
    header["NAXIS"] = 2
    header["NAXIS1"] = shape[1]
    header["NAXIS2"] = shape[0]
    for key, value, comment in level1_cards(frame, shape=shape, detector=detector):
        header[key] = (value, comment[:40])
    return header


def level1_wcs(frame_ds):
    """The :class:`astropy.wcs.WCS` of one frame of a level-1 cube (``ds.isel(time=i)``)."""
    from astropy.wcs import WCS

    return WCS(level1_header(frame_ds))
