"""Level-0.5 ingestion: archive -> lazy cube -> Zarr (wiring only, no science).

The headers of every frame are read once (:func:`~lascoproc.io.lasco_cube.open_lasco_frames`)
and make the store's template (:func:`~lascoproc.io.lasco_cube.level05_template`, no graph);
the lazy cube of each time range is built only when its regions are written
(:func:`~lascoproc.io.lasco_cube.lasco_cube_from_frames`), by the region scheduler
(:func:`lascoproc.pipeline.regions.write_cube`), so the graph behind a region does not grow with
the archive (docs/scaling.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any

import xarray as xr

import lascoproc
from lascoproc.io.fs import redact_url
from lascoproc.io.lasco_archive import LascoIndex
from lascoproc.io.lasco_cube import (
    lasco_cube_from_frames,
    level05_template,
    open_lasco_frame_groups,
)
from lascoproc.io.retry import ReadPolicy
from lascoproc.io.zarr_store import open_store
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

__all__ = ["ingest_level05", "IngestResult"]


@dataclasses.dataclass
class IngestResult:
    """The main store written (opened lazily without dask), what its writer did, the stores of
    the other frame sizes (``{"NYxNX": (store, report)}``) and the run report."""

    dataset: xr.Dataset
    report: WriteReport
    others: dict[str, tuple[str, WriteReport]] = dataclasses.field(default_factory=dict)
    run_report: RunReport | None = None

    @property
    def rejected(self) -> list[str]:
        return list(self.dataset.attrs.get("rejected", []))


def ingest_level05(
    archive: str | LascoIndex,
    *,
    detector: str,
    out: str,
    start=None,
    end=None,
    shape: tuple[int, int] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    region_frames: int = DEFAULT_REGION_FRAMES,
    range_frames: int = DEFAULT_RANGE_FRAMES,
    storage_options: Mapping[str, Any] | None = None,
    out_storage_options: Mapping[str, Any] | None = None,
    progress: bool | Any = False,
    client: Any = None,
    policy: ReadPolicy = ReadPolicy(),
) -> IngestResult:
    """Write the level-0.5 frames of ``detector`` in ``archive`` to Zarr cubes: one store per
    frame size, ``out`` for the full 1024 x 1024 frames
    (:func:`lascoproc.pipeline.level1.is_main`; :func:`~lascoproc.pipeline.level1.size_store`
    names the others, also where the selection holds no full frame); ``shape`` restricts the
    run to one size, written to ``out``.

    See :func:`lascoproc.io.lasco_cube.open_lasco_cube` for the cube and
    :func:`lascoproc.pipeline.regions.write_cube` for the resumable write (``resume``,
    ``overwrite``, ``region_frames``, ``range_frames``, ``progress``, ``client``); ``policy``
    says how pixel reads are retried. The run report (every input file and what became of it)
    is written beside ``out``.
    """
    from lascoproc.pipeline.level1 import is_main, size_store

    if isinstance(archive, LascoIndex):
        storage_options = storage_options or archive.storage_options
    root = archive.root if isinstance(archive, LascoIndex) else str(archive)
    groups = open_lasco_frame_groups(archive, detector=detector, start=start, end=end,
                                     storage_options=storage_options, progress=bool(progress),
                                     policy=policy)
    sizes = select_sizes(groups, shape, detector, root)
    run_id, started = new_run_id(), dt.datetime.now(dt.UTC)
    definition = {"product": "LASCO level-0.5 cube", "detector": detector.upper(),
                  "lascoproc_version": lascoproc.__version__}
    product = f"LASCO {detector.upper()} level 0.5"
    stopped = StoppedRun(run_id=run_id, product=product, archive=root, started=started,
                         problems=groups.problems, report_at=report_path(out),
                         storage_options=out_storage_options)
    targets = [size_store(out, size, main=is_main(size, shape)) for size in sizes]
    for target, size in zip(targets, sizes, strict=True):
        stopped.plan(target, groups[size]["path"].values)
        check_output(target, resume=resume, overwrite=overwrite,  # all before the first
                     storage_options=out_storage_options, template=level05_template(
                         groups[size]), definition=definition, region_frames=region_frames)
    written = []
    with stopped:  # a run stopped by an exception still writes its report
        for target, size in zip(targets, sizes, strict=True):
            frames = groups[size]

            def open_range(rng: slice, frames=frames) -> xr.Dataset:
                return lasco_cube_from_frames(frames.isel(time=rng),
                                              storage_options=storage_options, policy=policy,
                                              archive=root, frames_per_chunk=region_frames)

            report = write_cube(target, level05_template(frames), open_range,
                                definition=definition, region_frames=region_frames,
                                range_frames=range_frames, resume=resume, overwrite=overwrite,
                                storage_options=out_storage_options, progress=progress,
                                client=client, run_id=run_id,
                                on_start=partial(stopped.begin, target),
                                on_failure=partial(stopped.region_failed, target))
            stopped.finish(target, report)
            written.append((target, report, open_store(target, out_storage_options)))
    run_report = build_report(run_id=run_id, product=product, archive=root, started=started,
                              problems=groups.problems, written=written)
    write_report(run_report, report_path(out), out_storage_options)
    others = {"x".join(map(str, size)): (target, report)
              for size, (target, report, _) in list(zip(sizes, written, strict=True))[1:]}
    return IngestResult(written[0][2], written[0][1], others=others, run_report=run_report)


def select_sizes(groups, shape, detector: str, root: str) -> list[tuple[int, int]]:
    """The frame sizes a run writes: all of ``groups`` (the main size first), or ``shape``,
    which must be among them (else a ``ValueError`` naming the sizes there are)."""
    if shape is None:
        return list(groups)
    shape = (int(shape[0]), int(shape[1]))
    if shape not in groups:
        sizes = ", ".join(f"{ny}x{nx} ({f.sizes['time']})" for (ny, nx), f in groups.items())
        raise ValueError(f"no usable {detector.upper()} frame of {shape[0]}x{shape[1]} pixels "
                         f"in {redact_url(root)} for this time range (frame sizes there: "
                         f"{sizes})")
    return [shape]
