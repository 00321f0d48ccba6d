"""Whole Zarr v3 shards and chunks written directly, frame by frame, without zarr-python's
write path.

zarr-python 3.1 writes a shard of a region through its asynchronous codec pipeline: the region's
block (one array of all its frames) goes in, every inner chunk is encoded, and the pieces are
concatenated into one buffer (``Buffer.combine``) before the store writes it. On a level-1 C3
frame that path cost ~10-13 ms of CPU beyond the encoding itself (docs/benchmarks.md), and it
needs the whole region in one array, a fresh 128 MiB allocation per region of 32 frames whose
first touch alone cost 3-6 ms of system time per frame on the project's machine.

:class:`ShardWriter` writes the same bytes one frame at a time: each frame is encoded as it
arrives (numcodecs, the library zarr's own Blosc and Zstandard codecs call, with the array's
configuration) and appended to the shard; :meth:`ShardWriter.close` appends the shard index
(offset and length of every inner chunk, little-endian uint64, then its CRC-32C: the Zarr v3
sharding codec, ``index_location = "end"``) and commits the object. :func:`write_chunk` writes
one unsharded chunk (the per-frame variables). The format, from the Zarr v3 specification's
``sharding_indexed`` codec, as zarr-python 3.1 writes it:

* inner chunks in the shard in Morton order; for the shards written here only the first axis
  has more than one chunk per shard, where Morton order is plain order;
* an inner chunk that is not stored (past the array's end in its last shard) has offset and
  length ``2**64 - 1``;
* a boundary chunk of an unsharded array is stored whole, its missing part the fill value.

Equality with zarr-python's own bytes is tested (``tests/unit/test_zarr_direct.py``), on
every codec configuration the level-1 stores use and on a last, partial shard.

:func:`array_layouts` reads the arrays' ``zarr.json`` and returns ``None`` for any layout this
writer does not reproduce exactly (Zarr format 2, another codec or key encoding, an index at
the start, a shard with chunks along other axes); the caller then writes with zarr-python.

Commits: on a local disk a shard is written, chunk by chunk as they are encoded, to a temporary
file beside it (``.NAME.part``) and renamed into place (a killed writer leaves no partial shard
under the shard's name; its temporary file is replaced by the next writer of the shard); on
other fsspec file systems (object stores) the shard is put as one object, as zarr-python
does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lascoproc.io.fs import get_fs

__all__ = ["ArrayLayout", "ShardWriter", "array_layouts", "write_chunk"]

#: The index entry of an inner chunk that is not stored (Zarr v3 sharding codec).
EMPTY = np.uint64(2**64 - 1)


@dataclasses.dataclass(frozen=True)
class ArrayLayout:
    """What writing one array's chunks needs: its dtype, shape, fill value, the shape of a
    stored object (a shard, or a chunk when unsharded), the inner chunk shape (sharded only)
    and the compressor of a chunk's bytes (a numcodecs codec or ``None``)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fill_value: Any
    object_shape: tuple[int, ...]
    inner_shape: tuple[int, ...] | None
    compressor: Any
    separator: str

    def encode(self, chunk: np.ndarray) -> bytes | memoryview:
        """The stored bytes of one (inner) chunk: its values in C order, little-endian (the
        ``bytes`` codec), then compressed as the array's metadata says."""
        data = np.ascontiguousarray(chunk, dtype=self.dtype)
        raw = memoryview(data.reshape(-1).view(np.uint8))
        return raw if self.compressor is None else self.compressor.encode(raw)

    def key(self, index: Sequence[int]) -> str:
        """The key of object ``index`` below the array (``c/i/j/...``, the default chunk key
        encoding)."""
        return self.separator.join(["c", *(str(int(i)) for i in index)])


def _compressor(codecs: list[dict], dtype: np.dtype):
    """The numcodecs codec of a chunk's bytes, ``False`` when the codec chain is not one
    this module reproduces: ``bytes`` (little-endian), then at most one of blosc, zstd."""
    if not codecs or codecs[0].get("name") != "bytes":
        return False
    endian = (codecs[0].get("configuration") or {}).get("endian", "little")
    if (endian != "little" and dtype.itemsize > 1) or sys.byteorder != "little":
        return False
    rest = codecs[1:]
    if not rest:
        return None
    if len(rest) > 1:
        return False
    name, config = rest[0].get("name"), dict(rest[0].get("configuration") or {})
    if name == "blosc":
        from numcodecs import Blosc

        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}.get(config.get("shuffle"))
        if shuffle is None:
            return False
        return Blosc.from_config({"cname": config["cname"], "clevel": config["clevel"],
                                  "shuffle": shuffle, "blocksize": config.get("blocksize", 0),
                                  "typesize": config.get("typesize", dtype.itemsize)})
    if name == "zstd":
        from numcodecs import Zstd

        return Zstd.from_config({"level": config.get("level", 0),
                                 "checksum": bool(config.get("checksum", False))})
    return False


