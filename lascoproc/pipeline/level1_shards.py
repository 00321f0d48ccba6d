"""A level-1 region read, calibrated and written as one task, frame by frame (wiring only).

The region writer's default path computes a range's lazy cube (:class:`~lascoproc.pipeline.
level1.Level1Ranges.open_range`) and hands each region's blocks to zarr-python. For a plain
level-1 run (no inpainting) into a sharded Zarr v3 store, :func:`region_writer` gives the
region scheduler a shorter path with the same result: one task per region that, for each of
its frames in turn, reads the counts (:func:`lascoproc.io.lasco_cube.read_frames`), calibrates
them into two frame-sized buffers reused for every frame
(:func:`lascoproc.calibrate.level1.level1_frame`, the kernel the cube maps) and appends the
frame to the region's shards (:class:`lascoproc.io.zarr_direct.ShardWriter`, the bytes
zarr-python writes; on a local disk each encoded frame goes straight to the shard's temporary
file); the shards, then the per-frame variables, are stored at the end. No region-sized array
is allocated, no graph is built per frame, and a read that fails raises before anything of the
region is stored (its temporary files are removed; the region is left unmarked, for
``resume``, as on the default path).

Measured against the default path in ``bench/bench_level1.py`` (docs/benchmarks.md). The
stores are the same bit for bit (``tests/integration/test_level1_shards.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import dask
import numpy as np
import xarray as xr

from lascoproc.calibrate.level1 import frame_inputs, level1_frame
from lascoproc.io.fs import get_fs
from lascoproc.io.lasco_cube import frame_reads, read_frames
from lascoproc.io.retry import ReadPolicy
from lascoproc.io.zarr_direct import ShardWriter, array_layouts, write_chunk

__all__ = ["region_writer", "RegionWriter", "write_level1_region", "LEVEL1_VARIABLES"]

#: The data variables of a level-1 store that the region task writes (all of them, without
#: inpainting).
LEVEL1_VARIABLES = ("brightness", "quality", "nmissing", "frame_status")


def write_level1_region(specs: np.ndarray, rows: np.ndarray, *, images, cells, detector: str,
                        distortion: bool, archive_fs, shape: tuple[int, int],
                        policy: ReadPolicy, store_fs_root, layouts: Mapping[str, Any],
                        shard: int) -> int:
    """Read, calibrate and store the frames of one region (module docstring): ``specs`` and
    ``rows`` its frames' reads (:func:`~lascoproc.io.lasco_cube.frame_reads`) and plan rows
    (:func:`~lascoproc.calibrate.level1.frame_inputs`), ``shard`` its shard (= chunk of the
    per-frame variables) number. Returns the frames written."""
    fs, root = store_fs_root
    n = len(specs)
    ny, nx = shape
    brightness = np.empty((1, ny, nx), np.float32)
    quality = np.empty((1, ny, nx), np.uint8)
    nmissing = np.zeros(n, np.int16)
    status = np.zeros(n, np.uint8)
    shards = {name: ShardWriter(fs, root, layouts[name], shard)
              for name in ("brightness", "quality")}
    try:
        for k in range(n):
            counts = read_frames(specs[k:k + 1], fs=archive_fs, shape=shape, policy=policy)
            nmissing[k], status[k] = level1_frame(
                counts[0], rows[k], images=images, cells=cells, detector=detector,
                distortion=distortion, out=(brightness[0], quality[0]))
            shards["brightness"].append(brightness)
            shards["quality"].append(quality)
    except BaseException:
        for writer in shards.values():
            writer.abort()
        raise
    for writer in shards.values():
        writer.close()
    write_chunk(fs, root, layouts["nmissing"], shard, nmissing)
    write_chunk(fs, root, layouts["frame_status"], shard, status)
    return n


def _aligned(layouts: Mapping[str, Any], region_frames: int) -> bool:
    """Whether every region is exactly one shard (images) and one chunk (per-frame
    variables) of these arrays."""
    for name, layout in layouts.items():
        size = layout.object_shape[0]
        if size != region_frames or (layout.inner_shape is None) != (name in (
                "nmissing", "frame_status")):
            return False
    return True


class RegionWriter:
    """The direct path of one run into one store (:func:`region_writer` makes it): called with
    a time range, it returns ``write(region)``, the lazy write of one of the range's regions;
    :meth:`range_inputs` has what the range's region tasks share."""

    def __init__(self, frames, plan, calib, *, detector, distortion, archive, storage_options,
                 policy, target, layouts, region_frames, client=None):
        self.client = client  # the distributed.Client the regions are computed on, or None
        self.frames, self.plan, self.calib = frames, plan, calib
        self.detector, self.distortion = detector, distortion
        self.archive, self.storage_options, self.policy = archive, storage_options, policy
        self.target, self.layouts, self.region_frames = target, layouts, region_frames

    def range_inputs(self, rng: slice) -> dict[str, Any]:
        """What the region tasks of the frames ``rng`` share (calibration images, plan rows,
        reads): keyword arguments of :func:`write_level1_region` but for ``specs``, ``rows``
        and ``shard``, with ``specs`` and ``rows`` of the whole range."""
        part = self.frames.isel(time=rng)
        images, cells, rows = frame_inputs(part, self.plan.isel(time=rng), self.calib,
                                           self.distortion)
        archive_fs, specs, shape = frame_reads(part, archive=self.archive,
                                               storage_options=self.storage_options)
        return {"specs": specs, "rows": rows, "images": images, "cells": cells,
                "detector": self.detector, "distortion": self.distortion,
                "archive_fs": archive_fs, "shape": shape, "policy": self.policy,
                "store_fs_root": self.target, "layouts": self.layouts}

    def __call__(self, rng: slice) -> Callable[[slice], Any]:
        inputs = self.range_inputs(rng)
        specs, rows = inputs.pop("specs"), inputs.pop("rows")
        client = self.client
        for name in ("images", "cells"):
            if client is not None:
                # sent to the cluster once per time range, as a future every region's task
                # names: in each region's graph they were 10-15 MiB sent again per region
                inputs[name] = client.scatter(inputs[name], hash=False)
            else:  # the images enter each region's graph once, as one key
                inputs[name] = dask.delayed(inputs[name], pure=True)
        task = dask.delayed(write_level1_region, pure=False)

        def write(region: slice):
            local = slice(region.start - rng.start, region.stop - rng.start)
            return task(specs[local], rows[local], shard=region.start // self.region_frames,
                        **inputs)

        return write


