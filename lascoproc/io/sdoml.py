"""Lazy SDOML v2 AIA cubes: the FDL SDO machine-learning archive as xarray over dask.

The store (``s3://gov-nasa-hdrl-data1/contrib/fdl-sdoml/fdl-sdoml-v2/sdomlv2.zarr``, and the
2010-only ``sdomlv2_small.zarr``; anonymous access) is the output of SDOML's
``aia_fits_to_zarr.py`` (github.com/SDOML/SDOMLv2). Its quirks, all handled here:

- Zarr format 2, one group per year, one array per channel and year: ``<year>/<channel>``
  (``"2010/171A"``), shape ``(N, 512, 512)``, ``float32``; chunks of several frames
  (``(120, 512, 512)`` in ``sdomlv2_small.zarr``, ``(15, 512, 512)`` in the conversion script).
- No ``_ARRAY_DIMENSIONS`` attribute, so ``xarray.open_zarr`` refuses it: the arrays are opened
  with zarr and wrapped in dask here.
- Each FITS keyword is an array attribute holding a list, one value per frame, in the array's
  frame order; the whole header of every frame is in ``.zattrs`` (hundreds of MB of JSON per
  array of the full store), read when the array is opened.
- Frames are not in time order (days out of order); the cubes here are sorted by ``T_OBS``.
- ``T_OBS`` is the UTC mid-exposure time as ``"2011-06-07T06:33:02.88Z"``; a leap second
  (``...T23:59:60.xxZ``) is read as the next minute's start (datetime64 has no leap seconds).
- Pixels are DN/s, divided by ``EXPTIME`` and by ``DEG_COR``, the conversion's degradation
  factor for that day: ``data * DEG_COR`` is the rate before degradation correction.

Chunks follow the store (STYLE rule 5): each year's array is wrapped with its own chunks and the
frames are put in time order with a lazy integer index (dask ``take``), which keeps chunks of the
store's length along time and computes nothing. Opening reads only metadata.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import astropy.units as u
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
import zarr
import zarr.errors
from dask.base import tokenize

from lascoproc.io.fs import default_storage_options, get_fs, join, protocol_of
from lascoproc.io.sdoml_index import load_array_index, open_array, parse_t_obs

__all__ = [
    "AIA_CHANNELS",
    "FRAME_KEYWORDS",
    "channel_name",
    "wavelength_of",
    "open_store",
    "parse_t_obs",
    "list_years",
    "list_channels",
    "open_sdoml",
    "open_sdoml_channel",
]

#: The AIA channels of SDOML v2, as its groups name them (4500A is accepted where present).
AIA_CHANNELS = ("94A", "131A", "171A", "193A", "211A", "304A", "335A", "1600A", "1700A")

#: Header keywords carried as per-frame coordinates: (keyword, coordinate, dtype, fill, units).
FRAME_KEYWORDS: tuple[tuple[str, str, str, Any, str | None], ...] = (
    ("EXPTIME", "exptime", "float64", np.nan, "s"),
    ("DEG_COR", "deg_cor", "float64", np.nan, "1"),
    ("QUALITY", "quality", "int64", -1, None),
)

_CHANNEL_RE = re.compile(r"^\s*(\d+)\s*[aA]?\s*$")


def channel_name(channel) -> str:
    """SDOML group name of an AIA channel: ``171``, ``"171"``, ``"171A"`` -> ``"171A"``."""
    match = _CHANNEL_RE.match(str(channel))
    if match is None:
        raise ValueError(f"not an AIA channel: {channel!r} (expected e.g. 171 or '171A')")
    return f"{int(match.group(1))}A"


def wavelength_of(channel) -> int:
    """Wavelength in angstrom of a channel (``"171A"`` -> ``171``)."""
    return int(channel_name(channel)[:-1])


def open_store(url: str, storage_options: Mapping[str, Any] | None = None, *, mode: str = "r"):
    """A zarr store for ``url``: a ``LocalStore`` for paths and ``file://``, else an FsspecStore.

    Remote object stores are anonymous unless ``storage_options`` say otherwise
    (:func:`lascoproc.io.fs.default_storage_options`); a missing fsspec driver raises an
    ImportError naming the lascoproc extra (``lascoproc[cloud]``).
    """
    url = str(url)
    read_only = mode == "r"
    fs, path = get_fs(url, storage_options)
    if protocol_of(url) == "file":
        return zarr.storage.LocalStore(path, read_only=read_only)
    del fs
    return zarr.storage.FsspecStore.from_url(
        url, storage_options=default_storage_options(url, storage_options), read_only=read_only
    )


def _ls_names(url, storage_options, *parts) -> list[str]:
    fs, root = get_fs(url, storage_options)
    path = join(fs, root, *parts)
    try:
        entries = fs.ls(path, detail=True)
    except FileNotFoundError as err:
        where = "/".join(parts) or "the root"
        raise ValueError(f"{url!r}: no SDOML group at {where}") from err
    return sorted(
        e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "directory"
    )


def list_years(url: str, storage_options: Mapping[str, Any] | None = None) -> list[int]:
    """Year groups of an SDOML store (a directory listing; no array is opened)."""
    return [int(n) for n in _ls_names(url, storage_options) if re.fullmatch(r"\d{4}", n)]


def list_channels(url: str, year, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Channel arrays of a year group, in wavelength order (a directory listing)."""
    names = [n for n in _ls_names(url, storage_options, str(year)) if _CHANNEL_RE.match(n)]
    return sorted(names, key=wavelength_of)


