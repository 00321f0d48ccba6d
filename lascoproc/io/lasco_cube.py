"""Lazy LASCO level-0.5 cubes: an :class:`xarray.Dataset` (time, y, x) per detector and frame size.

One frame per dask chunk (STYLE rule 5). Headers are read once per run, when the frames are
listed (:func:`open_lasco_frames`: a few kB per file, concurrently), and become per-frame
coordinates, with where each file's data start (``data_offset``); pixels are read only when
computed, each frame in one request of exactly its data bytes.

A frame whose header is unusable (not FITS, truncated, incomplete, inconsistent with the file
size) is left out of the cube and listed, with its reason, in the ``rejected`` attribute. At
compute time, a read that fails with an I/O error (the network, a server's 5xx, a short body)
is retried with backoff (:class:`ReadPolicy`) and, still failing, raises
:class:`FrameReadError` (the region writer leaves its region for ``--resume``): a frame that
could not be read is never written as zeros standing for data.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

import lascoproc
from lascoproc.io import lasco_header
from lascoproc.io.fs import get_fs, provenance_location, redact_text, redact_url
from lascoproc.io.lasco_archive import LascoIndex, Problem, index_archive, read_frame_header
from lascoproc.io.retry import TRANSIENT, ReadPolicy, with_retries

__all__ = ["open_lasco_cube", "open_lasco_frames", "open_lasco_frame_groups", "FrameGroups",
           "lasco_cube_from_frames", "frame_reads", "level05_template", "read_frame", "read_frames",
           "ReadPolicy", "FrameReadError", "CorruptFrameError"]

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


class FrameReadError(OSError):
    """A frame's pixels could not be read after every retry (the region is left for resume)."""


class CorruptFrameError(OSError):
    """A file whose content cannot be a frame (not retried; its region is left unwritten and
    named in the run report, as for an I/O error)."""


def _decode(buf: bytes, shape: tuple[int, int], bitpix: int, bscale: float,
            bzero: float, out: np.ndarray | None = None) -> np.ndarray:
    """FITS primary-array bytes (big-endian) to ``uint16`` counts, ``BZERO``/``BSCALE``
    honoured (level 0.5: ``BITPIX = 16`` counts without ``BZERO``, kept as unsigned 16-bit);
    into ``out`` (a ``uint16`` array of ``shape``, e.g. the frame's place in a block) when
    given, in the same pass as the byte swap."""
    ny, nx = shape
    if out is None:
        out = np.empty((ny, nx), np.uint16)
    if bitpix == 16 and bscale == 1.0 and bzero in (0.0, 32768.0):
        # big-endian int16 read as uint16 is the same bits: BZERO 0 keeps them (14-bit counts
        # are never negative), BZERO 32768 (the unsigned convention) flips the sign bit
        data = np.frombuffer(buf, dtype=">u2").reshape(ny, nx)
        if bzero:
            np.bitwise_xor(data, np.uint16(0x8000), out=out)
        else:
            np.copyto(out, data)
        return out
    data = np.frombuffer(buf, dtype=_BITPIX_DTYPE[bitpix]).reshape(ny, nx)
    out[...] = np.clip(np.rint(data * bscale + bzero), 0, 65535)
    return out


