"""The SDOML frame index: per year and channel, the few per-frame keywords a pipeline needs.

An SDOML v2 array (``<year>/<channel>``) keeps every FITS keyword of every frame as a list in
its ``.zattrs``: about 180 keywords, some 2.3 kB of JSON per frame, about 200 MB per year and
channel of the real store (~87,000 frames). Parsing that on every open is what made opening
one week of the archive take seconds and a gigabyte. The index keeps, per array, only

``t_obs``
    ``T_OBS`` as ``datetime64[ns]`` UTC (NaT where unreadable; :func:`parse_t_obs`),
``exptime``, ``deg_cor``, ``wavelnth``
    ``EXPTIME`` [s], ``DEG_COR``, ``WAVELNTH`` [angstrom] as ``float64`` (NaN where missing),
``quality``
    ``QUALITY`` as ``int64`` (-1 where missing),
``position``
    the frame's position in the array (its storage order; ``position // chunks[0]`` is its
    chunk),

in a small Zarr group per array, with the array's ``.zarray`` metadata, so that the array can
be opened *without* its attributes (:func:`open_array`): nothing large is kept in memory or
pickled into dask tasks.

Where the index lives
---------------------
By default in the user cache directory (``$LASCOPROC_CACHE_DIR``, else
``$XDG_CACHE_HOME/lascoproc`` or ``~/.cache/lascoproc``), under ``sdoml_index/<hash of the
store URL>/<year>/<channel>``; or in a store the user names (``lascoproc aia index STORE
--out DIR``, ``open_sdoml(..., index=DIR)``), with the same layout. Each array's index records
the array's *identity*: the SHA-256 of the store URL, the array path, its ``.zarray`` bytes and
the size and modification time (or ETag) of its ``.zattrs``. An index whose identity differs
from the array's (the store was rewritten or extended) is rebuilt, so a stale index is never
used. Checking costs one small read (``.zarray``) and one ``stat`` (``.zattrs``) per array.

Building it reads ``.zattrs`` once; the five keywords are cut out of the JSON text without
parsing the other ~175 (:func:`extract_lists`; the whole document is parsed only when a
keyword cannot be located unambiguously).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import zarr
from zarr.core.array import Array, AsyncArray
from zarr.core.metadata.v2 import ArrayV2Metadata
from zarr.storage import StorePath

from lascoproc.io.fs import get_fs, join, protocol_of
from lascoproc.io.zarr_store import root_attrs

__all__ = [
    "INDEX_KEYWORDS",
    "INDEX_FORMAT",
    "ArrayIndex",
    "parse_t_obs",
    "extract_lists",
    "cache_dir",
    "index_location",
    "array_identity",
    "build_array_index",
    "load_array_index",
    "write_array_index",
    "refuse_foreign_node",
    "read_array_index",
    "open_array",
]

log = logging.getLogger(__name__)

#: The keywords the index keeps (the per-frame header values every AIA step uses).
INDEX_KEYWORDS = ("T_OBS", "EXPTIME", "DEG_COR", "QUALITY", "WAVELNTH")
#: Version of the index layout; an index of another version is rebuilt.
INDEX_FORMAT = 1

_LEAP_SECOND = r"T\d\d:\d\d:60"
_LEAP_SECOND_GROUPS = r"(T\d\d:\d\d:)60"
_COLUMNS = ("t_obs", "exptime", "deg_cor", "quality", "wavelnth", "position")


def parse_t_obs(values: Sequence) -> np.ndarray:
    """``T_OBS`` strings to ``datetime64[ns]`` UTC; unreadable or missing values become NaT.

    Accepts the AIA form ``"2011-06-07T06:33:02.88Z"`` (and any ISO 8601 form; no zone means
    UTC). A leap second ``HH:MM:60.xx`` is read as ``HH:MM:59.xx`` plus one second.
    """
    text = pd.Series([v.strip() if isinstance(v, str) else "" for v in values], dtype=object)
    leap = text.str.contains(_LEAP_SECOND, regex=True).to_numpy(dtype=bool)
    if leap.any():
        text[leap] = text[leap].str.replace(_LEAP_SECOND_GROUPS, r"\g<1>59", regex=True)
    times = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    out = times.dt.tz_convert(None).to_numpy("datetime64[ns]")
    return out + leap.astype("timedelta64[s]").astype("timedelta64[ns]")


# --------------------------------------------------------------------------- extraction
_COLON = re.compile(rb"\s*:\s*")


def _key_positions(data: bytes, key: str) -> list[int]:
    """Where the value of ``"key":`` starts, for each such key in ``data``.

    A plain substring search (``bytes.find``: hundreds of MB/s), then two checks: the quote is
    not escaped (inside a JSON string every quote is), and a colon follows (a key, not a
    string value).
    """
    needle = b'"' + key.encode() + b'"'
    out = []
    at = data.find(needle)
    while at >= 0:
        if at == 0 or data[at - 1] != 0x5C:  # backslash
            colon = _COLON.match(data, at + len(needle))
            if colon is not None:
                out.append(colon.end())
        at = data.find(needle, at + 1)
    return out


def _cut_list(data: bytes, start: int, n: int) -> Any:
    decoder = json.JSONDecoder()
    size = max(4096, 64 * n)
    while True:
        text = data[start:start + size].decode("utf-8", errors="ignore")
        try:
            return decoder.raw_decode(text)[0]
        except json.JSONDecodeError:
            if start + size >= len(data):
                raise
            size *= 2


def extract_lists(data: bytes, keys: Sequence[str], n: int) -> dict[str, list | None]:
    """The values of top-level ``keys`` in a ``.zattrs`` document, each a list of ``n``.

    Each key's value is decoded alone, from where the key stands in the text; the document is
    parsed whole (``json.loads``) only when a key appears more than once or its value is not a
    list of ``n``. A key absent from the document gives ``None``.

    Raises
    ------
    ValueError
        When the document is not JSON, or a key's value is not a list of ``n`` values.
    """
    out: dict[str, list | None] = {}
    whole = None
    for key in keys:
        hits = _key_positions(data, key)
        value: Any = None
        if len(hits) == 1:
            try:
                value = _cut_list(data, hits[0], n)
            except json.JSONDecodeError:
                value = None
        if not hits and whole is None:
            out[key] = None
            continue
        if not (isinstance(value, list) and len(value) == n):
            if whole is None:
                try:
                    whole = json.loads(data)
                except json.JSONDecodeError as err:
                    raise ValueError(f"the attributes are not JSON ({err})") from err
            value = whole.get(key)
        if value is not None and not (isinstance(value, list) and len(value) == n):
            length = len(value) if isinstance(value, list) else "not a list"
            raise ValueError(f"attribute {key} has {length} values for {n} frames")
        out[key] = value
    return out


def _numbers(values, dtype, fill) -> np.ndarray:
    if values is None:
        return None
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    return numbers.fillna(fill).to_numpy(dtype=dtype)


# --------------------------------------------------------------------------- the index
@dataclasses.dataclass(frozen=True, eq=False)
class ArrayIndex:
    """The index of one SDOML array (``<year>/<channel>``), in storage order."""

    url: str
    path: str
    identity: str
    zarray: dict[str, Any]
    t_obs: np.ndarray
    exptime: np.ndarray
    deg_cor: np.ndarray
    quality: np.ndarray
    wavelnth: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.t_obs.size)

    @property
    def position(self) -> np.ndarray:
        """Storage position of each frame (``0 .. n - 1``)."""
        return np.arange(self.n_frames, dtype=np.int64)

    @property
    def frames_per_chunk(self) -> int:
        return int(self.zarray["chunks"][0])

    @property
    def chunk(self) -> np.ndarray:
        """The store chunk of each frame along time."""
        return self.position // self.frames_per_chunk

    def frame_table(self) -> pd.DataFrame:
        """The index as a table (one row per frame, storage order)."""
        return pd.DataFrame({"t_obs": self.t_obs, "exptime": self.exptime,
                             "deg_cor": self.deg_cor, "quality": self.quality,
                             "wavelnth": self.wavelnth, "position": self.position,
                             "chunk": self.chunk})


def cache_dir() -> Path:
    """The user cache directory of lascoproc (``$LASCOPROC_CACHE_DIR`` overrides it)."""
    given = os.environ.get("LASCOPROC_CACHE_DIR")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "lascoproc"


def _canonical(url: str) -> str:
    url = str(url).rstrip("/")
    if protocol_of(url) == "file":
        return "file://" + os.path.abspath(url.removeprefix("file://"))
    return url


def index_location(url: str, index=None) -> str:
    """Where the index of store ``url`` lives: ``index`` if given, else the user cache."""
    if index not in (None, True):
        return str(index)
    key = hashlib.sha256(_canonical(url).encode()).hexdigest()[:24]
    return str(cache_dir() / "sdoml_index" / key)


def array_identity(url: str, path: str, storage_options: Mapping[str, Any] | None = None,
                   ) -> tuple[str, dict[str, Any]]:
    """``(identity, .zarray)`` of an array: what decides whether an index is still valid.

    The SHA-256 of the store URL, the array path, its ``.zarray`` bytes and the size and
    modification time (or ETag) of its ``.zattrs``; reads ``.zarray`` and stats ``.zattrs``.

    Raises
    ------
    ValueError
        When there is no SDOML v2 array at ``path``.
    """
    fs, root = get_fs(url, storage_options)
    base = join(fs, root, path)
    try:
        zarray_bytes = fs.cat_file(join(fs, base, ".zarray"))
        info = fs.info(join(fs, base, ".zattrs"))
    except FileNotFoundError as err:
        raise ValueError(f"{url!r}: no SDOML array at {path!r} (no .zarray or .zattrs)") from err
    stamp = {k: str(info[k]) for k in ("size", "ETag", "etag", "mtime", "LastModified",
                                       "last_modified") if k in info}
    digest = hashlib.sha256()
    for part in (_canonical(url), path, json.dumps(stamp, sort_keys=True),
                 f"format {INDEX_FORMAT}"):
        digest.update(part.encode() + b"\0")
    digest.update(zarray_bytes)
    return digest.hexdigest(), json.loads(zarray_bytes)


def build_array_index(url: str, path: str, storage_options: Mapping[str, Any] | None = None,
                      *, identity: tuple[str, dict] | None = None) -> ArrayIndex:
    """Read an array's ``.zattrs`` once and keep :data:`INDEX_KEYWORDS` (see the module doc).

    Raises
    ------
    ValueError
        When the array has no ``T_OBS``, or a keyword's list does not have one value per frame.
    """
    key, zarray = identity or array_identity(url, path, storage_options)
    fs, root = get_fs(url, storage_options)
    data = fs.cat_file(join(fs, root, path, ".zattrs"))
    n = int(zarray["shape"][0])
    where = f"{url!r} {path!r}"
    try:
        lists = extract_lists(data, INDEX_KEYWORDS, n)
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from err
    if lists["T_OBS"] is None:
        raise ValueError(f"{where}: no T_OBS attribute (not an SDOML v2 AIA array?)")
    del data

    def column(name, dtype, fill):
        values = _numbers(lists[name], dtype, fill)
        return np.full(n, fill, dtype=dtype) if values is None else values

    return ArrayIndex(
        url=str(url), path=path, identity=key, zarray=zarray,
        t_obs=parse_t_obs(lists["T_OBS"]),
        exptime=column("EXPTIME", "float64", np.nan),
        deg_cor=column("DEG_COR", "float64", np.nan),
        quality=column("QUALITY", "int64", -1),
        wavelnth=column("WAVELNTH", "float64", np.nan),
    )


def _group_store(location: str, path: str, storage_options, mode: str):
    from lascoproc.io.sdoml import open_store

    return open_store(f"{location.rstrip('/')}/{path}", storage_options, mode=mode)


def refuse_foreign_node(location: str, path: str, storage_options=None) -> None:
    """Raise ``FileExistsError`` if ``location/path`` holds a Zarr node that is not an index
    this module wrote (an SDOML array, when ``--out`` names the archive itself): an index
    replaces only an index."""
    node = f"{location.rstrip('/')}/{path}"
    fs, root = get_fs(node, storage_options)
    if not any(fs.exists(f"{root}/{name}") for name in ("zarr.json", ".zarray", ".zgroup")):
        return
    if "lascoproc_sdoml_index" not in root_attrs(node, storage_options):
        raise FileExistsError(f"{node} holds a Zarr node that is not a lascoproc frame index "
                              "(an SDOML array?): not overwritten; give the index another "
                              "--out")


def write_array_index(index: ArrayIndex, location: str,
                      storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``index`` under ``location/<year>/<channel>`` (a Zarr v3 group).

    A local index is written beside its final place and then moved there, so that a reader
    never sees half of it. Only an index is ever replaced: a node of another kind at its
    place (an SDOML array, when the index is pointed at the archive) raises
    ``FileExistsError``."""
    refuse_foreign_node(location, index.path, storage_options)
    local = protocol_of(location) == "file"
    final = Path(location.removeprefix("file://")) / index.path if local else None
    target = str(final.with_name(f".{final.name}.{uuid.uuid4().hex}")) if local else \
        f"{location.rstrip('/')}/{index.path}"
    store = _group_store(target, "", storage_options, "w") if local else \
        _group_store(location, index.path, storage_options, "w")
    group = zarr.open_group(store=store, mode="w", zarr_format=3)
    columns = {"t_obs": index.t_obs.astype("datetime64[ns]").astype(np.int64),
               "exptime": index.exptime, "deg_cor": index.deg_cor, "quality": index.quality,
               "wavelnth": index.wavelnth, "position": index.position}
    for name, values in columns.items():
        group.create_array(name, data=np.ascontiguousarray(values),
                           chunks=(max(1, values.size),))
    group.attrs.update({
        "lascoproc_sdoml_index": INDEX_FORMAT, "identity": index.identity,
        "url": index.url, "path": index.path, "zarray": index.zarray,
        "keywords": list(INDEX_KEYWORDS), "t_obs_units": "ns since 1970-01-01 UTC (NaT: min)",
        "built": dt.datetime.now(dt.UTC).isoformat()[:19],
    })
    if local:
        if final.exists():
            shutil.rmtree(final, ignore_errors=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(target, final)
        except OSError:  # another process put it there first: keep theirs
            shutil.rmtree(target, ignore_errors=True)


def read_array_index(location: str, path: str, identity: str | None = None,
                     storage_options: Mapping[str, Any] | None = None) -> ArrayIndex | None:
    """The index of ``path`` under ``location``, or ``None`` if absent, unreadable or of
    another identity than ``identity`` (when given)."""
    try:
        group = zarr.open_group(store=_group_store(location, path, storage_options, "r"),
                                mode="r", zarr_format=3)
        attrs = group.attrs.asdict()
        if attrs.get("lascoproc_sdoml_index") != INDEX_FORMAT:
            return None
        if identity is not None and attrs.get("identity") != identity:
            return None
        values = {name: group[name][...] for name in _COLUMNS}
    except (FileNotFoundError, KeyError, ValueError, OSError,
            zarr.errors.NodeTypeValidationError):
        return None
    n = values["t_obs"].size
    if any(v.size != n for v in values.values()):
        return None
    return ArrayIndex(url=attrs["url"], path=path, identity=attrs["identity"],
                      zarray=attrs["zarray"], t_obs=values["t_obs"].view("datetime64[ns]"),
                      exptime=values["exptime"], deg_cor=values["deg_cor"],
                      quality=values["quality"], wavelnth=values["wavelnth"])


def load_array_index(url: str, path: str, storage_options: Mapping[str, Any] | None = None,
                     *, index=None, index_storage_options: Mapping[str, Any] | None = None,
                     ) -> ArrayIndex:
    """The index of array ``path`` of store ``url``: read if valid, else built and saved.

    Parameters
    ----------
    index
        ``None`` (the user cache directory), a path or URL of an index store, or ``False``
        (build it in memory and save nothing).
    index_storage_options
        fsspec options of a remote index store.

    A cache that cannot be written (read-only home...) is reported once in the log and the
    index is used from memory.
    """
    identity = array_identity(url, path, storage_options)
    if index is False:
        return build_array_index(url, path, storage_options, identity=identity)
    location = index_location(url, index)
    found = read_array_index(location, path, identity[0], index_storage_options)
    if found is not None:
        return found
    built = build_array_index(url, path, storage_options, identity=identity)
    try:
        write_array_index(built, location, index_storage_options)
    except FileExistsError:  # the index pointed at an archive: an error, not a cache miss
        raise
    except OSError as err:
        log.warning("the SDOML frame index could not be saved at %s (%s); it is rebuilt at "
                    "every open", location, err)
    return built


def open_array(url: str, index: ArrayIndex, storage_options: Mapping[str, Any] | None = None,
               store=None) -> Array:
    """The zarr array of ``index``, opened from its ``.zarray`` alone: no attributes.

    Its metadata (and so every dask task that holds it) is a few hundred bytes, however many
    keywords the array's ``.zattrs`` holds.
    """
    from lascoproc.io.sdoml import open_store

    store = store if store is not None else open_store(url, storage_options)
    metadata = ArrayV2Metadata.from_dict({**index.zarray, "attributes": {}})
    return Array(AsyncArray(metadata=metadata, store_path=StorePath(store, index.path)))
