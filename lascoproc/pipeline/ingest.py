"""Level-0.5 ingestion: archive -> lazy cube -> Zarr (wiring only, no science).

The run is cut into time ranges of whole regions (``range_frames``): the headers of every frame
are read once (:func:`~lascoproc.io.lasco_cube.open_lasco_frames`) and make the store's template
(:func:`~lascoproc.io.zarr_store.cube_template`); the lazy cube of each range not done yet is
built only when its regions are written (:func:`~lascoproc.io.lasco_cube.lasco_cube_from_frames`),
so the graph behind a region write does not grow with the archive (docs/scaling.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import xarray as xr

from lascoproc.io.lasco_archive import LascoIndex
from lascoproc.io.lasco_cube import lasco_cube_from_frames, open_lasco_frames
from lascoproc.io.zarr_store import (
    DEFAULT_RANGE_FRAMES,
    WriteReport,
    cube_template,
    open_store,
    time_ranges,
    write_zarr,
)

__all__ = ["ingest_level05", "IngestResult"]


@dataclasses.dataclass
class IngestResult:
    """The cube that was written (the store, opened lazily without dask) and what the writer
    did."""

    dataset: xr.Dataset
    report: WriteReport

    @property
    def rejected(self) -> list[str]:
        return list(self.dataset.attrs.get("rejected", []))


def ingest_level05(
    archive: str,
    *,
    detector: str,
    out: str,
    start=None,
    end=None,
    shape: tuple[int, int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    region_frames: int = 16,
    range_frames: int = DEFAULT_RANGE_FRAMES,
    storage_options: Mapping[str, Any] | None = None,
    out_storage_options: Mapping[str, Any] | None = None,
    progress: bool | Any = False,
    client: Any = None,
) -> IngestResult:
    """Write the level-0.5 frames of ``detector`` in ``archive`` to a Zarr cube at ``out``.

    See :func:`lascoproc.io.lasco_cube.open_lasco_cube` for the cube and
    :func:`lascoproc.io.zarr_store.write_zarr` for the resumable write. ``range_frames``: frames
    per time range (rounded up to whole regions; module docstring); the store is the same
    whatever its value. ``progress`` is a bool or a reporter
    (:class:`lascoproc.pipeline.progress.RunProgress`); with a ``distributed.Client`` the
    regions are written concurrently on its cluster.
    """
    if isinstance(archive, LascoIndex):
        storage_options = storage_options or archive.storage_options
    frames = open_lasco_frames(archive, detector=detector, start=start, end=end, shape=shape,
                               storage_options=storage_options, progress=bool(progress))
    ranges = time_ranges(frames.sizes["time"], range_frames=range_frames,
                         region_frames=region_frames)

    def open_range(rng: slice) -> xr.Dataset:
        return lasco_cube_from_frames(frames.isel(time=rng), storage_options=storage_options)

    template = cube_template(open_range(ranges[0]), frames)
    report = write_zarr(template, out, region_frames=region_frames, resume=resume,
                        overwrite=overwrite, storage_options=out_storage_options,
                        progress=progress, client=client, time_ranges=ranges,
                        open_range=open_range)
    return IngestResult(open_store(out, out_storage_options), report)
