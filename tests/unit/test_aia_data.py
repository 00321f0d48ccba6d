"""Lazy preprocessing of SDOML cubes and the (dimmed frame, alpha) pairs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lascoproc.degradation.config import Augmentation, Preprocessing
from lascoproc.degradation.data import DimmedPairs, preprocess, select_frames, thin_times
from lascoproc.io.sdoml import open_sdoml
from lascoproc.testing.sdoml import write_sdoml_store
from tests.conftest import raise_if_dask_computes

CHANNELS = (94, 171, 304)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """20 slots (2010-05 .. 2011-12), 3 channels, 64 pixels, 3 frames per chunk (uneven)."""
    root = tmp_path_factory.mktemp("aia_data") / "sdomlv2.zarr"
    synth = write_sdoml_store(root, end="2011-12-31", size=64, chunks=3, seed=11,
                              channels=CHANNELS)
    return str(root), synth


def _numpy_path(ds, factor, undo):
    values = ds["intensity"].values.astype(np.float64)
    n, c, ny, nx = values.shape
    binned = values.reshape(n, c, ny // factor, factor, nx // factor, factor).mean(axis=(3, 5))
    if undo:
        binned = binned * ds["deg_cor"].values[:, :, None, None]
    return binned


@pytest.mark.parametrize("undo", [False, True])
def test_preprocess_is_lazy_and_equals_the_numpy_path(store, undo):
    url, _ = store
    ds = open_sdoml(url, channels=list(CHANNELS))
    prep = Preprocessing(channels=CHANNELS, size=16)
    with raise_if_dask_computes():
        frames = preprocess(ds, prep, undo_deg_cor=undo)
    assert frames.dims == ("time", "channel", "y", "x")
    assert frames.dtype == np.float32 and frames.shape[1:] == (3, 16, 16)
    assert frames.chunks[1] == (3,)  # all channels in one chunk
    assert len(set(frames.chunks[0])) > 1 or len(frames.chunks[0]) == 1
    np.testing.assert_allclose(frames.values, _numpy_path(ds, 4, undo), rtol=2e-6)
    assert frames.attrs["units"] == "DN/s"


def test_undoing_deg_cor_gives_the_injected_dimming(store):
    """data * DEG_COR = true * d(t): late frames over early ones follow the injected curve."""
    url, synth = store
    ds = open_sdoml(url, channels=[171])
    raw = preprocess(ds, Preprocessing(channels=(171,), size=8), undo_deg_cor=True)
    t = ds["time"].values
    level = raw.isel(channel=0).mean(("y", "x")).values
    truth = np.array([synth.true_frame(171, ti).mean() for ti in t]) * synth.degradation(171, t)
    np.testing.assert_allclose(level, truth, rtol=0.02)


def test_apodise_zeroes_the_corona(store):
    url, _ = store
    ds = open_sdoml(url, channels=list(CHANNELS), end="2010-08-01")
    prep = Preprocessing(channels=CHANNELS, size=16, apodise=1.0)
    frames = preprocess(ds, prep, undo_deg_cor=False).values
    corner = frames[..., 0, 0]
    centre = frames[..., 8, 8]
    assert np.all(corner == 0) and np.all(centre > 0)


def test_thin_times_and_select_frames(store):
    times = np.array(["2010-01-01T00:00", "2010-01-01T03:00", "2010-01-01T06:10",
                      "2010-01-01T11:59", "2010-01-01T12:00"], dtype="datetime64[ns]")
    assert thin_times(times, "6h").tolist() == [0, 2, 4]
    assert thin_times(times, None).tolist() == [0, 1, 2, 3, 4]
    url, _ = store
    ds = open_sdoml(url, channels=list(CHANNELS))
    flagged = (ds["quality"].values != 0).any(axis=1)
    assert flagged.any()  # the synthetic store flags 2 % of the frames per channel
    exptime = ds["exptime"].values
    short = (exptime < 0.5 * np.median(exptime, axis=0)).any(axis=1)
    assert short.any() and not (short & flagged).any()  # an AEC frame in this store
    with raise_if_dask_computes():
        kept = select_frames(ds)
    assert kept.sizes["time"] == (~flagged & ~short).sum()
    assert (kept["quality"].values == 0).all()
    assert kept.sizes["time"] == ds.sizes["time"] - 2  # one flagged, one short exposure
    assert (select_frames(ds, drop_short_exposures=False).sizes["time"]
            == ds.sizes["time"] - 1)
    assert select_frames(ds, drop_flagged=False, drop_short_exposures=False).sizes["time"] \
        == ds.sizes["time"]


def _pairs(store, **kw):
    url, _ = store
    ds = open_sdoml(url, channels=list(CHANNELS))
    frames = preprocess(ds, Preprocessing(channels=CHANNELS, size=16), undo_deg_cor=False)
    return frames, DimmedPairs(frames, Augmentation(**kw), batch_size=4, seed=3)


def test_pairs_are_frames_times_alpha_and_repeatable(store):
    frames, pairs = _pairs(store)
    undimmed = frames.values
    batches = list(pairs.batches(epoch=5))
    assert sum(b[0].shape[0] for b in batches) == len(pairs) == undimmed.shape[0]
    for x, alpha in batches:
        assert x.shape[1:] == (3, 16, 16) and alpha.shape == (x.shape[0], 3)
        a = alpha.numpy()
        assert np.all((a >= 0.01) & (a < 1.0))
        # each sample is one undimmed frame times its alphas
        ratio = x.numpy()[:, :, 8, 8] / a
        match = [np.flatnonzero(np.all(np.isclose(undimmed[:, :, 8, 8], r, rtol=1e-5), axis=1))
                 for r in ratio]
        assert all(m.size == 1 for m in match)
    again = list(pairs.batches(epoch=5))
    for (x1, a1), (x2, a2) in zip(batches, again, strict=True):
        assert np.array_equal(x1.numpy(), x2.numpy()) and np.array_equal(a1.numpy(), a2.numpy())
    other = next(iter(pairs.batches(epoch=6)))[1].numpy()
    assert not np.array_equal(other, batches[0][1].numpy())


def test_flips_and_fixed_draws(store):
    _, pairs = _pairs(store, flips=True, alpha_max=1.2)
    x, alpha = next(iter(pairs.batches(0)))
    assert alpha.numpy().max() <= 1.2
    draws = list(pairs.fixed_draws(3, seed=9))
    frames = np.concatenate([d[0] for d in draws])
    alphas = np.concatenate([d[1] for d in draws])
    assert frames.shape[0] == alphas.shape[0] == 3 * len(pairs)
    pairs.batch_size = 7  # the draws do not depend on the batch size
    alphas7 = np.concatenate([d[1] for d in pairs.fixed_draws(3, seed=9)])
    np.testing.assert_array_equal(alphas, alphas7)


def test_pairs_compute_chunk_by_chunk_and_cache(store):
    frames, pairs = _pairs(store)
    assert len(pairs._blocks) == len(frames.chunks[0]) > 1
    with raise_if_dask_computes(max_computes=len(pairs._blocks)):
        pairs.load()
        pairs.load()  # cached: no further compute
    in_memory = DimmedPairs(frames.compute(), Augmentation())
    assert len(in_memory._blocks) == 1
    with pytest.raises(ValueError, match="no frames"):
        DimmedPairs(frames.isel(time=slice(0, 0)), Augmentation())
    assert isinstance(frames, xr.DataArray)


def test_non_finite_exptime_and_deg_cor_are_left_out_and_counted(store):
    from lascoproc.degradation.data import usable_frames

    url, _ = store
    ds = open_sdoml(url, channels=list(CHANNELS), index=False)
    good = np.flatnonzero((ds["quality"].values == 0).all(axis=1))
    exptime = ds["exptime"].values.copy()
    deg_cor = ds["deg_cor"].values.copy()
    exptime[good[0], 1] = np.nan
    deg_cor[good[1], 2] = np.inf
    deg_cor[good[2], 0] = 0.0
    bad = ds.assign_coords(exptime=(("time", "channel"), exptime),
                           deg_cor=(("time", "channel"), deg_cor))
    with raise_if_dask_computes():
        kept, left = usable_frames(bad)
    assert left == {"quality": 1, "short_exposure": 1, "non_finite_exptime": 1,
                    "non_finite_deg_cor": 2}
    assert kept.attrs["frames_left_out"] == left
    assert kept.sizes["time"] == ds.sizes["time"] - 5
    assert np.isfinite(kept["exptime"].values).all() and (kept["deg_cor"].values > 0).all()


def test_sampling_uses_whole_chunks():
    from lascoproc.degradation.data import thin_by_chunks

    # 12 frames 30 minutes apart, stored 4 per chunk: one frame per 6 hours is frame 0, and
    # its chunk holds frames 0-3; then frame 12... (beyond): so frames 0-3 are used
    times = np.datetime64("2011-01-01", "ns") + np.arange(12) * np.timedelta64(30, "m")
    chunks = np.arange(12) // 4
    assert thin_by_chunks(times, chunks, "6h").tolist() == [0, 1, 2, 3]
    # one per 2 hours: frames 0, 4, 8 start their intervals: every chunk is used whole
    assert thin_by_chunks(times, chunks, "2h").tolist() == list(range(12))
    assert thin_by_chunks(times, None, "2h").tolist() == [0, 4, 8]
    assert thin_by_chunks(times, chunks, None).tolist() == list(range(12))