def read_frame(fs, path: str, *, offset: int | None = None,
               shape: tuple[int, int] | None = None, bitpix: int = 16, bscale: float = 1.0,
               bzero: float = 0.0, policy: ReadPolicy = ReadPolicy(),
               out: np.ndarray | None = None) -> np.ndarray:
    """Read the pixels of one level-0.5 file as ``uint16`` (rows = NAXIS2, columns = NAXIS1).

    With ``offset`` and ``shape`` (what the frames table holds: the header was read once, when
    the run listed its frames) only the data bytes are read, in one request. Without them the
    header is read first for ``BITPIX``/``NAXIS``/``BSCALE``/``BZERO``.

    Transient failures (:class:`ReadPolicy`) are retried with backoff; still failing, the read
    raises :class:`FrameReadError` naming the file, the attempts and the last error. A file
    that is not a frame raises :class:`CorruptFrameError` at once.

    ``out``: a ``uint16`` array of the data's shape to decode into (e.g. the frame's place
    in a block), instead of a new one; a file whose data have another shape raises
    :class:`CorruptFrameError`.
    """
    try:
        return with_retries(lambda: _read_once(fs, path, offset, shape, bitpix, bscale, bzero,
                                               out), policy, listed=True,
                            permanent=(CorruptFrameError,))
    except CorruptFrameError:
        raise
    except FileNotFoundError as err:  # gone since it was listed: not transient
        raise FrameReadError(f"{redact_url(path)}: no longer in the archive") from err
    except TRANSIENT as err:
        raise FrameReadError(f"{redact_url(path)}: unreadable after {policy.attempts} "
                             f"attempts ({type(err).__name__}: {redact_text(str(err))})") \
            from err


def _read_once(fs, path, offset, shape, bitpix, bscale, bzero, out=None) -> np.ndarray:
    if offset is None or shape is None:
        with fs.open(path, "rb") as handle:
            raw = lasco_header.read_header_bytes(handle)
        cards = _card_values(raw, ("BITPIX", "NAXIS1", "NAXIS2", "BSCALE", "BZERO"))
        try:
            bitpix = int(cards["BITPIX"])
            shape = (int(cards["NAXIS2"]), int(cards["NAXIS1"]))
            bscale = float(cards.get("BSCALE", 1.0))
            bzero = float(cards.get("BZERO", 0.0))
        except (KeyError, ValueError) as err:
            raise CorruptFrameError(f"{redact_url(path)}: unusable BITPIX/NAXIS/BSCALE/BZERO "
                                    f"({err})") from err
        offset = lasco_header.header_size(raw)
    if bitpix not in _BITPIX_DTYPE:
        raise CorruptFrameError(f"{redact_url(path)}: BITPIX {bitpix}")
    dtype = np.dtype(_BITPIX_DTYPE[bitpix])
    nbytes = int(shape[0]) * int(shape[1]) * dtype.itemsize
    buf = fs.cat_file(path, start=int(offset), end=int(offset) + nbytes)
    if len(buf) > nbytes:  # a server that ignores the Range header sends the whole file
        buf = buf[int(offset):int(offset) + nbytes]
    if len(buf) < nbytes:  # a short body: a dropped connection, a server that cut it
        raise OSError(f"{redact_url(path)}: data truncated ({len(buf)} of {nbytes} bytes)")
    if out is not None and out.shape != (int(shape[0]), int(shape[1])):
        raise CorruptFrameError(f"{redact_url(path)}: data of shape {tuple(shape)}, expected "
                                f"{out.shape}")
    return _decode(buf, (int(shape[0]), int(shape[1])), bitpix, bscale, bzero, out)


def read_frames(frames: np.ndarray, *, fs, shape: tuple[int, int],
                policy: ReadPolicy = ReadPolicy()) -> np.ndarray:
    """The counts of a block of frames (the task :func:`lasco_cube_from_frames` maps over its
    chunks of frames).

    ``frames`` holds, per frame, ``(path, data offset, ny, nx, y0, x0)``: where the file's data
    start, their stored size and where they go in the frame (``(ny, nx, 0, 0)`` but for
    subfields embedded in a full frame, whose other pixels stay 0). A read that still fails
    after the retries raises :class:`FrameReadError` (its region is left for ``resume`` and
    named in the run report): a frame is never written as zeros that stand for data.
    """
    whole = all(tuple(int(v) for v in frames[k][2:]) == (*shape, 0, 0)
                for k in np.ndindex(frames.shape))
    if whole and frames.size == 1:  # one whole frame: its array as read, without a copy
        path, offset, ny, nx, _, _ = frames.reshape(-1)[0]
        one = read_frame(fs, str(path), offset=int(offset), shape=(int(ny), int(nx)),
                         policy=policy)
        return one.reshape((*frames.shape, *shape))
    # every pixel is overwritten unless a subfield is embedded (its other pixels stay 0)
    counts = (np.empty if whole else np.zeros)((*frames.shape, *shape), np.uint16)
    for k in np.ndindex(frames.shape):
        path, offset, ny, nx, y0, x0 = frames[k]
        if whole:  # decoded straight into the block
            read_frame(fs, str(path), offset=int(offset), shape=(int(ny), int(nx)),
                       policy=policy, out=counts[k])
            continue
        counts[k][y0:y0 + ny, x0:x0 + nx] = read_frame(
            fs, str(path), offset=int(offset), shape=(int(ny), int(nx)), policy=policy)
    return counts


