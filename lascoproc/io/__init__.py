"""I/O: the only code that touches fsspec, astropy.io.fits and zarr."""
