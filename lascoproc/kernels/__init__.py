"""Pure numpy kernels on plain arrays: no xarray, dask, fsspec or configuration here."""
