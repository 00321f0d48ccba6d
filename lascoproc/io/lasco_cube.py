"""Lazy LASCO level-0.5 cubes: an :class:`xarray.Dataset` (time, y, x) per detector and frame size.

One frame per dask chunk (STYLE rule 5); headers are read when the cube is built (a few kB per
file, concurrently) and become per-frame coordinates; pixel data are read only when computed.

A frame whose header is unusable (not FITS, truncated, incomplete, inconsistent with the file
size) is left out of the cube and listed, with its reason, in the ``rejected`` attribute. A frame
that fails to read at compute time gives a zero image and ``read_status = 1``: the run goes on and
the frame is flagged, never silently kept as data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

import lascoproc
from lascoproc.io import lasco_header
from lascoproc.io.fs import get_fs
from lascoproc.io.lasco_archive import LascoIndex, Problem, index_archive, read_frame_header

__all__ = ["open_lasco_cube", "open_lasco_frames", "lasco_cube_from_frames", "frame_shapes",
           "read_frame", "READ_STATUS_MEANINGS"]

#: ``read_status`` flag values and meanings (CF ``flag_values``/``flag_meanings``).
READ_STATUS_MEANINGS = {0: "ok", 1: "unreadable_at_compute_time"}

_BITPIX_DTYPE = {16: ">i2", 32: ">i4", -32: ">f4", -64: ">f8"}


def _card_values(raw: bytes, keys: tuple[str, ...]) -> dict[str, str]:
    """Raw value text of a few keywords, straight from the 80-character header cards."""
    out = {}
    for start in range(0, len(raw) - 79, 80):
        key = raw[start:start + 8].decode("latin-1").strip()
        if key in keys and raw[start + 8:start + 10] == b"= ":
            out[key] = raw[start + 10:start + 80].decode("latin-1").split("/", 1)[0].strip()
        elif key == "END":
            break
    return out


def read_frame(fs, path: str) -> np.ndarray:
    """Read the pixels of one level-0.5 file as ``uint16`` (rows = NAXIS2, columns = NAXIS1).

    The data are read directly after the header (FITS primary array, big-endian), with
    ``BZERO``/``BSCALE`` honoured: level-0.5 files are ``BITPIX = 16`` counts without ``BZERO``
    (see :mod:`lascoproc.io.lasco_header`), kept as unsigned 16-bit. Only the five keywords
    needed are parsed from the header cards (the full header was checked when the cube was
    opened).
    """
    with fs.open(path, "rb") as handle:
        raw = lasco_header.read_header_bytes(handle)
        cards = _card_values(raw, ("BITPIX", "NAXIS1", "NAXIS2", "BSCALE", "BZERO"))
        try:
            bitpix = int(cards["BITPIX"])
            ny, nx = int(cards["NAXIS2"]), int(cards["NAXIS1"])
            bscale = float(cards.get("BSCALE", 1.0))
            bzero = float(cards.get("BZERO", 0.0))
        except (KeyError, ValueError) as err:
            raise OSError(f"{path}: unusable BITPIX/NAXIS/BSCALE/BZERO ({err})") from err
        dtype = np.dtype(_BITPIX_DTYPE[bitpix])
        nbytes = ny * nx * dtype.itemsize
        handle.seek(lasco_header.header_size(raw))
        buf = handle.read(nbytes)
    if len(buf) < nbytes:
        raise OSError(f"{path}: data truncated ({len(buf)} of {nbytes} bytes)")
    if bitpix == 16 and bscale == 1.0 and bzero in (0.0, 32768.0):
        # big-endian int16 read as uint16 is the same bits: BZERO 0 keeps them (14-bit counts
        # are never negative), BZERO 32768 (the unsigned convention) flips the sign bit
        data = np.frombuffer(buf, dtype=">u2").reshape(ny, nx)
        if bzero:
            return (data ^ np.uint16(0x8000)).astype(np.uint16)
        return data.astype(np.uint16)
    data = np.frombuffer(buf, dtype=dtype).reshape(ny, nx)
    return np.clip(np.rint(data * bscale + bzero), 0, 65535).astype(np.uint16)


def _read_block(paths: np.ndarray, fs=None, shape=None):
    """dask block function: ``(frame[1, ny, nx], status[1])`` for a one-path block."""
    path = paths[0]
    try:
        frame = read_frame(fs, path)
        if frame.shape != shape:
            raise OSError(f"{path}: shape {frame.shape} differs from its header's {shape}")
        return frame[np.newaxis], np.zeros(1, np.uint8)
    except Exception:  # noqa: BLE001 - any read failure is flagged, never kills the run
        return np.zeros((1, *shape), np.uint16), np.ones(1, np.uint8)


def _frame_part(block, part: int):
    return block[part]


def frame_shapes(index: LascoIndex) -> Counter:
    """How many frames of each ``(ny, nx)`` an index holds."""
    return Counter(zip(index.frames["naxis2"], index.frames["naxis1"], strict=True))


def _read_headers(fs, paths, threads, progress):
    def one(path):
        try:
            return path, read_frame_header(fs, path), None
        except (lasco_header.HeaderError, OSError, KeyError, ValueError) as err:
            return path, None, str(err)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(one, paths)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(paths), desc="reading headers", unit="file")
        return list(results)


def open_lasco_cube(
    source: str | LascoIndex,
    *,
    detector: str,
    start=None,
    end=None,
    shape: tuple[int, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 16,
    progress: bool = False,
) -> xr.Dataset:
    """Open the level-0.5 frames of one detector as a lazy (time, y, x) cube.

    Parameters
    ----------
    source
        Archive URL (see :func:`lascoproc.io.lasco_archive.index_archive`) or an index.
    detector
        ``"c2"`` or ``"c3"``.
    start, end
        Closed time range; the whole archive when ``None``.
    shape
        ``(ny, nx)`` of the frames to put in the cube. A cube holds frames of one size: binned
        (512x512) and subfield frames are opened with their own ``shape``. By default the full
        1024x1024 frames, or the most common size if there are none. Frames of other sizes are
        counted in the ``other_shapes`` attribute.

    Returns
    -------
    xarray.Dataset
        ``counts`` (time, y, x) ``uint16`` DN, dask-backed with one frame per chunk;
        ``read_status`` (time) ``uint8`` flag; header values as per-frame coordinates (see
        :data:`lascoproc.io.lasco_header.FRAME_COORDS`) and ``path``; attributes ``rejected``
        (``"path: reason"`` of every unusable file) and provenance.

    Notes
    -----
    The same as ``lasco_cube_from_frames(open_lasco_frames(...))``. The task graph holds three
    tasks per frame: for a whole mission, open the frames once and build the cube of each time
    range with :func:`lasco_cube_from_frames` (what :mod:`lascoproc.pipeline` does).
    """
    frames = open_lasco_frames(source, detector=detector, start=start, end=end, shape=shape,
                               storage_options=storage_options, threads=threads,
                               progress=progress)
    if isinstance(source, LascoIndex):
        storage_options = storage_options or source.storage_options
    return lasco_cube_from_frames(frames, storage_options=storage_options)


def open_lasco_frames(
    source: str | LascoIndex,
    *,
    detector: str,
    start=None,
    end=None,
    shape: tuple[int, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 16,
    progress: bool = False,
) -> xr.Dataset:
    """The frames :func:`open_lasco_cube` would hold, without their pixels: headers only.

    Same parameters as :func:`open_lasco_cube`. Every header is read (and checked) once; no
    pixel is read and no dask graph is built.

    Returns
    -------
    xarray.Dataset
        No data variables: the cube's ``time`` and per-frame coordinates (header values and
        ``path``) and its attributes (``frame_shape``, ``rejected``, provenance). Select frames
        with ``isel`` and make them a lazy cube with :func:`lasco_cube_from_frames`.
    """
    if isinstance(source, LascoIndex):
        index = source.select(detector=detector, start=start, end=end)
        storage_options = storage_options or index.storage_options
    else:
        index = index_archive(source, detector=detector, start=start, end=end,
                              storage_options=storage_options, threads=threads,
                              progress=progress)
    fs, _ = get_fs(index.root, storage_options)
    problems: list[Problem] = list(index.problems)
    records = []
    for path, header, reason in _read_headers(fs, list(index.frames["path"]), threads, progress):
        if header is None:
            problems.append(Problem(path, reason))
            continue
        if int(header["BITPIX"]) != 16:
            problems.append(Problem(path, f"BITPIX {header['BITPIX']}: not a level-0.5 frame"))
            continue
        records.append((path, header))
    sizes = Counter((int(h["NAXIS2"]), int(h["NAXIS1"])) for _, h in records)
    if shape is None:
        shape = (1024, 1024) if (1024, 1024) in sizes else (
            sizes.most_common(1)[0][0] if sizes else (1024, 1024))
    shape = (int(shape[0]), int(shape[1]))
    chosen = [(p, h) for p, h in records if (int(h["NAXIS2"]), int(h["NAXIS1"])) == shape]
    if not chosen:
        available = ", ".join(f"{ny}x{nx} ({c})" for (ny, nx), c in sorted(sizes.items()))
        raise ValueError(f"no usable {detector.upper()} frame of {shape[0]}x{shape[1]} pixels "
                         f"in {index.root} for this time range (frame sizes there: "
                         f"{available or 'none'})")
    chosen.sort(key=lambda item: (lasco_header.observation_time(item[1]), item[0]))
    return _frames_dataset(index.root, detector, shape, chosen, problems, sizes)


def lasco_cube_from_frames(frames: xr.Dataset, *,
                           storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """The lazy (time, y, x) cube of exactly the frames of ``frames``.

    Parameters
    ----------
    frames
        What :func:`open_lasco_frames` returns, or a selection of it (``frames.isel(time=...)``);
        a cube works too (its pixel variables are rebuilt).
    storage_options
        fsspec options of the archive (as given to :func:`open_lasco_frames`).

    Returns
    -------
    xarray.Dataset
        As :func:`open_lasco_cube`, whose graph holds the reads of these frames only: a cube
        of a time range costs the same whatever the length of the archive (``isel`` on a cube
        keeps the whole cube's graph behind the selection).
    """
    frames = frames.drop_vars([n for n in ("counts", "read_status") if n in frames.data_vars])
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    fs, _ = get_fs(str(frames.attrs["source_archive"]), storage_options)
    counts, status = _pixel_arrays(fs, np.asarray(frames["path"].values, dtype=object),
                                   (ny, nx))
    detector = str(frames.attrs["detector"])
    return xr.Dataset(
        {
            "counts": (("time", "y", "x"), counts, {
                "long_name": f"LASCO {detector} level-0.5 counts",
                "units": "count",
                "comment": "raw CCD counts incl. bias; 0 in missing telemetry blocks",
            }),
            "read_status": ("time", status, {
                "long_name": "pixel read status",
                "flag_values": np.array(list(READ_STATUS_MEANINGS), np.uint8),
                "flag_meanings": " ".join(READ_STATUS_MEANINGS.values()),
            }),
        },
        coords=frames.coords,
        attrs=dict(frames.attrs),
    )


def _pixel_arrays(fs, paths: np.ndarray, shape: tuple[int, int]):
    """Lazy ``(counts, read_status)`` of the files ``paths``: one frame per chunk."""
    n = len(paths)
    path_blocks = da.from_array(paths, chunks=1) if n else da.empty((0,), dtype=object, chunks=1)
    pairs = path_blocks.map_blocks(_read_block, fs=fs, shape=shape, dtype=object,
                                   meta=np.empty((0,), dtype=object))
    counts = pairs.map_blocks(
        _frame_part, 0, new_axis=[1, 2], chunks=(path_blocks.chunks[0], (shape[0],), (shape[1],)),
        dtype=np.uint16, meta=np.empty((0, 0, 0), np.uint16),
    )
    status = pairs.map_blocks(_frame_part, 1, dtype=np.uint8, meta=np.empty((0,), np.uint8))
    return counts, status


def _frames_dataset(root, detector, shape, chosen, problems, sizes) -> xr.Dataset:
    paths = np.array([p for p, _ in chosen], dtype=object)
    times = np.array([lasco_header.observation_time(h) for _, h in chosen],
                     dtype="datetime64[ms]").astype("datetime64[ns]")
    coords: dict[str, Any] = {"time": ("time", times, {"long_name": "start of exposure (UTC)"})}
    values = [lasco_header.frame_coordinates(h) for _, h in chosen]
    for _, name, dtype, _fill in lasco_header.FRAME_COORDS:
        column = [v[name] for v in values]
        if dtype.startswith("U"):
            coords[name] = ("time", np.array(column, dtype=object))
        else:
            coords[name] = ("time", np.array(column, dtype=dtype))
    coords["path"] = ("time", paths)
    other = {f"{ny}x{nx}": c for (ny, nx), c in sorted(sizes.items()) if (ny, nx) != shape}
    ds = xr.Dataset(
        coords=coords,
        attrs={
            "title": f"SOHO/LASCO {detector.upper()} level-0.5 frames",
            "instrument": "LASCO",
            "detector": detector.upper(),
            "level": "0.5",
            "source_archive": str(root),
            "frame_shape": f"{shape[0]}x{shape[1]}",
            "other_shapes": ", ".join(f"{k}: {v} frames" for k, v in other.items()) or "none",
            "rejected": [str(p) for p in problems],
            "lascoproc_version": lascoproc.__version__,
        },
    )
    ds["exptime"].attrs["units"] = "s"
    return ds


def frames_table(ds: xr.Dataset) -> pd.DataFrame:
    """The per-frame coordinates of a cube as a table (no pixel data is read)."""
    names = [n for n, c in ds.coords.items() if c.dims == ("time",)]
    return pd.DataFrame({n: ds[n].values for n in names})