# --------------------------------------------------------------------------- one channel
@dataclasses.dataclass(frozen=True)
class _ChannelFrames:
    """The frames of one channel within the selection, sorted by ``T_OBS`` (unique)."""

    channel: str
    stacked: da.Array  # the selected years' arrays concatenated, storage order
    t_obs: np.ndarray  # sorted datetime64[ns]
    position: np.ndarray  # index into ``stacked`` of each sorted frame
    header: dict[str, np.ndarray]  # FRAME_KEYWORDS coordinates, sorted like t_obs
    frames_per_chunk: int  # the store's chunk length along time

    def cube(self, select: np.ndarray | None = None, frames_per_chunk: int | None = None):
        """The (time, y, x) dask array of the sorted frames (or of ``select`` among them).

        A lazy ``take`` puts the frames in time order; its chunks are then set to the store's
        frames per chunk (a no-op for one frame per chunk).
        """
        position = self.position if select is None else self.position[select]
        ordered = self.stacked[position]
        return ordered.rechunk({0: frames_per_chunk or self.frames_per_chunk})


def _open_year(store, url: str, year: int, channel: str, options: _OpenOptions):
    """``(dask array, T_OBS, header, chunk id)`` of one year's array, from its frame index.

    Only metadata is read (the index, or the array's ``.zattrs`` once when the index is built:
    :mod:`lascoproc.io.sdoml_index`). The zarr array is opened without its attributes, so the
    dask tasks that hold it stay small.
    """
    path = f"{year}/{channel}"
    index = load_array_index(url, path, options.storage_options, index=options.index,
                             index_storage_options=options.index_storage_options)
    array = open_array(url, index, store=store)
    lazy = da.from_array(
        array,
        chunks=array.chunks,
        name=f"sdoml-{year}-{channel}-{tokenize(url, path, index.identity)}",
        meta=np.empty((0,) * array.ndim, dtype=array.dtype),
        asarray=True,
        lock=False,
        inline_array=True,
    )
    header = {"exptime": index.exptime, "deg_cor": index.deg_cor, "quality": index.quality}
    chunk = np.int64(year) * _CHUNK_ID_YEAR + index.chunk
    return lazy, index.t_obs, header, chunk


#: ``storage_chunk`` = year * this + the chunk's number in the year's array.
_CHUNK_ID_YEAR = 10**7


@dataclasses.dataclass(frozen=True)
class _OpenOptions:
    storage_options: Mapping[str, Any] | None
    index: Any
    index_storage_options: Mapping[str, Any] | None
    threads: int


