"""Synthetic archives and calibration files in the real formats, for tests, demo and benchmarks."""
