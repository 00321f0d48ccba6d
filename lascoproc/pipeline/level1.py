"""Level-1 run: archive -> level-0.5 cube -> level-1 cube -> Zarr (or FITS). Wiring only.

A Zarr run is cut into time ranges of whole regions (``range_frames``), so that the client's
work and memory per region do not grow with the archive (docs/scaling.md):

1. the headers of every frame are read once (:func:`~lascoproc.io.lasco_cube.open_lasco_frames`);
2. each range is planned (:func:`~lascoproc.calibrate.level1.plan_level1`: headers and
   calibration tables, no pixels); the plans and the per-frame coordinates of the level-1 cube
   of every frame are kept, and the store's template is made from them
   (:func:`~lascoproc.io.zarr_store.cube_template`);
3. :func:`~lascoproc.io.zarr_store.write_zarr` opens the lazy level-1 cube of each range that
   is not done yet (its own small graph: read, calibrate, optionally inpaint) and writes its
   regions into the template; the per-frame ``frame_written`` manifest says what is done.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from typing import Any

import dask
import xarray as xr

from lascoproc.calibrate.level1 import Level1Options, calibrate_level1, plan_level1
from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.lasco_archive import LascoIndex
from lascoproc.io.lasco_cube import lasco_cube_from_frames, open_lasco_cube, open_lasco_frames
from lascoproc.io.zarr_store import (
    DEFAULT_RANGE_FRAMES,
    WriteReport,
    cube_template,
    open_store,
    time_ranges,
    write_zarr,
)
from lascoproc.pipeline.fits_output import write_level1_fits

__all__ = ["open_level1", "run_level1", "Level1Result", "Level1Ranges"]


@dataclasses.dataclass
class Level1Result:
    """The level-1 cube that was written, and what the writer did.

    ``dataset``: for Zarr output, the written store opened lazily without dask
    (:func:`lascoproc.io.zarr_store.open_store`); for FITS output, the lazy level-1 cube.
    """

    dataset: xr.Dataset
    report: WriteReport | None
    fits_files: list[str] = dataclasses.field(default_factory=list)

    @property
    def flagged(self) -> list[str]:
        """``"filename: reason"`` of the frames that could not be calibrated (plan time)."""
        ds = self.dataset
        reasons = ds["frame_status_reason"].values
        return [f"{name}: {reason}" for name, reason in zip(ds["filename"].values, reasons,
                                                              strict=True) if reason]


def open_level1(archive: str, *, detector: str, calib: str | CalibrationStore, start=None,
                end=None, shape=None, options: Level1Options = Level1Options(),
                storage_options: Mapping[str, Any] | None = None,
                calib_storage_options: Mapping[str, Any] | None = None,
                progress: bool = False) -> tuple[xr.Dataset, xr.Dataset]:
    """The lazy level-1 cube of an archive, and the level-0.5 cube it comes from."""
    store = calib if isinstance(calib, CalibrationStore) else CalibrationStore(
        calib, storage_options=calib_storage_options)
    level05 = open_lasco_cube(archive, detector=detector, start=start, end=end, shape=shape,
                              storage_options=storage_options, progress=progress)
    plan = plan_level1(level05, store, options)
    return calibrate_level1(level05, store, options=options, plan=plan), level05


class Level1Ranges:
    """The level-1 cube of an archive, time range by time range (module docstring).

    Parameters
    ----------
    frames
        Every frame of the run, headers only (:func:`lascoproc.io.lasco_cube.open_lasco_frames`).
    ranges
        The run's time ranges (:func:`lascoproc.io.zarr_store.time_ranges`).
    calib, options, storage_options
        Calibration files, level-1 options and the archive's fsspec options.
    inpaint, gpu_resource
        Passed to :func:`lascoproc.inpaint.inpaint_cube` when ``inpaint`` is not ``None``.
    progress
        Show a bar while the ranges are planned.

    Building it plans every frame (~0.7 ms per frame here, docs/scaling.md; no pixel read). Then
    :meth:`open_range` gives the lazy cube of a range, :meth:`template` the store template of
    the whole run.
    """

    def __init__(self, frames: xr.Dataset, ranges: list[slice], calib: CalibrationStore, *,
                 options: Level1Options = Level1Options(),
                 storage_options: Mapping[str, Any] | None = None,
                 inpaint: str | None = None, gpu_resource: bool = False,
                 progress: bool = False):
        self.frames = frames
        self.ranges = list(ranges)
        self.calib = calib
        self.options = options
        self.storage_options = storage_options
        self.inpaint = inpaint
        self.gpu_resource = gpu_resource
        self.plans: dict[int, xr.Dataset] = {}
        coords = []
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=frames.sizes["time"], desc="planning", unit="frame")
        for rng in self.ranges:
            level05 = self._level05(rng)
            self.plans[rng.start] = plan_level1(level05, calib, options)
            level1 = calibrate_level1(level05, calib, options=options,
                                      plan=self.plans[rng.start])
            coords.append(level1.coords.to_dataset())
            if bar is not None:
                bar.update(rng.stop - rng.start)
        if bar is not None:
            bar.close()
        #: per-frame coordinates of the level-1 cube of every frame
        self.coords = xr.concat(coords, dim="time", data_vars="minimal", coords="minimal",
                                compat="override", join="outer", combine_attrs="override")

    def _level05(self, rng: slice) -> xr.Dataset:
        return lasco_cube_from_frames(self.frames.isel(time=rng),
                                      storage_options=self.storage_options)

    def open_range(self, rng: slice) -> xr.Dataset:
        """The lazy level-1 cube of the frames ``rng`` (one of :attr:`ranges`): its own graph."""
        level1 = calibrate_level1(self._level05(rng), self.calib, options=self.options,
                                  plan=self.plans[rng.start])
        if self.inpaint is not None:
            from lascoproc.inpaint import inpaint_cube

            level1 = inpaint_cube(level1, method=self.inpaint, gpu_resource=self.gpu_resource)
        return level1

    def template(self) -> xr.Dataset:
        """The whole run's cube as the store template: every frame's coordinates, the first
        range's variables and attributes (made after every frame is planned, so that they
        list every calibration file), pixel variables as placeholders."""
        return cube_template(self.open_range(self.ranges[0]), self.coords)


def run_level1(archive: str, *, detector: str, calib: str | CalibrationStore, out: str,
               start=None, end=None, shape=None, output_format: str = "zarr",
               resume: bool = False, overwrite: bool = False, region_frames: int = 16,
               range_frames: int = DEFAULT_RANGE_FRAMES,
               options: Level1Options = Level1Options(),
               storage_options: Mapping[str, Any] | None = None,
               calib_storage_options: Mapping[str, Any] | None = None,
               out_storage_options: Mapping[str, Any] | None = None,
               progress: bool | Any = False, client: Any = None,
               inpaint: str | None = None, gpu_resource: bool = False) -> Level1Result:
    """Calibrate the frames of ``detector`` in ``archive`` to level 1 and write them.

    ``output_format="zarr"``: one resumable Zarr store (:func:`write_zarr`; with a
    ``distributed.Client`` its regions are written concurrently on the cluster), the run cut
    into time ranges of ``range_frames`` frames (rounded up to whole regions) whose lazy cubes
    are built one at a time (module docstring); the store is the same whatever
    ``range_frames``, and a run resumed with another ``range_frames`` continues it. ``"fits"``:
    one level-1 FITS file per frame under ``out``. ``progress`` is a bool or a reporter
    (:class:`lascoproc.pipeline.progress.RunProgress`). ``inpaint``: ``"network"`` (the shipped
    partial-convolution model) or ``"fallback"`` (biharmonic) fills the missing telemetry blocks
    and flags them (``quality`` bit 4); ``None`` leaves them NaN and flagged.
    ``gpu_resource`` (with ``inpaint="network"``): the inpainting tasks ask for the Dask worker
    resource ``GPU: 1``, so that on a cluster they run only on GPU workers, and the regions are
    computed without low-level task fusion, which would drop that annotation
    (:mod:`lascoproc.inpaint.cube`); on a cluster without GPU workers they would never run.
    """
    if output_format == "fits":
        level1, level05 = open_level1(archive, detector=detector, calib=calib, start=start,
                                      end=end, shape=shape, options=options,
                                      storage_options=storage_options,
                                      calib_storage_options=calib_storage_options,
                                      progress=bool(progress))
        if inpaint is not None:
            from lascoproc.inpaint import inpaint_cube

            level1 = inpaint_cube(level1, method=inpaint)
        files = write_level1_fits(level1, level05, out, storage_options=out_storage_options,
                                  progress=bool(progress))
        return Level1Result(level1, None, files)
    if output_format != "zarr":
        raise ValueError(f"output format must be 'zarr' or 'fits', not {output_format!r}")
    store = calib if isinstance(calib, CalibrationStore) else CalibrationStore(
        calib, storage_options=calib_storage_options)
    if isinstance(archive, LascoIndex):
        storage_options = storage_options or archive.storage_options
    frames = open_lasco_frames(archive, detector=detector, start=start, end=end, shape=shape,
                               storage_options=storage_options, progress=bool(progress))
    ranges = time_ranges(frames.sizes["time"], range_frames=range_frames,
                         region_frames=region_frames)
    gpu = bool(gpu_resource) and inpaint == "network"
    run = Level1Ranges(frames, ranges, store, options=options, storage_options=storage_options,
                       inpaint=inpaint, gpu_resource=gpu, progress=bool(progress))
    template = run.template()
    # dask drops layer annotations when it fuses tasks: keep the GPU tasks apart
    unfused = (dask.config.set({"optimization.fuse.active": False}) if gpu
               else contextlib.nullcontext())
    with unfused:
        report = write_zarr(template, out, region_frames=region_frames, resume=resume,
                            overwrite=overwrite, storage_options=out_storage_options,
                            progress=progress, client=client, time_ranges=ranges,
                            open_range=run.open_range)
    return Level1Result(open_store(out, out_storage_options), report)