def _open_years(store, url, names, years, options) -> dict[tuple[str, int], tuple]:
    """Every ``(channel, year)`` array's lazy array and index values, read concurrently."""
    jobs = [(n, y) for n in names for y in years]
    with ThreadPoolExecutor(max_workers=max(1, min(options.threads, len(jobs)))) as pool:
        parts = list(pool.map(lambda job: _open_year(store, url, job[1], job[0], options),
                              jobs))
    return dict(zip(jobs, parts, strict=True))


def _channel_frames(channel, parts, start, end) -> _ChannelFrames:
    """One channel's frames within ``[start, end]``, sorted by ``T_OBS``, from its years'
    ``parts`` (:func:`_open_year`)."""
    t_obs = np.concatenate([p[1] for p in parts])
    keep = ~np.isnat(t_obs)
    if start is not None:
        keep &= t_obs >= start
    if end is not None:
        keep &= t_obs <= end
    candidates = np.flatnonzero(keep)
    order = candidates[np.argsort(t_obs[candidates], kind="stable")]
    # a T_OBS stored twice: keep the first stored frame (the stable sort put it first)
    repeated = np.zeros(order.size, dtype=bool)
    repeated[1:] = t_obs[order][1:] == t_obs[order][:-1]
    order = order[~repeated]
    header = {
        name: np.concatenate([p[2][name] for p in parts])[order] for name in _coord_names()
    }
    header["storage_chunk"] = np.concatenate([p[3] for p in parts])[order]
    return _ChannelFrames(
        channel=channel,
        stacked=da.concatenate([p[0] for p in parts], axis=0),
        t_obs=t_obs[order],
        position=order,
        header=header,
        frames_per_chunk=max(p[0].chunksize[0] for p in parts),
    )


def _coord_names() -> list[str]:
    return [name for _, name, *_ in FRAME_KEYWORDS]


# --------------------------------------------------------------------------- selection
def _as_time(value) -> np.datetime64 | None:
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_datetime64().astype("datetime64[ns]")


def _select_years(url, storage_options, years, start, end) -> list[int]:
    if years is not None:
        single = isinstance(years, int | str | np.integer)
        wanted = [int(years)] if single else [int(y) for y in years]
        available = set(list_years(url, storage_options))
        missing = [y for y in wanted if y not in available]
        if missing:
            raise ValueError(f"{url!r}: no year group {missing} (the store has "
                             f"{sorted(available)})")
    else:
        wanted = list_years(url, storage_options)
    first = pd.Timestamp(start).year if start is not None else None
    last = pd.Timestamp(end).year if end is not None else None
    chosen = sorted(y for y in wanted if (first is None or y >= first)
                    and (last is None or y <= last))
    if not chosen:
        raise ValueError(f"{url!r}: no year group between {start} and {end} "
                         f"(years considered: {sorted(wanted)})")
    return chosen


def _select_channels(url, storage_options, channels, years) -> list[str]:
    if channels is not None:
        names = [channel_name(c) for c in ([channels] if isinstance(channels, int | str)
                                           else channels)]
        if len(set(names)) != len(names):
            raise ValueError(f"channels repeated: {names}")
        return names
    common = None
    for year in years:
        here = set(list_channels(url, year, storage_options))
        common = here if common is None else common & here
    if not common:
        raise ValueError(f"{url!r}: no channel is present in every year of {years}")
    return sorted(common, key=wavelength_of)


def _tolerance_ns(tolerance) -> np.timedelta64:
    if not isinstance(tolerance, u.Quantity):
        raise TypeError(f"tolerance must be an astropy Quantity of time, e.g. 60 * u.s; "
                        f"got {tolerance!r}")
    return np.timedelta64(int(round(tolerance.to_value(u.ns))), "ns")


