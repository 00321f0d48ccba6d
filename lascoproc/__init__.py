"""lascoproc: archive-scale reprocessing of SOHO/LASCO and SDO/AIA data with Dask and xarray.

The data flows one way (see ``STYLE.md`` of the project):
archive -> lazy cube -> calibrated cube -> inpainted cube -> Zarr.

- :mod:`lascoproc.io`: archive indexes, lazy readers, calibration-file store, Zarr writer.
- :mod:`lascoproc.kernels`: pure numpy functions on plain arrays.
- :mod:`lascoproc.calibrate`: lazy xarray wrappers over the kernels.
- :mod:`lascoproc.testing`: synthetic archives in the real formats.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lascoproc")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
