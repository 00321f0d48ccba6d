"""Level-1 FITS output: compute a lazy level-1 cube frame batch by frame batch and write one
level-1 FITS file per frame (wiring only: the cards and files are
:mod:`lascoproc.io.level1_fits`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask
import xarray as xr

from lascoproc.io.level1_fits import write_level1_frame
from lascoproc.kernels.missing_blocks import missing_block_numbers as missing_blocks

__all__ = ["write_level1_fits"]


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