#: Header problems (:func:`lascoproc.io.lasco_header.header_problems` codes) that keep a file
#: out of the cube: it cannot be placed in time, or is not a LASCO C2/C3 frame of its size.
#: Other problems (the exposure time, an unparsable card) keep the frame, flagged: the level-1
#: plan then flags it as not calibrated, and the level-0.5 cube carries the flags.
REJECTING = frozenset({
    "keyword_missing", "date_missing", "date_unparsable", "date_before_launch",
    "date_in_future", "instrument_not_lasco", "detector_not_c2_c3", "naxis_not_2",
    "size_mismatch_window",
})


@dataclasses.dataclass
class _Record:
    path: str
    header: Any
    offset: int
    time: np.datetime64
    flags: list[str]
    embed: bool = False

    @property
    def stored_shape(self) -> tuple[int, int]:
        return int(self.header["NAXIS2"]), int(self.header["NAXIS1"])

    @property
    def summing(self) -> tuple[int, int]:
        h = self.header
        return (max(int(h.get("SUMCOL", 0) or 0), 1) * max(int(h.get("LEBXSUM", 1) or 1), 1),
                max(int(h.get("SUMROW", 0) or 0), 1) * max(int(h.get("LEBYSUM", 1) or 1), 1))

    @property
    def subfield(self) -> bool:
        """A read-out window smaller than the CCD (R1COL..R2COL, R1ROW..R2ROW)."""
        h = self.header
        return (int(h["R1COL"]), int(h["R1ROW"]), int(h["R2COL"]), int(h["R2ROW"])) != \
            (20, 1, 1043, 1024)

    @property
    def shape(self) -> tuple[int, int]:
        """The frame's size in its cube: the stored size, or the full CCD at the frame's
        summing for an embedded subfield."""
        if self.embed:
            xsum, ysum = self.summing
            return 1024 // ysum, 1024 // xsum
        return self.stored_shape


def _read_headers(fs, paths, threads, progress, known, policy):
    """``(path, header, offset, error)`` of every path; ``known`` headers are not read again."""
    def one(path):
        if path in known:
            header, offset = known[path]
            return path, header, offset, None
        try:
            header, offset = read_frame_header(fs, path, policy)
            return path, header, offset, None
        except (lasco_header.HeaderError, OSError, KeyError, ValueError) as err:
            return path, None, 0, f"header_unreadable: {redact_text(str(err))}"

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = pool.map(one, paths)
        if progress:
            from tqdm.auto import tqdm

            results = tqdm(results, total=len(paths), desc="reading headers", unit="file")
        return list(results)


def _directory_detector(path: str) -> str | None:
    """``c2``/``c3`` of NRL's ``.../c2/NNNNNNNN.fts`` layout, or ``None``."""
    parts = path.replace("\\", "/").rsplit("/", 2)
    return parts[-2].upper() if len(parts) >= 2 and parts[-2].lower() in ("c2", "c3") else None


