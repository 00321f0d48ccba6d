"""Level-0.5 ingestion: archive -> lazy cube -> Zarr (wiring only, no science)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import xarray as xr

from lascoproc.io.lasco_cube import open_lasco_cube
from lascoproc.io.zarr_store import WriteReport, write_zarr

__all__ = ["ingest_level05", "IngestResult"]


@dataclasses.dataclass
class IngestResult:
    """The cube that was written and what the writer did."""

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
    storage_options: Mapping[str, Any] | None = None,
    out_storage_options: Mapping[str, Any] | None = None,
    progress: bool | Any = False,
    client: Any = None,
) -> IngestResult:
    """Write the level-0.5 frames of ``detector`` in ``archive`` to a Zarr cube at ``out``.

    See :func:`lascoproc.io.lasco_cube.open_lasco_cube` for the cube and
    :func:`lascoproc.io.zarr_store.write_zarr` for the resumable write. ``progress`` is a bool
    or a reporter (:class:`lascoproc.pipeline.progress.RunProgress`); with a
    ``distributed.Client`` the regions are written concurrently on its cluster.
    """
    ds = open_lasco_cube(archive, detector=detector, start=start, end=end, shape=shape,
                         storage_options=storage_options, progress=bool(progress))
    report = write_zarr(ds, out, region_frames=region_frames, resume=resume,
                        overwrite=overwrite, storage_options=out_storage_options,
                        progress=progress, client=client)
    return IngestResult(ds, report)