def _sharding(codec: dict) -> tuple[tuple[int, ...], list[dict]] | None:
    """``(inner chunk shape, inner codecs)`` of a sharding codec this module writes: the
    index at the end, encoded as little-endian bytes with a CRC-32C."""
    config = codec.get("configuration") or {}
    index = config.get("index_codecs") or []
    names = [c.get("name") for c in index]
    endian = (index[0].get("configuration") or {}).get("endian", "little") if index else None
    if config.get("index_location", "end") != "end" or names != ["bytes", "crc32c"] \
            or endian != "little":
        return None
    return tuple(int(s) for s in config["chunk_shape"]), list(config.get("codecs") or [])


def layout_from_metadata(name: str, meta: Mapping[str, Any]) -> ArrayLayout | None:
    """The :class:`ArrayLayout` of an array's Zarr v3 metadata (``zarr.json``), or ``None``
    when this module cannot write it byte for byte as zarr-python would."""
    try:
        if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
            return None
        dtype = np.dtype(str(meta["data_type"]))
        if dtype.kind not in "fiub":
            return None
        grid = meta["chunk_grid"]
        key = meta.get("chunk_key_encoding") or {}
        if grid.get("name") != "regular" or key.get("name") != "default":
            return None
        separator = (key.get("configuration") or {}).get("separator", "/")
        object_shape = tuple(int(s) for s in grid["configuration"]["chunk_shape"])
        codecs = list(meta["codecs"])
        inner = None
        if codecs and codecs[0].get("name") == "sharding_indexed":
            sharding = _sharding(codecs[0])
            if sharding is None or len(codecs) != 1:
                return None
            inner, codecs = sharding
            # only the first axis may have several inner chunks per shard (Morton order is
            # then plain order)
            if len(inner) != len(object_shape) or object_shape[0] % inner[0] \
                    or tuple(inner[1:]) != object_shape[1:]:
                return None
        compressor = _compressor(codecs, dtype)
        if compressor is False:
            return None
        fill = meta.get("fill_value")
        fill = np.nan if fill == "NaN" else fill
        return ArrayLayout(name=name, shape=tuple(int(s) for s in meta["shape"]), dtype=dtype,
                           fill_value=fill, object_shape=object_shape, inner_shape=inner,
                           compressor=compressor, separator=separator)
    except (KeyError, TypeError, ValueError):
        return None


def array_layouts(store: str, names: Sequence[str],
                  storage_options: Mapping[str, Any] | None = None
                  ) -> dict[str, ArrayLayout] | None:
    """The layouts of the arrays ``names`` of the store, or ``None`` if any of them is not
    one this module writes exactly (module docstring)."""
    fs, root = get_fs(store, storage_options)
    out = {}
    for name in names:
        try:
            meta = json.loads(fs.cat_file(f"{root}/{name}/zarr.json"))
        except (FileNotFoundError, ValueError):
            return None
        layout = layout_from_metadata(name, meta)
        if layout is None:
            return None
        out[name] = layout
    return out


def _is_local(fs) -> bool:
    """fsspec's own local file system (not a subclass, whose writes may do more)."""
    from fsspec.implementations.local import LocalFileSystem

    return type(fs) is LocalFileSystem