def _validate(fs, results, detector: str):
    """Split header results into kept records and problems (with reason codes)."""
    problems: list[Problem] = []
    records: list[_Record] = []
    for path, header, offset, error in results:
        if header is None:
            problems.append(Problem(path, error))
            continue
        found = lasco_header.header_problems(header)
        reject = [f"{c}: {m}" for c, m in found if c in REJECTING]
        det = str(header.get("DETECTOR", "")).strip().upper()
        folder = _directory_detector(path)
        if folder is not None and det in ("C2", "C3") and det != folder:
            reject.append(f"detector_mismatch_directory: DETECTOR = {det} in a {folder.lower()}"
                          " directory")
        if int(header.get("BITPIX", 0)) != 16:
            reject.append(f"bitpix_not_16: BITPIX = {header.get('BITPIX')} (a level-0.5 frame "
                          "holds 16-bit counts)")
        if det != detector.upper() and not reject:
            continue  # another detector's frame, listed under this one's by the index
        if reject:
            problems.append(Problem(path, "; ".join(reject)))
            continue
        time = lasco_header.observation_time(header)
        records.append(_Record(path, header, int(offset), time,
                               [f"{c}: {m}" for c, m in found if c not in REJECTING]))
    return records, problems


def _duplicates(fs, records: list[_Record], problems: list[Problem]) -> list[_Record]:
    """Byte-identical files: the first (by path) is kept, the others rejected and named.
    Distinct frames of the same time: both kept, each flagged with the other's name."""
    by_time: dict[tuple, list[_Record]] = {}
    for rec in records:
        by_time.setdefault((rec.time, rec.shape), []).append(rec)
    drop = set()
    for group in by_time.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda r: r.path)
        digests = {}
        for rec in group:
            digests[rec.path] = hashlib.sha256(fs.cat_file(rec.path)).hexdigest()
        kept: dict[str, _Record] = {}
        for rec in group:
            twin = kept.get(digests[rec.path])
            if twin is not None:
                drop.add(rec.path)
                problems.append(Problem(rec.path, f"duplicate: byte-identical to "
                                                  f"{twin.path.rsplit('/', 1)[-1]} (kept)"))
            else:
                kept[digests[rec.path]] = rec
        if len(kept) > 1:
            names = [r.path.rsplit("/", 1)[-1] for r in kept.values()]
            for rec in kept.values():
                others = ", ".join(n for n in names if n != rec.path.rsplit("/", 1)[-1])
                rec.flags.append(f"time_shared: {others} has the same DATE-OBS/TIME-OBS")
    return [r for r in records if r.path not in drop]


#: Largest difference between a frame's time in ``img_hdr.txt`` (whole seconds, truncated) and
#: in its header that is not flagged.
INDEX_TIME_TOLERANCE = np.timedelta64(2, "s")


def _flag_index_time_mismatch(index: LascoIndex, records: list[_Record]) -> None:
    """Flag (``time_mismatch``) the frames whose ``img_hdr.txt`` time, by which the index chose
    them for the run's time range, differs from their header's ``DATE-OBS``/``TIME-OBS``, which
    the cube uses, by more than :data:`INDEX_TIME_TOLERANCE`: one of the two is wrong, and the
    frame may lie outside the range asked for."""
    frames = index.frames
    if not records or "time" not in frames:
        return
    if "source" in frames:  # times the index read from the headers themselves cannot differ
        frames = frames[frames["source"] == "img_hdr"]
    listed = dict(zip(frames["path"], frames["time"].to_numpy("datetime64[ms]"), strict=True))
    for rec in records:
        when = listed.get(rec.path)
        if when is None or np.isnat(when) or rec.time is None or np.isnat(rec.time):
            continue
        header = np.datetime64(rec.time, "ms")
        if abs(header - when) > INDEX_TIME_TOLERANCE:
            rec.flags.append(f"time_mismatch: img_hdr.txt gives {str(when)[:19]}, the header "
                             f"{str(header)[:23]} (the header's time is used)")


def _span_text(index: LascoIndex) -> str:
    """What the archive holds, for an error message: its time span, or that it is empty."""
    full = getattr(index, "span", None)
    if full is None or full[0] is None:
        return "the archive holds no frame of this detector"
    return f"the archive covers {str(full[0])[:19]} .. {str(full[1])[:19]}"


