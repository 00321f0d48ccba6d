"""Level-1 run: archive -> level-0.5 cube -> level-1 cube -> Zarr (or FITS). Wiring only.

A run, for each frame size of the archive (:func:`~lascoproc.io.lasco_cube.
open_lasco_frame_groups`; one store per size):

1. the headers of every frame are read once (the frames table);
2. every frame is planned at once (:func:`~lascoproc.calibrate.plan.plan_level1`: headers and
   calibration tables, no pixels), and the store's template is made from the frames and the plan
   (:func:`~lascoproc.calibrate.level1.level1_template`): no graph is built for it;
3. the region scheduler (:func:`lascoproc.pipeline.regions.write_cube`) opens the lazy level-1
   cube of one time range at a time (:class:`Level1Ranges`: read, calibrate, optionally inpaint;
   its own small graph) and writes its regions into the template; the per-frame
   ``frame_written`` manifest says what is done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
from collections.abc import Mapping
from functools import partial
from typing import Any

import dask
import numpy as np
import xarray as xr

import lascoproc
from lascoproc.calibrate.level1 import calibrate_level1, level1_template
from lascoproc.calibrate.plan import Level1Options, plan_level1
from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.lasco_archive import LascoIndex
from lascoproc.io.lasco_cube import (
    lasco_cube_from_frames,
    open_lasco_cube,
    open_lasco_frame_groups,
)
from lascoproc.io.retry import ReadPolicy
from lascoproc.io.zarr_store import open_store
from lascoproc.kernels.frame_status import FRAME_NOT_CALIBRATED
from lascoproc.pipeline.fits_output import write_level1_fits
from lascoproc.pipeline.ingest import select_sizes
from lascoproc.pipeline.regions import (
    DEFAULT_RANGE_FRAMES,
    DEFAULT_REGION_FRAMES,
    WriteReport,
    check_output,
    new_run_id,
    write_cube,
)
from lascoproc.pipeline.report import (
    RunReport,
    StoppedRun,
    build_report,
    report_path,
    write_report,
)

__all__ = ["open_level1", "run_level1", "Level1Result", "Level1Ranges", "size_store", "is_main",
           "FULL_FRAME"]

#: The CCD's full frame: its cube is written to ``out`` itself (:func:`is_main`).
FULL_FRAME = (1024, 1024)


@dataclasses.dataclass
class Level1Result:
    """What a level-1 run wrote.

    ``dataset``/``report``: the main store (the full-size frames, or the size asked for),
    opened lazily without dask, and what its writer did; ``others``: ``{"NYxNX": (store,
    report)}`` for the stores of the other frame sizes of the archive; ``run_report``: every
    input file and what became of it (:mod:`lascoproc.pipeline.report`, also written beside
    the main store). For FITS output, ``dataset`` is the lazy level-1 cube and ``fits_files``
    the files written.
    """

    dataset: xr.Dataset
    report: WriteReport | None
    fits_files: list[str] = dataclasses.field(default_factory=list)
    others: dict[str, tuple[str, WriteReport]] = dataclasses.field(default_factory=dict)
    run_report: RunReport | None = None

    @property
    def flagged(self) -> list[str]:
        """``"filename: reason"`` of the frames that could not be calibrated (plan time)."""
        ds = self.dataset
        reasons = ds["frame_status_reason"].values
        return [f"{name}: {reason}" for name, reason in zip(ds["filename"].values, reasons,
                                                              strict=True) if reason]


def _store(calib, calib_storage_options, allow_unverified: bool = False) -> CalibrationStore:
    return calib if isinstance(calib, CalibrationStore) else CalibrationStore(
        calib, storage_options=calib_storage_options, allow_unverified=allow_unverified)


def open_level1(archive: str, *, detector: str, calib: str | CalibrationStore, start=None,
                end=None, shape=None, options: Level1Options = Level1Options(),
                storage_options: Mapping[str, Any] | None = None,
                calib_storage_options: Mapping[str, Any] | None = None,
                progress: bool = False, frames_per_chunk: int = 1
                ) -> tuple[xr.Dataset, xr.Dataset]:
    """The lazy level-1 cube of an archive (one frame size), and the level-0.5 cube it comes
    from. ``frames_per_chunk``: frames per dask chunk (and per task) of both, 1 by default
    (one frame computed when one is read); a few for computations over many frames, with
    fewer tasks per frame (docs/benchmarks.md, 2026-12-02 08:55 UTC: the cube costs 1.06 of a
    plain read-and-calibrate loop at 4, 1.21 at 1)."""
    store = _store(calib, calib_storage_options)
    level05 = open_lasco_cube(archive, detector=detector, start=start, end=end, shape=shape,
                              storage_options=storage_options, progress=progress,
                              frames_per_chunk=frames_per_chunk)
    plan = plan_level1(level05, store, options)
    return calibrate_level1(level05, store, options=options, plan=plan), level05


class Level1Ranges:
    """The level-1 cube of one frame size of an archive, time range by time range.

    Parameters
    ----------
    frames
        Every frame of the run, headers only (:func:`lascoproc.io.lasco_cube.open_lasco_frames`).
    calib, options
        Calibration files and level-1 options.
    archive, storage_options, policy
        The archive's URL and fsspec options, and how pixel reads are retried.
    inpaint, gpu_resource
        Passed to :func:`lascoproc.inpaint.inpaint_cube` when ``inpaint`` is not ``None``.
    chunk_frames
        Frames per task of a range's cube (read and calibrate), from the range's first frame:
        the region size of the writer (ranges start on a region), so that one task makes a
        region's shard whole (no joining of one-frame blocks). With the temporal fill, one
        frame per task (its halo is not a region).

    Building it plans every frame at once (no pixel read). :meth:`template` is the store
    template of the whole run (no graph), :meth:`open_range` the lazy cube of a time range.
    """

    def __init__(self, frames: xr.Dataset, calib: CalibrationStore, *,
                 options: Level1Options = Level1Options(), archive: str | None = None,
                 storage_options: Mapping[str, Any] | None = None,
                 policy: ReadPolicy = ReadPolicy(), inpaint: str | None = None,
                 gpu_resource: bool = False, chunk_frames: int = 1):
        self.frames = frames
        self.chunk_frames = int(chunk_frames)
        self.calib = calib
        self.options = options
        self.archive = archive
        self.storage_options = storage_options
        self.policy = policy
        self.inpaint = inpaint
        self.gpu_resource = gpu_resource
        #: the plan of every frame (:func:`~lascoproc.calibrate.plan.plan_level1`)
        self.plan = plan_level1(frames, calib, options)

    def _inpainted(self, level1: xr.Dataset) -> xr.Dataset:
        if self.inpaint is None:
            return level1
        from lascoproc.inpaint import inpaint_cube

        return inpaint_cube(level1, method=self.inpaint, gpu_resource=self.gpu_resource)

    def template(self) -> xr.Dataset:
        """The whole run's cube without data: coordinates from the frames and the plan,
        attributes (every calibration file the plan read, the inpainting and its weights), data
        variables as placeholders."""
        template = level1_template(self.frames, self.plan, self.calib, self.options)
        if self.inpaint is None:
            return template
        from lascoproc.inpaint.cube import inpaint_attributes

        return inpaint_attributes(template, method=self.inpaint)

    def _halo(self) -> int:
        """Frames read on each side of a range beyond it: the temporal fill's neighbours (so
        that its values do not depend on where the ranges are cut); none otherwise."""
        if self.inpaint != "temporal":
            return 0
        from lascoproc.inpaint.cube import temporal_depth

        return temporal_depth()

    def open_range(self, rng: slice) -> xr.Dataset:
        """The lazy level-1 cube of the frames ``rng``: its own graph (with the temporal fill,
        its neighbours on each side are read and calibrated too, then dropped)."""
        halo = self._halo()
        n = self.frames.sizes["time"]
        start, stop, _ = rng.indices(n)
        wide = slice(max(start - halo, 0), min(stop + halo, n))
        level05 = lasco_cube_from_frames(self.frames.isel(time=wide),
                                         storage_options=self.storage_options,
                                         policy=self.policy, archive=self.archive,
                                         frames_per_chunk=1 if halo else self.chunk_frames)
        level1 = self._inpainted(calibrate_level1(level05, self.calib, options=self.options,
                                                  plan=self.plan.isel(time=wide)))
        if wide == slice(start, stop):
            return level1
        return level1.isel(time=slice(start - wide.start, stop - wide.start))

    def direct_writer(self, store: str, storage_options: Mapping[str, Any] | None,
                      region_frames: int, names, client: Any = None) -> Any:
        """The region scheduler's direct path for this run into ``store``
        (:func:`lascoproc.pipeline.level1_shards.region_writer`), or ``None`` where it does
        not apply: with inpainting, or a store it does not write exactly."""
        if self.inpaint is not None:
            return None
        from lascoproc.calibrate.level1 import cube_detector
        from lascoproc.pipeline.level1_shards import region_writer

        return region_writer(self.frames, self.plan, self.calib,
                             detector=cube_detector(self.frames),
                             distortion=bool(self.options.distortion), archive=self.archive,
                             storage_options=self.storage_options, policy=self.policy,
                             store=store, out_storage_options=storage_options,
                             region_frames=region_frames, names=names, client=client)

    def definition(self, template: xr.Dataset) -> dict[str, Any]:
        """What defines this run's values besides the frames (for the store's fingerprint):
        the options, the calibration files read (SHA-256 of their list with digests), the
        inpainting and its weights, the lascoproc version."""
        inpaint = {k: v for k, v in template.attrs.items() if k.startswith("inpaint")}
        return {"product": "LASCO level-1 cube",
                "detector": str(template.attrs.get("detector", "")),
                "options": self.options.as_attrs(),
                "embedded_subfields": int("stored_ny" in self.frames.coords),
                "calibration_digest": self.calib.digest(
                    self.plan.attrs.get("calibration_files", [])),
                "inpaint": json.dumps(inpaint, sort_keys=True, default=str),
                "lascoproc_version": lascoproc.__version__}


def _run_fits(archive, root, detector, store, out, *, start, end, shape, options,
              storage_options, out_storage_options, progress, range_frames, inpaint, policy,
              nrl_scaling, overwrite, embed_subfields) -> Level1Result:
    """Level-1 FITS files of every frame size, time range by time range; every file name is
    checked (no two frames to one file, no existing file without ``overwrite``) before the
    first is written."""
    from lascoproc.io.level1_fits import level1_fits_targets

    groups = open_lasco_frame_groups(archive, detector=detector, start=start, end=end,
                                     storage_options=storage_options, progress=bool(progress),
                                     policy=policy, embed_subfields=embed_subfields)
    runs = [Level1Ranges(groups[size], store, options=options, archive=root,
                         storage_options=storage_options, policy=policy, inpaint=inpaint)
            for size in select_sizes(groups, shape, detector, root)]
    frames = []
    for run in runs:
        coords = run.template().coords
        names = [n for n, c in coords.items() if c.dims == ("time",)]
        values = {n: np.asarray(coords[n].values) for n in names}
        frames += [{n: values[n][i] for n in names} for i in range(coords["time"].size)]
    level1_fits_targets(out, frames, detector, storage_options=out_storage_options,
                        overwrite=overwrite)
    run_id, started = new_run_id(), dt.datetime.now(dt.UTC)
    files: list[str] = []
    computed: list[list[int]] = []
    for run in runs:
        computed.append([])
        n = run.frames.sizes["time"]
        for first in range(0, n, max(int(range_frames), 1)):
            rng = slice(first, min(first + int(range_frames), n))
            level1 = run.open_range(rng)
            level05 = lasco_cube_from_frames(run.frames.isel(time=rng),
                                             storage_options=storage_options, policy=policy,
                                             archive=root)
            files += write_level1_fits(level1, level05, out,
                                       storage_options=out_storage_options,
                                       progress=bool(progress), nrl_scaling=nrl_scaling,
                                       overwrite=True, calib=store,
                                       statuses=computed[-1])
    run_report = build_report(run_id=run_id, product=f"LASCO {detector.upper()} level 1 (FITS)",
                              archive=root, started=started, problems=groups.problems,
                              written=[(out, None, _fits_frames(run, status))
                                       for run, status in zip(runs, computed, strict=True)])
    write_report(run_report, report_path(out), out_storage_options)
    return Level1Result(runs[0].template(), None, files, run_report=run_report)


def _fits_frames(run: Level1Ranges, computed: list[int]) -> xr.Dataset:
    """What the run report reads of one frame size written as FITS files: every frame was
    written (the writer writes them all or raises); its status as computed (``computed``, in
    frame order: the plan's not-calibrated frames with their reason, and frames found without
    data, which are written as NRL writes them); the columns that say how completely the
    calibration store covered it (the run report flags frames calibrated without some file)."""
    template = run.template()
    reason = np.asarray(template["frame_status_reason"].values).astype(str)
    planned = np.where(reason != "", FRAME_NOT_CALIBRATED, 0).astype(np.uint8)
    if len(computed) != reason.size:
        raise RuntimeError(f"{len(computed)} computed frame statuses for {reason.size} frames")
    done = np.asarray(computed, np.uint8)
    status = xr.DataArray(np.maximum(planned, done), dims="time",
                          attrs=dict(template["frame_status"].attrs))
    out = xr.Dataset({"frame_status": status,
                      "frame_written": ("time", np.ones(reason.size, bool)),
                      "path": ("time", np.asarray(template["path"].values)),
                      "frame_status_reason": ("time", reason)})
    for name in ("input_flags", "date_obs_source", "bias_source", "expfactor_file"):
        if name in template.variables:
            out[name] = ("time", np.asarray(template[name].values))
    out.attrs["frame_shape"] = "x".join(str(template.sizes[d]) for d in ("y", "x"))
    return out


def _direct(run: Level1Ranges, target: str, storage_options, region_frames: int,
            template: xr.Dataset, client: Any = None):
    """The region scheduler's ``direct_writer`` for a run (``LASCOPROC_DIRECT_WRITE=0``
    turns it off: every region then goes through zarr-python)."""
    if os.environ.get("LASCOPROC_DIRECT_WRITE", "1") == "0":
        return None
    names = [n for n, v in template.data_vars.items() if "time" in v.dims]
    return lambda: run.direct_writer(target, storage_options, region_frames, names, client)


def is_main(size: tuple[int, int], shape) -> bool:
    """Whether the frames of ``size`` go to ``out`` itself: the full 1024 x 1024 frames, or
    the one size a run restricted to ``shape`` writes. Any other size has a store named by its
    size (:func:`size_store`), also in a selection without full frames, so that a store's name
    says what it holds whichever frames a time range happens to have."""
    return shape is not None or tuple(size) == FULL_FRAME


def size_store(out: str, shape: tuple[int, int], main: bool) -> str:
    """The store of one frame size: ``out`` for the main size, else ``out`` with ``_NYxNX``
    before its suffix (``c3_l1.zarr`` -> ``c3_l1_512x512.zarr``)."""
    if main:
        return out
    base = out.rstrip("/")
    stem, dot, suffix = base.rpartition(".")
    tag = f"_{shape[0]}x{shape[1]}"
    return f"{stem}{tag}.{suffix}" if dot and "/" not in suffix else f"{base}{tag}"


def run_level1(archive: str | LascoIndex, *, detector: str, calib: str | CalibrationStore,
               out: str, start=None, end=None, shape=None, output_format: str = "zarr",
               resume: bool = False, overwrite: bool = False,
               region_frames: int = DEFAULT_REGION_FRAMES,
               range_frames: int = DEFAULT_RANGE_FRAMES,
               options: Level1Options = Level1Options(),
               storage_options: Mapping[str, Any] | None = None,
               calib_storage_options: Mapping[str, Any] | None = None,
               out_storage_options: Mapping[str, Any] | None = None,
               progress: bool | Any = False, client: Any = None,
               inpaint: str | None = None, gpu_resource: bool = False,
               policy: ReadPolicy = ReadPolicy(), nrl_scaling: bool = False,
               allow_unverified: bool = False, embed_subfields: bool = False) -> Level1Result:
    """Calibrate the frames of ``detector`` in ``archive`` to level 1 and write them.

    ``output_format="zarr"``: one resumable Zarr store per frame size (``out`` for the full
    frames, :func:`size_store` names the others, :func:`is_main`; ``shape`` restricts the run
    to one size, written to ``out``), written by
    :func:`lascoproc.pipeline.regions.write_cube` (``resume``, ``overwrite``,
    ``region_frames``, ``range_frames``, ``progress``, ``client``: with a
    ``distributed.Client`` the regions are written concurrently on its cluster). ``"fits"``:
    one level-1 FITS file per frame under ``out``. ``inpaint``: a method of
    :data:`lascoproc.inpaint.METHODS` fills the missing telemetry blocks and flags them;
    ``None`` leaves them NaN and flagged. ``gpu_resource`` (with ``inpaint="network"``): the
    inpainting tasks ask for the Dask worker resource ``GPU: 1`` and the regions are computed
    without low-level task fusion, which would drop that annotation
    (:mod:`lascoproc.inpaint.cube`). ``policy``: how pixel reads are retried.
    ``nrl_scaling`` (FITS only): C3 Clear frames stored as NRL's int16 (``reduce_level_1.pro``
    1.68; :func:`lascoproc.pipeline.fits_output.write_level1_fits`). ``allow_unverified``:
    use a calibration store without ``MANIFEST.json`` (its files are then identified by the
    SHA-256 of their bytes; the output attributes say so). ``embed_subfields``: subfields are
    placed into full frames of their summing and calibrated with them, as IDL does
    (:func:`lascoproc.io.lasco_cube.open_lasco_frame_groups`); else they get stores of their
    own sizes.
    """
    store = _store(calib, calib_storage_options, allow_unverified)
    if isinstance(archive, LascoIndex):
        storage_options = storage_options or archive.storage_options
    root = archive.root if isinstance(archive, LascoIndex) else str(archive)
    if output_format == "fits":
        return _run_fits(archive, root, detector, store, out, start=start, end=end,
                         shape=shape, options=options, storage_options=storage_options,
                         out_storage_options=out_storage_options, progress=progress,
                         range_frames=range_frames, inpaint=inpaint, policy=policy,
                         nrl_scaling=nrl_scaling, overwrite=overwrite,
                         embed_subfields=embed_subfields)
    if output_format != "zarr":
        raise ValueError(f"output format must be 'zarr' or 'fits', not {output_format!r}")
    if nrl_scaling:
        raise ValueError("--nrl-scaling applies to FITS output (--format fits): the Zarr cube "
                         "keeps float32 brightness")
    groups = open_lasco_frame_groups(archive, detector=detector, start=start, end=end,
                                     storage_options=storage_options, progress=bool(progress),
                                     policy=policy, embed_subfields=embed_subfields)
    sizes = select_sizes(groups, shape, detector, root)
    gpu = bool(gpu_resource) and inpaint == "network"
    run_id, started = new_run_id(), dt.datetime.now(dt.UTC)
    product = f"LASCO {detector.upper()} level 1"
    targets = [size_store(out, size, main=is_main(size, shape)) for size in sizes]
    stopped = StoppedRun(run_id=run_id, product=product, archive=root, started=started,
                         problems=groups.problems, report_at=report_path(out),
                         storage_options=out_storage_options)
    runs = [Level1Ranges(groups[size], store, options=options, archive=root,
                         storage_options=storage_options, policy=policy, inpaint=inpaint,
                         gpu_resource=gpu, chunk_frames=region_frames) for size in sizes]
    templates = [run.template() for run in runs]
    # made once (an unverified store's calibration digest reads the files' bytes)
    definitions = [run.definition(t) for run, t in zip(runs, templates, strict=True)]
    for target, size, template, definition in zip(targets, sizes, templates, definitions,
                                                  strict=True):
        stopped.plan(target, groups[size]["path"].values)
        check_output(target, resume=resume, overwrite=overwrite,  # all before the first
                     storage_options=out_storage_options, template=template,
                     definition=definition, region_frames=region_frames)
    written: dict[tuple[int, int], tuple[str, WriteReport]] = {}
    with stopped:  # a run stopped by an exception still writes its report
        for target, size, run, template, definition in zip(targets, sizes, runs, templates,
                                                           definitions, strict=True):
            # dask drops layer annotations when it fuses tasks: keep the GPU tasks apart
            unfused = (dask.config.set({"optimization.fuse.active": False}) if gpu
                       else contextlib.nullcontext())
            with unfused:
                report = write_cube(
                    target, template, run.open_range, definition=definition,
                    region_frames=region_frames, range_frames=range_frames, resume=resume,
                    overwrite=overwrite, storage_options=out_storage_options,
                    progress=progress, client=client, run_id=run_id,
                    on_start=partial(stopped.begin, target),
                    on_failure=partial(stopped.region_failed, target), direct_writer=_direct(
                        run, target, out_storage_options, region_frames, template, client))
            stopped.finish(target, report)
            written[size] = (target, report)
    main_store, main_report = next(iter(written.values()))
    others = {f"{ny}x{nx}": value for (ny, nx), value in list(written.items())[1:]}
    opened = [(target, report, open_store(target, out_storage_options))
              for target, report in written.values()]
    run_report = build_report(run_id=run_id, product=product, archive=root, started=started,
                              problems=groups.problems, written=opened)
    write_report(run_report, report_path(out), out_storage_options)
    return Level1Result(opened[0][2], main_report, others=others, run_report=run_report)