class _Object:
    """One object being stored, piece by piece: on a local disk the pieces go to a temporary
    file beside it (``.NAME.part``, the same name for every writer of the object, so a writer
    killed before :meth:`commit` leaves one file that the next writer replaces) renamed into
    place by :meth:`commit`; elsewhere they are kept and put as one object."""

    def __init__(self, fs, path: str):
        self.fs, self.path = fs, path
        self.handle = None
        self.pieces: list | None = None
        if _is_local(fs):
            self.tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.part")
        else:
            self.tmp, self.pieces = None, []

    def _open(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.handle = open(self.tmp, "wb")  # noqa: SIM115 - closed by commit or abort

    def write(self, piece) -> None:
        if self.pieces is not None:
            self.pieces.append(piece)
            return
        if self.handle is None:
            self._open()
        self.handle.write(piece)

    def commit(self) -> None:
        if self.pieces is None:
            if self.handle is None:
                self._open()
            try:
                self.handle.close()
                os.replace(self.tmp, self.path)
            except BaseException:
                self.abort()
                raise
            self.handle = None
            return
        from fsspec.implementations.local import LocalFileSystem

        if isinstance(self.fs, LocalFileSystem):  # a wrapper of the local disk
            self.fs.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fs.pipe_file(self.path, b"".join(self.pieces))
        self.pieces = []

    def abort(self) -> None:
        """Drop what was written (nothing was stored under the object's name)."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        if self.tmp is not None and os.path.exists(self.tmp):
            os.unlink(self.tmp)
        if self.pieces is not None:
            self.pieces = []


def _commit(fs, path: str, pieces: list) -> None:
    """Store ``pieces`` (bytes-like, in order) as the object ``path`` (:class:`_Object`)."""
    target = _Object(fs, path)
    try:
        for piece in pieces:
            target.write(piece)
        target.commit()
    except BaseException:
        target.abort()
        raise


class ShardWriter:
    """One shard of a sharded array, written frame by frame (module docstring).

    ``ShardWriter(fs, root, layout, shard)``: shard number ``shard`` along the first axis of
    the array ``layout`` in the store at ``root`` of file system ``fs``. :meth:`append` the
    inner chunks in order (each an array of the inner chunk's shape, e.g. one frame with its
    leading axis), then :meth:`close`, or :meth:`abort` to give up; nothing is stored under
    the shard's name before :meth:`close`. On a local disk each encoded chunk goes to the
    shard's temporary file as it is made (the writer holds one chunk, not the shard).
    """

    def __init__(self, fs, root: str, layout: ArrayLayout, shard: int):
        if layout.inner_shape is None:
            raise ValueError(f"{layout.name} is not sharded")
        self.layout = layout
        self.path = f"{root}/{layout.name}/{layout.key((shard,) + (0,) * (len(layout.shape) - 1))}"
        per = layout.object_shape[0] // layout.inner_shape[0]
        first = shard * per
        #: inner chunks this shard holds (its last one may end with the array)
        self.expected = min(per, -(-layout.shape[0] // layout.inner_shape[0]) - first)
        if self.expected <= 0:
            raise ValueError(f"{layout.name} has no shard {shard}")
        self.index = np.full((per, 2), EMPTY, dtype="<u8")
        self.count = 0
        self.offset = 0
        self.target = _Object(fs, self.path)

    def append(self, chunk: np.ndarray) -> None:
        """Encode the next inner chunk and add it to the shard."""
        if self.count >= self.expected:
            raise ValueError(f"{self.path}: more than {self.expected} inner chunks")
        if tuple(chunk.shape) != self.layout.inner_shape:
            raise ValueError(f"{self.path}: an inner chunk of shape {chunk.shape}, not "
                             f"{self.layout.inner_shape}")
        piece = self.layout.encode(chunk)
        n = len(piece) if not isinstance(piece, memoryview) else piece.nbytes
        if isinstance(piece, memoryview) and self.target.pieces is not None:
            piece = bytes(piece)  # kept until the put: not a view of a buffer reused later
        self.target.write(piece)
        self.index[self.count] = (self.offset, n)
        self.count += 1
        self.offset += n

    def close(self) -> None:
        """Append the index and its CRC-32C and store the shard."""
        import google_crc32c

        if self.count != self.expected:
            self.abort()
            raise ValueError(f"{self.path}: {self.count} of {self.expected} inner chunks")
        # index shape: chunks per shard + (2,); only the first axis has more than one
        index = self.index.tobytes()
        crc = np.array([google_crc32c.value(index)], dtype="<u4").tobytes()
        try:
            self.target.write(index)
            self.target.write(crc)
            self.target.commit()
        except BaseException:
            self.target.abort()
            raise

    def abort(self) -> None:
        """Give the shard up: nothing of it is stored."""
        self.target.abort()


def write_chunk(fs, root: str, layout: ArrayLayout, chunk: int, values: np.ndarray) -> None:
    """Store chunk number ``chunk`` (along the first axis) of the unsharded array ``layout``
    with ``values``: its part of the array, which a last chunk may have shorter than the chunk
    (the rest is the fill value, as zarr-python stores it)."""
    if layout.inner_shape is not None:
        raise ValueError(f"{layout.name} is sharded: use ShardWriter")
    full = np.full(layout.object_shape, layout.fill_value, dtype=layout.dtype)
    values = np.asarray(values)
    if values.shape[0] > full.shape[0] or values.shape[1:] != full.shape[1:]:
        raise ValueError(f"{layout.name}: values of shape {values.shape} for chunks of "
                         f"{layout.object_shape}")
    full[:values.shape[0]] = values
    index = (chunk,) + (0,) * (len(layout.shape) - 1)
    _commit(fs, f"{root}/{layout.name}/{layout.key(index)}", [layout.encode(full)])