def _collect(source, detector, start, end, storage_options, threads, progress,
             policy=ReadPolicy(), embed_subfields=False):
    """Index the archive, read every header once, validate: ``(index, records, problems)``."""
    if isinstance(source, LascoIndex):
        index = source.select(detector=detector, start=start, end=end)
        storage_options = storage_options or index.storage_options
    else:
        index = index_archive(source, detector=detector, start=start, end=end,
                              storage_options=storage_options, threads=threads,
                              progress=progress, policy=policy)
    fs, _ = get_fs(index.root, storage_options)
    results = _read_headers(fs, list(index.frames["path"]), threads, progress, index.headers,
                            policy)
    records, problems = _validate(fs, results, detector)
    records = _duplicates(fs, records, problems)
    _flag_index_time_mismatch(index, records)
    if embed_subfields:
        for rec in records:
            rec.embed = rec.subfield
    return index, records, list(index.problems) + problems


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
    policy: ReadPolicy = ReadPolicy(),
    frames_per_chunk: int = 1,
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
        ``(ny, nx)`` of the frames to put in the cube. A cube holds frames of one size
        (:func:`open_lasco_frame_groups` gives every size): by default the full 1024x1024
        frames, or the most common size if there are none. The other sizes are named in the
        ``other_shapes`` attribute.
    policy
        How pixel reads are retried (:class:`ReadPolicy`).
    frames_per_chunk
        Frames per dask chunk (one read task each): 1 by default, so that reading one frame
        reads one file; a few for computations over many frames, with fewer tasks per frame
        (docs/benchmarks.md has the level-1 cube's cost at 1, 4 and 32).

    Returns
    -------
    xarray.Dataset
        ``counts`` (time, y, x) ``uint16`` DN, dask-backed with ``frames_per_chunk`` frames per
        chunk;
        ``read_status`` (time) ``uint8`` flag; header values as per-frame coordinates (see
        :data:`lascoproc.io.lasco_header.FRAME_COORDS`), ``path``, ``data_offset`` and
        ``input_flags`` (problems found in the header that do not keep the frame out: the
        exposure time, an unparsable card, a time shared with another frame); attributes
        ``rejected`` (``"path: code: reason"`` of every file left out) and provenance.

    Notes
    -----
    The same as ``lasco_cube_from_frames(open_lasco_frames(...))``: for a whole mission, open
    the frames once and build the cube of each time range with :func:`lasco_cube_from_frames`
    (what :mod:`lascoproc.pipeline` does).
    """
    frames = open_lasco_frames(source, detector=detector, start=start, end=end, shape=shape,
                               storage_options=storage_options, threads=threads,
                               progress=progress)
    if isinstance(source, LascoIndex):
        storage_options = storage_options or source.storage_options
    return lasco_cube_from_frames(frames, storage_options=storage_options, policy=policy,
                                  archive=source.root if isinstance(source, LascoIndex)
                                  else str(source), frames_per_chunk=frames_per_chunk)


class FrameGroups(dict):
    """``{(ny, nx): frames}`` of every frame size (:func:`open_lasco_frame_groups`), with the
    files left out as :class:`~lascoproc.io.lasco_archive.Problem` objects in
    :attr:`problems` (path and reason apart)."""

    problems: list[Problem]


def open_lasco_frame_groups(
    source: str | LascoIndex,
    *,
    detector: str,
    start=None,
    end=None,
    storage_options: Mapping[str, Any] | None = None,
    threads: int = 16,
    progress: bool = False,
    policy: ReadPolicy = ReadPolicy(),
    embed_subfields: bool = False,
) -> FrameGroups:
    """The frames of every size, headers only: ``{(ny, nx): frames}``, the full 1024x1024
    frames first, then by number of frames. Each is what :func:`open_lasco_frames` gives for
    that ``shape``; the files left out are in each group's ``rejected`` attribute and in the
    result's ``problems``. Raises ``ValueError`` (naming the time range and the archive's
    span) when there is no frame.

    ``embed_subfields``: a subfield (a read-out window smaller than the CCD) is placed into a
    full frame of its summing (1024x1024, or 512x512 summed), at its window's place, as IDL's
    ``reduce_std_size`` does before ``reduce_level_1``: it joins the cube of full frames, its
    window keywords become the full CCD's and ``CRPIX`` moves with it; ``stored_ny/nx/y0/x0``
    and ``subfield_r1col..r2row`` keep where its data are (the level-1 chain
    flags the rest of the frame ``outside_field``)."""
    index, records, problems = _collect(source, detector, start, end, storage_options,
                                        threads, progress, policy, embed_subfields)
    sizes = Counter(r.shape for r in records)
    if not sizes:
        raise ValueError(_no_frames_message(index, detector, start, end, problems))
    order = sorted(sizes, key=lambda s: (s != (1024, 1024), -sizes[s], s))
    groups = FrameGroups(
        (shape, _frames_dataset(index.root, detector, shape,
                                [r for r in records if r.shape == shape], problems, sizes))
        for shape in order)
    groups.problems = [Problem(redact_url(p.path), redact_text(p.reason)) for p in problems]
    return groups


def _no_frames_message(index, detector, start, end, problems) -> str:
    asked = (f"between {start or 'the start'} and {end or 'the end'}"
             if start is not None or end is not None else "in the whole archive")
    text = (f"no usable {detector.upper()} frame {asked} of {redact_url(index.root)} "
            f"({_span_text(index)})")
    if problems:
        text += f"; {len(problems)} files were left out, e.g. {problems[0]}"
    return text


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
        No data variables: the cube's ``time`` and per-frame coordinates (header values,
        ``path``, ``data_offset``, ``input_flags``) and its attributes (``frame_shape``,
        ``other_shapes``, ``rejected``, provenance). Select frames with ``isel`` and make them
        a lazy cube with :func:`lasco_cube_from_frames`.
    """
    index, records, problems = _collect(source, detector, start, end, storage_options,
                                        threads, progress)
    sizes = Counter(r.shape for r in records)
    if shape is None:
        shape = (1024, 1024) if (1024, 1024) in sizes else (
            sizes.most_common(1)[0][0] if sizes else (1024, 1024))
    shape = (int(shape[0]), int(shape[1]))
    chosen = [r for r in records if r.shape == shape]
    if not chosen:
        if not sizes:
            raise ValueError(_no_frames_message(index, detector, start, end, problems))
        available = ", ".join(f"{ny}x{nx} ({c})" for (ny, nx), c in sorted(sizes.items()))
        raise ValueError(f"no usable {detector.upper()} frame of {shape[0]}x{shape[1]} pixels "
                         f"in {redact_url(index.root)} for this time range (frame sizes there: "
                         f"{available})")
    return _frames_dataset(index.root, detector, shape, chosen, problems, sizes)