def region_writer(frames: xr.Dataset, plan: xr.Dataset, calib, *, detector: str,
                  distortion: bool, archive: str | None,
                  storage_options: Mapping[str, Any] | None, policy: ReadPolicy,
                  store: str, out_storage_options: Mapping[str, Any] | None,
                  region_frames: int, names, client: Any = None) -> RegionWriter | None:
    """The region scheduler's direct path for a run into ``store``
    (:func:`lascoproc.pipeline.regions.write_cube`'s ``direct_writer``): a
    :class:`RegionWriter`, or ``None`` when the store is not one this path writes exactly
    (other variables, Zarr format 2, other codecs, regions that are not shards): the default
    path is then used. ``client``: the ``distributed.Client`` the regions are computed on
    (the calibration images are then scattered to it once per time range)."""
    if set(names) != set(LEVEL1_VARIABLES):
        return None
    layouts = array_layouts(store, LEVEL1_VARIABLES, out_storage_options)
    if layouts is None or not _aligned(layouts, region_frames):
        return None
    return RegionWriter(frames, plan, calib, detector=detector, distortion=distortion,
                        archive=archive, storage_options=storage_options, policy=policy,
                        target=get_fs(store, out_storage_options), layouts=layouts,
                        region_frames=region_frames, client=client)
