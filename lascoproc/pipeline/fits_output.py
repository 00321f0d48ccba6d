"""Level-1 FITS output: compute a lazy level-1 cube frame batch by frame batch and write one
level-1 FITS file per frame, as NRL writes them.

Wiring only: file names, cards and files are :mod:`lascoproc.io.level1_fits`; the pixel-derived
keywords (``NMISSING``/``MISSLIST``, ``DATA*``, the C3 Clear integer scaling)
:mod:`lascoproc.kernels.level1_header`; what a missing block is
:mod:`lascoproc.kernels.missing_blocks`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import numpy as np
import xarray as xr

from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.level1_fits import (
    level1_cards,
    level1_fits_targets,
    pixel_cards,
    write_level1_frame,
)
from lascoproc.kernels import level1_header as lh
from lascoproc.kernels.missing_blocks import missing_block_numbers
from lascoproc.kernels.quality import FILLED

__all__ = ["write_level1_fits", "frame_pixel_keywords", "run_history", "run_comments"]


def frame_pixel_keywords(brightness: np.ndarray, counts: np.ndarray, frame: Mapping[str, Any],
                         *, detector: str, c2_null_blocks: Sequence[int] = (),
                         nrl_scaling: bool = False) -> tuple[np.ndarray, list]:
    """The data to store and the pixel-derived cards of one frame.

    ``brightness``: the level-1 frame (NaN = no datum); ``counts``: its level-0.5 frame (for
    the missing blocks). Returns ``(data, cards)``: ``data`` is ``brightness`` (float32), or for
    C3 Clear with ``nrl_scaling`` NRL's int16 (:func:`~lascoproc.kernels.level1_header.
    nrl_integer_scaling`); the statistics are those of ``reduce_level_1.pro`` 1.68 either way
    (C3 Clear with ``SATMAX = 6.5e-9``).
    """
    det = str(detector).strip().upper()
    image = lh.idl_image(brightness)
    history = []
    r1col, r1row = int(frame["r1col"]), int(frame["r1row"])
    if "subfield_r1col" in frame and int(frame.get("stored_ny", -1)) >= 0:
        # a subfield placed into a full frame (embed_subfields): its blocks are those of its
        # read-out window, counted in the stored data (the rest of the frame was never read)
        y0, x0 = int(frame["stored_y0"]), int(frame["stored_x0"])
        counts = np.asarray(counts)[y0:y0 + int(frame["stored_ny"]),
                                    x0:x0 + int(frame["stored_nx"])]
        r1col, r1row = int(frame["subfield_r1col"]), int(frame["subfield_r1row"])
    try:
        blocks = missing_block_numbers(
            counts, sumcol=int(frame["sumcol"]), sumrow=int(frame["sumrow"]),
            lebxsum=int(frame["lebxsum"]), lebysum=int(frame["lebysum"]),
            r1col=r1col, r1row=r1row)
        xsum = max(int(frame["sumcol"]), 1) * max(int(frame["lebxsum"]), 1)
        ysum = max(int(frame["sumrow"]), 1) * max(int(frame["lebysum"]), 1)
        if det == "C2":
            missing = lh.c2_missing_blocks_header(blocks, c2_null_blocks, xsum=xsum, ysum=ysum)
        else:
            missing = lh.c3_missing_blocks_header(blocks, xsum=xsum, ysum=ysum)
    except ValueError as err:  # a window outside the CCD: the plan flagged the frame already
        missing = None
        history.append(("HISTORY", f"NMISSING not computed: {err}", ""))
    applies = lh.nrl_scaling_applies(det, str(frame.get("filter", "")))
    statistics = lh.reduce_statistics2(image, satmax=lh.NRL_SCALE_MAX if applies else None)
    scaled = lh.nrl_integer_scaling(image) if (applies and nrl_scaling) else None
    data = scaled.data if scaled is not None else np.asarray(brightness, dtype=np.float32)
    cards = pixel_cards(missing=missing, statistics=statistics, scaled=scaled) + history
    return data, cards


def run_history(attrs: Mapping[str, Any]) -> list[str]:
    """HISTORY lines of a run that a Zarr store keeps in its attributes: the level-1 options
    that depart from ``reduce_level_1.pro``'s defaults and a calibration store used without
    its manifest (``calibration_integrity`` "UNVERIFIED ...")."""
    lines = []
    departures = {"roll_correction": "no north-up rotation (/NOROLL_CORRECTION)",
                  "time_correction": "no DATE-OBS time correction",
                  "orbit": "no SOHO orbit file (observer approximated)",
                  "bias_history": "level-0.5 HISTORY bias not used",
                  "table_bias_lebsum": "table bias not scaled by the LEB summing"}
    for key, text in departures.items():
        value = attrs.get(f"level1_option_{key}")
        if value is not None and not int(value):
            lines.append(f"option: {text}")
    for key in ("bias_version", "pointing_fallback"):
        value = attrs.get(f"level1_option_{key}")
        if value not in (None, "latest", "idl"):
            lines.append(f"option: {key} = {value}")
    integrity = str(attrs.get("calibration_integrity", ""))
    if integrity.upper().startswith("UNVERIFIED"):
        lines.append(f"calibration store {integrity}")
    return lines


def run_comments(attrs: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """COMMENT cards IDL writes for a run option: ``/NOWARP applied`` (``reduce_level_1.pro``
    1.68, C2 and C3 branches) when the distortion was not corrected."""
    value = attrs.get("level1_option_distortion")
    return [("COMMENT", "/NOWARP applied", "")] if value is not None and not int(value) else []


def _c2_null_blocks(level1: xr.Dataset, calib) -> list[int]:
    """``c2nullblocks.txt`` of the run's calibration store."""
    if calib is None:
        calib = str(level1.attrs.get("calibration_store", "") or "")
        if not calib:
            raise ValueError("C2 level-1 FITS needs c2nullblocks.txt: pass calib= (the "
                             "calibration store); the cube names none in its attrs")
    store = calib if isinstance(calib, CalibrationStore) else CalibrationStore(str(calib))
    blocks, _ = store.c2_null_blocks()
    return [int(b) for b in np.asarray(blocks).ravel()]


def write_level1_fits(level1: xr.Dataset, level05: xr.Dataset, out: str, *, batch: int = 8,
                      storage_options: Mapping[str, Any] | None = None,
                      progress: bool = False, nrl_scaling: bool = False,
                      overwrite: bool = False,
                      calib: CalibrationStore | str | None = None,
                      statuses: list[int] | None = None) -> list[str]:
    """Compute and write every frame as a level-1 FITS file; returns the paths.

    Every file name is worked out and checked first (:func:`lascoproc.io.level1_fits.
    level1_fits_targets`: two frames with one name, or existing files without ``overwrite``,
    stop the run before anything is written). ``nrl_scaling``: C3 Clear frames stored as NRL's
    int16 (``reduce_level_1.pro`` 1.68), other frames float32 as always. ``calib``: the
    calibration store (for C2's ``c2nullblocks.txt``); default the store named in
    ``level1.attrs["calibration_store"]``. ``statuses``: a list to which each frame's computed
    ``frame_status`` is appended, in order (a frame found without data when computed is
    written, as NRL writes it, and its status 3 tells the run report).
    """
    detector = str(level1.attrs.get("detector", "")).strip().upper()
    n = level1.sizes["time"]
    if n == 0:
        return []
    names = [name for name, c in level1.coords.items() if c.dims == ("time",)]
    values = {name: np.asarray(level1[name].values) for name in names}
    frames = [{name: values[name][i] for name in names} for i in range(n)]
    targets = level1_fits_targets(out, frames, detector, storage_options=storage_options,
                                  overwrite=overwrite)
    nominal = _c2_null_blocks(level1, calib) if detector == "C2" else []
    history = [f"lascoproc {level1.attrs.get('lascoproc_version', '')}: "
               f"{level1.attrs.get('method', '')}"]
    history += run_history(level1.attrs)
    history += [f"calib {line}" for line in level1.attrs.get("calibration_files", [])]
    comments = run_comments(level1.attrs)
    flags = level1["quality"].attrs
    flag_comment = "bits: " + ", ".join(
        f"{int(m)} {name}" for m, name in zip(np.atleast_1d(flags.get("flag_masks", [])),
                                               str(flags.get("flag_meanings", "")).split(),
                                               strict=False)) \
        if "flag_meanings" in flags else "bits: 1 missing telemetry, 2 outside field, 4 filled"
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="writing FITS", unit="frame")
    written = []
    for first in range(0, n, batch):
        sl = slice(first, min(first + batch, n))
        b, q, c, st = dask.compute(level1["brightness"].data[sl], level1["quality"].data[sl],
                                   level05["counts"].data[sl], level1["frame_status"].data[sl])
        if statuses is not None:
            statuses += [int(v) for v in np.asarray(st)]
        for k, i in enumerate(range(sl.start, sl.stop)):
            frame = frames[i]
            data, keywords = frame_pixel_keywords(b[k], c[k], frame, detector=detector,
                                                  c2_null_blocks=nominal,
                                                  nrl_scaling=nrl_scaling)
            extra = list(history)
            keywords = keywords + comments
            filled = int(np.count_nonzero(np.asarray(q[k]) & FILLED))
            if filled:
                extra.append(f"{filled} missing pixels filled by inpainting "
                             f"({level1.attrs.get('inpaint_method', '')}; quality bit 4 in the "
                             "QUALITY extension)")
            if data.dtype == np.int16:
                extra.append("stored as NRL's C3 Clear int16 (reduce_level_1.pro 1.68 scaling)")
            cards = level1_cards(frame, shape=b[k].shape, detector=detector,
                                 file_name=posixpath.basename(targets[i]),
                                 pixel_keywords=keywords, history=extra)
            written.append(write_level1_frame(targets[i], cards, data, q[k],
                                              storage_options=storage_options,
                                              overwrite=overwrite, flag_comment=flag_comment))
        if bar is not None:
            bar.update(sl.stop - sl.start)
    if bar is not None:
        bar.close()
    return written