def lasco_cube_from_frames(frames: xr.Dataset, *,
                           storage_options: Mapping[str, Any] | None = None,
                           policy: ReadPolicy = ReadPolicy(),
                           archive: str | None = None, frames_per_chunk: int = 1) -> xr.Dataset:
    """The lazy (time, y, x) cube of exactly the frames of ``frames``.

    Parameters
    ----------
    frames
        What :func:`open_lasco_frames` returns, or a selection of it (``frames.isel(time=...)``);
        a cube works too (its pixel variables are rebuilt).
    storage_options
        fsspec options of the archive (as given to :func:`open_lasco_frames`).
    policy
        How pixel reads are retried.
    archive
        The archive's URL as given to :func:`open_lasco_frames` (default: the
        ``source_archive`` attribute, which holds it without credentials or query string, a
        local path made absolute).
    frames_per_chunk
        Frames per chunk along ``time``, each chunk one read task (the region writers use a
        region's frames: a region's shard is then made by one task, without joining frames).

    Returns
    -------
    xarray.Dataset
        As :func:`open_lasco_cube`, whose graph holds the reads of these frames only: a cube
        of a time range costs the same whatever the length of the archive (``isel`` on a cube
        keeps the whole cube's graph behind the selection).
    """
    frames = frames.drop_vars([n for n in ("counts", "read_status") if n in frames.data_vars])
    fs, specs, shape = frame_reads(frames, archive=archive, storage_options=storage_options)
    counts = _pixel_arrays(fs, specs, shape, policy, frames_per_chunk)
    out = level05_template(frames)
    out["counts"] = out["counts"].copy(deep=False, data=counts)
    return out