def _match(reference: np.ndarray, times: np.ndarray, tolerance: np.timedelta64) -> np.ndarray:
    """For each reference time, the index of the nearest of ``times`` within ``tolerance``.

    ``-1`` where none is; each of ``times`` is matched to one reference time at most (the
    nearest). Both inputs sorted.
    """
    match = np.full(reference.size, -1, dtype=np.int64)
    if times.size == 0 or reference.size == 0:
        return match
    right = np.clip(np.searchsorted(times, reference), 0, times.size - 1)
    left = np.clip(right - 1, 0, times.size - 1)
    d_right = np.abs(times[right] - reference)
    d_left = np.abs(times[left] - reference)
    nearest = np.where(d_left <= d_right, left, right)
    distance = np.minimum(d_left, d_right)
    ok = np.flatnonzero(distance <= tolerance)
    # one reference time per frame: the closest one wins
    ok = ok[np.lexsort((distance[ok], nearest[ok]))]
    first = np.concatenate([[True], np.diff(nearest[ok]) != 0]) if ok.size else ok.astype(bool)
    ok = ok[first]
    match[ok] = nearest[ok]
    return match


# --------------------------------------------------------------------------- public openers
def open_sdoml_channel(
    url: str,
    channel,
    *,
    years=None,
    start=None,
    end=None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 8,
    index=None,
    index_storage_options: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """One AIA channel of an SDOML v2 store as a lazy ``(time, y, x)`` cube sorted by ``T_OBS``.

    Parameters
    ----------
    url
        Root of the store: a local path, ``file://``, ``s3://`` (anonymous unless
        ``storage_options`` hold credentials) or any fsspec URL.
    channel
        ``171``, ``"171"`` or ``"171A"``.
    years
        Year groups to read (all by default); years outside ``start``/``end`` are never opened.
    start, end
        Keep frames with ``start <= T_OBS <= end`` (inclusive; naive times are UTC).
    threads
        Arrays whose metadata are read concurrently.
    index
        Where the frame index is kept (:mod:`lascoproc.io.sdoml_index`): ``None`` the user
        cache directory (built on the first open, rebuilt when the store changes), a path or
        URL (``lascoproc aia index STORE --out DIR``), or ``False`` (read the arrays'
        attributes at every open; nothing saved).
    index_storage_options
        fsspec options of a remote ``index``.

    Returns
    -------
    xarray.DataArray
        ``intensity`` in DN/s, dims ``(time, y, x)``; ``time`` is ``T_OBS`` (``datetime64[ns]``,
        UTC); coordinates ``exptime``, ``deg_cor``, ``quality``, ``storage_chunk`` (the store
        chunk holding the frame: year * 10**7 + its number) per frame and the scalar
        ``channel`` (wavelength in angstrom). Frames without a readable ``T_OBS`` are left out;
        a ``T_OBS`` stored twice is kept once (the first stored).

    Raises
    ------
    ValueError
        When the store, a requested year or the channel in one of the years is missing.
    """
    name = channel_name(channel)
    start64, end64 = _as_time(start), _as_time(end)
    chosen = _select_years(url, storage_options, years, start, end)
    store = open_store(url, storage_options)
    options = _OpenOptions(storage_options, index, index_storage_options, threads)
    parts = _open_years(store, url, [name], chosen, options)
    frames = _channel_frames(name, [parts[(name, y)] for y in chosen], start64, end64)
    coords = {"time": ("time", frames.t_obs), "channel": wavelength_of(name)}
    for _, coord, _, _, units in FRAME_KEYWORDS:
        coords[coord] = ("time", frames.header[coord], {"units": units} if units else {})
    coords["storage_chunk"] = ("time", frames.header["storage_chunk"])
    return xr.DataArray(
        frames.cube(), dims=("time", "y", "x"), coords=coords, name="intensity",
        attrs=_intensity_attrs(),
    ).assign_attrs(source=str(url), sdoml_channel=name)


def open_sdoml(
    url: str,
    *,
    channels=None,
    years=None,
    start=None,
    end=None,
    tolerance: u.Quantity = 60 * u.s,
    reference_channel=None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 8,
    index=None,
    index_storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Several AIA channels of an SDOML v2 store as one lazy ``(time, channel, y, x)`` cube.

    Alignment: the channels of an AIA "moment" are observed seconds apart (each its own
    ``T_OBS``). The time axis is the sorted ``T_OBS`` of the reference channel (the first of
    ``channels`` unless ``reference_channel`` says otherwise); each other channel contributes
    its frame nearest in ``T_OBS`` if within ``tolerance`` (each frame to one time at most, the
    nearest). Times for which any channel has no frame are dropped. Each channel's own
    ``T_OBS`` is kept in the ``t_obs`` coordinate.

    Parameters
    ----------
    url
        Root of the store (local path, ``file://``, ``s3://``...; see
        :func:`open_sdoml_channel`).
    channels
        Channels (``171``, ``"171A"``...); by default those present in every selected year.
    years, start, end, storage_options, threads, index, index_storage_options
        As for :func:`open_sdoml_channel`.
    tolerance
        Largest ``|T_OBS - time|`` accepted for a channel's frame, an astropy ``Quantity``
        (60 s by default: AIA's EUV channels cycle in 12 s, UV in 24 s; SDOML's cadence is
        6 minutes). Keep it under half the cadence.
    reference_channel
        Channel whose ``T_OBS`` makes the time axis.

    Returns
    -------
    xarray.Dataset
        ``intensity`` (DN/s, ``float32``, dask) over ``(time, channel, y, x)``; coordinates
        ``time`` (``datetime64[ns]`` UTC), ``channel`` (wavelength in angstrom, ``int``), and
        per ``(time, channel)``: ``t_obs``, ``exptime``, ``deg_cor``, ``quality`` and
        ``storage_chunk``. Chunks: one channel, whole frames, the store's frames per chunk
        along time.

    Raises
    ------
    ValueError
        When the store, a requested year, or a requested channel in one of the years is missing.
    TypeError
        When ``tolerance`` is not a ``Quantity``.
    """
    tol = _tolerance_ns(tolerance)
    start64, end64 = _as_time(start), _as_time(end)
    chosen = _select_years(url, storage_options, years, start, end)
    names = _select_channels(url, storage_options, channels, chosen)
    reference = channel_name(reference_channel) if reference_channel is not None else names[0]
    if reference not in names:
        raise ValueError(f"reference channel {reference} is not among the channels {names}")
    store = open_store(url, storage_options)
    options = _OpenOptions(storage_options, index, index_storage_options, threads)
    parts = _open_years(store, url, names, chosen, options)
    frames = {n: _channel_frames(n, [parts[(n, y)] for y in chosen], start64, end64)
              for n in names}

    ref_times = frames[reference].t_obs
    matches = {n: (np.arange(ref_times.size) if n == reference
                   else _match(ref_times, frames[n].t_obs, tol)) for n in names}
    complete = np.all([m >= 0 for m in matches.values()], axis=0)
    select = {n: m[complete] for n, m in matches.items()}

    per_chunk = max(frames[n].frames_per_chunk for n in names)
    cubes = [frames[n].cube(select[n], per_chunk) for n in names]
    intensity = da.stack(cubes, axis=1)
    coords = {
        "time": ("time", ref_times[complete]),
        "channel": ("channel", np.array([wavelength_of(n) for n in names], dtype=np.int64),
                    {"units": "angstrom"}),
        "t_obs": (("time", "channel"),
                  np.stack([frames[n].t_obs[select[n]] for n in names], axis=1)),
    }
    for _, coord, _, _, units in FRAME_KEYWORDS:
        values = np.stack([frames[n].header[coord][select[n]] for n in names], axis=1)
        coords[coord] = (("time", "channel"), values, {"units": units} if units else {})
    coords["storage_chunk"] = (("time", "channel"), np.stack(
        [frames[n].header["storage_chunk"][select[n]] for n in names], axis=1))
    return xr.Dataset(
        {"intensity": (("time", "channel", "y", "x"), intensity, _intensity_attrs())},
        coords=coords,
        attrs={
            "source": str(url),
            "sdoml_channels": list(names),
            "reference_channel": reference,
            "alignment": (f"T_OBS of each channel within {tolerance} of the {reference} T_OBS "
                          f"(time); times missing any channel dropped"),
            "frames_per_channel": [int(frames[n].t_obs.size) for n in names],
            "frames_per_chunk": int(per_chunk),
        },
    )


def _intensity_attrs() -> dict[str, str]:
    return {
        "units": "DN/s",
        "long_name": "AIA intensity per exposure time, divided by DEG_COR (SDOML v2)",
        "comment": "intensity * deg_cor is the rate before the archive's degradation correction",
    }
