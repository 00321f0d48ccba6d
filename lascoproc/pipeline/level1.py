"""Level-1 run: archive -> level-0.5 cube -> level-1 cube -> Zarr (or FITS). Wiring only."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import dask
import xarray as xr

from lascoproc.calibrate.level1 import Level1Options, calibrate_level1, plan_level1
from lascoproc.io.calib_store import CalibrationStore
from lascoproc.io.lasco_cube import open_lasco_cube
from lascoproc.io.level1_fits import write_level1_frame
from lascoproc.io.zarr_store import WriteReport, write_zarr
from lascoproc.kernels.lasco_geometry import missing_blocks

__all__ = ["open_level1", "run_level1", "Level1Result", "write_level1_fits"]


@dataclasses.dataclass
class Level1Result:
    """The level-1 cube that was written, and what the writer did."""

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


def write_level1_fits(level1: xr.Dataset, level05: xr.Dataset, out: str, *, batch: int = 8,
                      storage_options: Mapping[str, Any] | None = None,
                      progress: bool = False) -> list[str]:
    """Compute and write every frame as a level-1 FITS file; returns the paths."""
    detector = str(level1.attrs.get("detector", ""))
    history = [f"lascoproc {level1.attrs.get('lascoproc_version', '')}: "
               f"{level1.attrs.get('method', '')}"]
    history += [f"calib {line}" for line in level1.attrs.get("calibration_files", [])]
    names = [n for n, c in level1.coords.items() if c.dims == ("time",)]
    values = {n: level1[n].values for n in names}
    n = level1.sizes["time"]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="writing FITS", unit="frame")
    written = []
    for first in range(0, n, batch):
        sl = slice(first, min(first + batch, n))
        b, q, c = dask.compute(level1["brightness"].data[sl], level1["quality"].data[sl],
                               level05["counts"].data[sl])
        for k, i in enumerate(range(sl.start, sl.stop)):
            frame = {name: values[name][i] for name in names}
            written.append(write_level1_frame(
                out, frame, b[k], q[k], detector=detector,
                missing_blocks=missing_blocks(c[k]).tolist(), history=history,
                storage_options=storage_options))
        if bar is not None:
            bar.update(sl.stop - sl.start)
    if bar is not None:
        bar.close()
    return written


def run_level1(archive: str, *, detector: str, calib: str | CalibrationStore, out: str,
               start=None, end=None, shape=None, output_format: str = "zarr",
               resume: bool = False, overwrite: bool = False, region_frames: int = 16,
               options: Level1Options = Level1Options(),
               storage_options: Mapping[str, Any] | None = None,
               calib_storage_options: Mapping[str, Any] | None = None,
               out_storage_options: Mapping[str, Any] | None = None,
               progress: bool | Any = False, client: Any = None,
               inpaint: str | None = None) -> Level1Result:
    """Calibrate the frames of ``detector`` in ``archive`` to level 1 and write them.

    ``output_format="zarr"``: one resumable Zarr store (:func:`write_zarr`; with a
    ``distributed.Client`` its regions are written concurrently on the cluster);
    ``"fits"``: one level-1 FITS file per frame under ``out``. ``progress`` is a bool or a
    reporter (:class:`lascoproc.pipeline.progress.RunProgress`). ``inpaint``: ``"network"``
    (the shipped partial-convolution model) or ``"fallback"`` (biharmonic) fills the missing
    telemetry blocks and flags them (``quality`` bit 4); ``None`` leaves them NaN and flagged.
    """
    level1, level05 = open_level1(archive, detector=detector, calib=calib, start=start,
                                  end=end, shape=shape, options=options,
                                  storage_options=storage_options,
                                  calib_storage_options=calib_storage_options,
                                  progress=bool(progress))
    if inpaint is not None:
        from lascoproc.inpaint import inpaint_cube

        level1 = inpaint_cube(level1, method=inpaint)
    if output_format == "fits":
        files = write_level1_fits(level1, level05, out, storage_options=out_storage_options,
                                  progress=bool(progress))
        return Level1Result(level1, None, files)
    if output_format != "zarr":
        raise ValueError(f"output format must be 'zarr' or 'fits', not {output_format!r}")
    report = write_zarr(level1, out, region_frames=region_frames, resume=resume,
                        overwrite=overwrite, storage_options=out_storage_options,
                        progress=progress, client=client)
    return Level1Result(level1, report)