def level05_template(frames: xr.Dataset) -> xr.Dataset:
    """The level-0.5 cube of ``frames`` without its data (coordinates, attributes, and each
    data variable as a one-chunk placeholder of its dims, dtype and attributes): a store's
    template, with no graph."""
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    n = frames.sizes["time"]
    detector = str(frames.attrs["detector"])
    return xr.Dataset(
        {
            "counts": (("time", "y", "x"), da.zeros((n, ny, nx), dtype=np.uint16,
                                                    chunks=(n, ny, nx)), {
                "long_name": f"LASCO {detector} level-0.5 counts",
                "units": "count",
                "comment": "raw CCD counts incl. bias; 0 in missing telemetry blocks",
            }),
        },
        coords=frames.coords,
        attrs=dict(frames.attrs),
    )


def _placement(frames: xr.Dataset, shape: tuple[int, int]) -> np.ndarray:
    """Per frame ``(ny, nx, y0, x0)`` of its stored data in the cube's frames: the frame, but
    for embedded subfields (their ``stored_*`` coordinates)."""
    if "stored_ny" in frames.coords:
        return np.stack([np.asarray(frames[f"stored_{c}"].values, np.int64)
                         for c in ("ny", "nx", "y0", "x0")], axis=1)
    return np.tile(np.array([shape[0], shape[1], 0, 0], np.int64), (frames.sizes["time"], 1))


def frame_reads(frames: xr.Dataset, *, archive: str | None = None,
                storage_options: Mapping[str, Any] | None = None):
    """What reading the pixels of ``frames`` needs: ``(fs, specs, (ny, nx))``, ``specs`` an
    object array of one ``(path, data offset, ny, nx, y0, x0)`` per frame (what
    :func:`read_frames` takes), ``fs`` the archive's file system (``archive``: its URL, by
    default the ``source_archive`` attribute)."""
    ny, nx = (int(v) for v in str(frames.attrs["frame_shape"]).split("x"))
    fs, _ = get_fs(str(archive or frames.attrs["source_archive"]), storage_options)
    paths = np.asarray(frames["path"].values, dtype=object)
    offsets = np.asarray(frames["data_offset"].values, dtype=np.int64)
    placement = _placement(frames, (ny, nx))
    specs = np.empty(len(paths), dtype=object)
    for i in range(len(paths)):
        specs[i] = (str(paths[i]), int(offsets[i]), *(int(v) for v in placement[i]))
    return fs, specs, (ny, nx)


def _pixel_arrays(fs, frames: np.ndarray, shape: tuple[int, int], policy: ReadPolicy,
                  frames_per_chunk: int = 1):
    """Lazy counts of the frames ``frames`` (:func:`frame_reads`' specs):
    ``frames_per_chunk`` frames per chunk, one read task per chunk."""
    n = len(frames)
    if int(frames_per_chunk) < 1:
        raise ValueError(f"frames_per_chunk must be at least 1, not {frames_per_chunk}")
    per = int(frames_per_chunk)
    frames_da = da.from_array(frames, chunks=per) if n else da.empty((0,), dtype=object,
                                                                      chunks=1)
    return frames_da.map_blocks(read_frames, new_axis=(1, 2),
                                chunks=(frames_da.chunks[0], (shape[0],), (shape[1],)),
                                dtype=np.uint16, meta=np.empty((0, 0, 0), np.uint16), fs=fs,
                                shape=tuple(shape), policy=policy)


def _embedded_coords(coords: dict, chosen: list[_Record]) -> None:
    """Window, ``CRPIX`` and placement coordinates of a cube with embedded subfields."""
    n = len(chosen)
    stored = np.array([r.stored_shape for r in chosen], np.int32).reshape(n, 2)
    y0 = np.zeros(n, np.int32)
    x0 = np.zeros(n, np.int32)
    original = {k: np.asarray(coords[k][1]).copy() for k in ("r1col", "r1row", "r2col",
                                                              "r2row")}
    for i, rec in enumerate(chosen):
        if not rec.embed:
            continue
        xsum, ysum = rec.summing
        x0[i] = (int(original["r1col"][i]) - 20) // xsum
        y0[i] = (int(original["r1row"][i]) - 1) // ysum
        for key, full in (("r1col", 20), ("r1row", 1), ("r2col", 1043), ("r2row", 1024)):
            coords[key][1][i] = full
        coords["crpix1"][1][i] = coords["crpix1"][1][i] + x0[i]
        coords["crpix2"][1][i] = coords["crpix2"][1][i] + y0[i]
    coords["stored_ny"] = ("time", stored[:, 0], {"long_name": "rows of the data as stored"})
    coords["stored_nx"] = ("time", stored[:, 1], {"long_name": "columns of the data as stored"})
    coords["stored_y0"] = ("time", y0, {"long_name": "first row of the stored data"})
    coords["stored_x0"] = ("time", x0, {"long_name": "first column of the stored data"})
    for key, values in original.items():
        coords[f"subfield_{key}"] = ("time", values.astype(np.int16),
                                     {"long_name": f"{key.upper()} of the read-out window"})


def _frames_dataset(root, detector, shape, chosen: list[_Record], problems, sizes
                    ) -> xr.Dataset:
    chosen = sorted(chosen, key=lambda r: (r.time, r.path))
    paths = np.array([r.path for r in chosen], dtype=object)
    times = np.array([r.time for r in chosen], dtype="datetime64[ms]").astype("datetime64[ns]")
    coords: dict[str, Any] = {"time": ("time", times, {"long_name": "start of exposure (UTC)"})}
    values = [lasco_header.frame_coordinates(r.header) for r in chosen]
    for _, name, dtype, _fill in lasco_header.FRAME_COORDS:
        column = [v[name] for v in values]
        long_name, units = lasco_header.FRAME_COORD_ATTRS[name]
        attrs = {"long_name": long_name, **({"units": units} if units else {})}
        if dtype.startswith("U"):
            coords[name] = ("time", np.array(column, dtype=object), attrs)
        else:
            coords[name] = ("time", np.array(column, dtype=dtype), attrs)
    coords["path"] = ("time", paths, {"long_name": "the level-0.5 file read (its archive "
                                                 "path or URL)"})
    if any(r.embed for r in chosen):
        _embedded_coords(coords, chosen)
    coords["data_offset"] = ("time", np.array([r.offset for r in chosen], np.int64),
                             {"long_name": "byte offset of the data in the file"})
    coords["input_flags"] = ("time", np.array(["; ".join(r.flags) for r in chosen],
                                              dtype=object),
                             {"long_name": "problems of the input file that did not keep it "
                                           "out ('' if none)"})
    other = {f"{ny}x{nx}": c for (ny, nx), c in sorted(sizes.items()) if (ny, nx) != shape}
    ds = xr.Dataset(
        coords=coords,
        attrs={
            "title": f"SOHO/LASCO {detector.upper()} level-0.5 frames",
            "instrument": "LASCO",
            "detector": detector.upper(),
            "level": "0.5",
            "source_archive": provenance_location(str(root)),
            "frame_shape": f"{shape[0]}x{shape[1]}",
            "other_shapes": ", ".join(f"{k}: {v} frames" for k, v in other.items()) or "none",
            "rejected": [redact_text(str(p)) for p in problems],
            "lascoproc_version": lascoproc.__version__,
        },
    )
    return ds
