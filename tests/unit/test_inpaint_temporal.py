"""Temporal fill: the kernel on hand cases, the frame selection, and the lazy cube wrapper."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from lascoproc.inpaint import inpaint_cube
from lascoproc.inpaint.temporal import minutes, temporal_frames
from lascoproc.kernels.quality import FILLED, FILLED_TEMPORAL, MISSING, OUTSIDE
from lascoproc.kernels.temporal_fill import hole_windows, ring_offset, temporal_fill


def _scene(shape=(40, 40)):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    return 1.0 + 0.02 * xx + np.sin(yy / 3.0) * 0.3  # structure no spatial fill predicts


def _hole(shape=(40, 40)):
    h = np.zeros(shape, bool)
    h[12:24, 14:26] = True
    return h


def test_a_static_neighbour_with_an_offset_fills_exactly():
    """y_s = y_t - 0.1 everywhere: offset = median(y_t - y_s) = 0.1 over the ring, ring error
    0 < the spatial ring error, so the hole gets y_s + 0.1 = the target exactly."""
    truth = _scene()
    holes = _hole()
    target = np.where(holes, np.nan, truth)
    spatial = np.full(truth.shape, 7.0)  # a (bad) spatial fill
    out, used = temporal_fill(target, holes, [truth - 0.1], spatial=spatial,
                              ring_spatial=spatial)
    np.testing.assert_allclose(out[holes], truth[holes], rtol=0, atol=1e-12)
    assert used[holes].all() and not used[~holes].any()
    np.testing.assert_array_equal(out[~holes], target[~holes])


def test_a_neighbour_off_by_a_plane_fills_exactly():
    """The neighbour is the target minus a plane (a brightness ratio changing across the hole):
    the plane offset fitted on the ring is that plane, so the hole gets the target exactly;
    at (15, 20): 1 + 0.02 * 20 + 0.3 sin(5) = 1.1123227. A constant offset cannot do that."""
    truth = _scene()
    holes = _hole()
    yy, xx = np.mgrid[0:40, 0:40].astype(float)
    neighbour = truth - (0.1 + 0.004 * yy - 0.003 * xx)
    target = np.where(holes, np.nan, truth)
    spatial = np.full(truth.shape, 7.0)
    out, used = temporal_fill(target, holes, [neighbour], spatial=spatial, ring_spatial=spatial)
    assert out[15, 20] == pytest.approx(1.1123227, abs=1e-7)
    np.testing.assert_allclose(out[holes], truth[holes], rtol=0, atol=1e-12)
    assert used[holes].all()
    const, _ = temporal_fill(target, holes, [neighbour], spatial=spatial, ring_spatial=spatial,
                             offset="constant")
    assert np.abs(const[holes] - truth[holes]).max() > 0.02


def test_ring_offset_by_hand():
    """Four ring points, diff = 2 + 0.5 dy - 0.25 dx: the plane is recovered; a ring with no
    extent in x (condition number infinite) and the constant model give the median 3.5 of
    [1, 5, 2, 9]."""
    dy = np.array([-1.0, -1.0, 1.0, 1.0])
    dx = np.array([-1.0, 1.0, -1.0, 1.0])
    diff = 2.0 + 0.5 * dy - 0.25 * dx
    assert ring_offset(diff, dy, dx, "plane", 1) == pytest.approx((2.0, 0.5, -0.25), abs=1e-12)
    line = np.array([-1.0, 0.0, 1.0, 2.0])
    values = np.array([1.0, 5.0, 2.0, 9.0])
    assert ring_offset(values, line, np.zeros(4), "plane", 1) == (3.5, 0.0, 0.0)
    assert ring_offset(values, line, line[::-1].copy(), "constant", 1) == (3.5, 0.0, 0.0)
    assert ring_offset(diff, dy, dx, "plane", 2)[1:] == (0.0, 0.0)  # 4 < 3 * 2 ring pixels
    with pytest.raises(ValueError, match="offset must be one of"):
        temporal_fill(np.zeros((8, 8)), np.zeros((8, 8), bool), [], spatial=np.zeros((8, 8)),
                      ring_spatial=np.zeros((8, 8)), offset="quadratic")


def test_hole_windows_by_hand():
    """Region 1 rows 12-23, cols 14-25 widened by ring 4 + 1 = 5: rows 7-28, cols 9-30; region 2
    at the corner is clipped to the frame. Given to the kernel, they give what it finds."""
    holes = _hole()
    holes[0:2, 38:40] = True
    labels, windows = hole_windows(holes, 4)
    assert windows == [np.s_[0:7, 33:40], np.s_[7:29, 9:31]]
    assert labels[0, 39] == 1 and labels[12, 14] == 2
    truth = _scene()
    yy = np.mgrid[0:40, 0:40][0].astype(float)
    target = np.where(holes, np.nan, truth)
    args = dict(spatial=np.zeros_like(truth), ring_spatial=np.zeros_like(truth))
    given = temporal_fill(target, holes, [truth - 0.01 * yy], regions=(labels, windows), **args)
    found = temporal_fill(target, holes, [truth - 0.01 * yy], **args)
    np.testing.assert_array_equal(given[0], found[0])
    np.testing.assert_array_equal(given[1], found[1])


def test_two_neighbours_are_averaged():
    truth = _scene()
    holes = _hole()
    a = truth.copy()
    b = truth.copy()
    a[holes] += 0.2  # the same ring, opposite errors in the hole: their mean is the truth
    b[holes] -= 0.2
    out, _ = temporal_fill(np.where(holes, np.nan, truth), holes, [a, b],
                           spatial=np.zeros_like(truth), ring_spatial=np.zeros_like(truth))
    np.testing.assert_allclose(out[holes], truth[holes], atol=1e-12)


def test_a_changed_corona_keeps_the_spatial_fill():
    """The neighbour differs on the ring by more than the spatial fill of the ring does (a CME
    front): it is refused."""
    truth = _scene()
    holes = _hole()
    changed = truth + 3.0 * np.sin(np.arange(40) / 2.0)[None, :]
    spatial = truth + 0.01
    out, used = temporal_fill(np.where(holes, np.nan, truth), holes, [changed],
                              spatial=spatial, ring_spatial=spatial)
    np.testing.assert_array_equal(out[holes], spatial[holes])
    assert not used.any()


def test_pixels_lost_in_the_neighbour_too_keep_the_spatial_fill():
    truth = _scene()
    holes = _hole()
    neighbour = truth.copy()
    neighbour[12:18, 14:26] = np.nan  # half of the hole lost there as well
    spatial = np.full(truth.shape, -1.0)
    out, used = temporal_fill(np.where(holes, np.nan, truth), holes, [neighbour],
                              spatial=spatial, ring_spatial=spatial)
    np.testing.assert_allclose(out[18:24, 14:26], truth[18:24, 14:26], atol=1e-12)
    np.testing.assert_array_equal(out[12:18, 14:26], -1.0)
    assert used[18:24, 14:26].all() and not used[12:18].any()


def test_minutes():
    t = np.array(["2020-01-01T00:00", "2020-01-01T00:12", "2020-01-01T01:00"],
                 dtype="datetime64[ns]")
    np.testing.assert_array_equal(minutes(t), [0.0, 12.0, 60.0])
    np.testing.assert_array_equal(minutes([1, 2]), [1.0, 2.0])


def _frames(n=5, shape=(48, 48)):
    rng = np.random.default_rng(0)
    base = _scene(shape) * 1e-10
    frames = np.stack([base * (1 + 0.002 * rng.standard_normal(shape)) for _ in range(n)])
    holes = np.zeros(frames.shape, bool)
    for i in range(n):
        holes[i, 8 + 6 * i:20 + 6 * i, 16:28] = True
    return frames.astype(np.float32), holes


def test_neighbours_only_from_the_same_group_and_window():
    frames, holes = _frames()
    centers = np.tile([[24.0, -40.0]], (5, 1))
    times = np.datetime64("2020-01-01") + np.arange(5) * np.timedelta64(12, "m")
    masked = np.where(holes, np.nan, frames)
    _, used = temporal_frames(masked, holes, centers=centers, times=times, with_mask=True)
    assert used[2][holes[2]].all()
    # every neighbour in another group: nothing from neighbours
    _, used = temporal_frames(masked, holes, centers=centers, times=times,
                              groups=["a", "b", "c", "d", "e"], with_mask=True)
    assert not used.any()
    # neighbours more than 10 minutes away are not used
    _, used = temporal_frames(masked, holes, centers=centers, times=times, max_minutes=10.0,
                              with_mask=True)
    assert not used.any()
    with pytest.raises(ValueError, match="max_minutes"):
        temporal_frames(masked, holes, centers=centers, max_minutes=10.0)


def _cube(n=7, size=64):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(xx - size / 2, yy - size / 2) + 4.0
    b = np.stack([1e-9 * r ** -2 * (1 + 0.01 * rng.standard_normal((size, size)))
                  for _ in range(n)]).astype(np.float32)
    q = np.zeros(b.shape, np.uint8)
    q[:, r < 10] = OUTSIDE
    for t in range(n):
        y0 = 8 * (t % 4)
        q[t, y0:y0 + 8, 40:48] |= MISSING
    q[0, 28:36, 28:36] |= MISSING  # lost inside the occulter: not filled
    b[q != 0] = np.nan
    time = np.datetime64("2020-01-01") + np.arange(n) * np.timedelta64(12, "m")
    return xr.Dataset(
        {"brightness": (("time", "y", "x"), b, {"units": "MSB"}),
         "quality": (("time", "y", "x"), q)},
        coords={"time": time, "crpix1": ("time", np.full(n, size / 2 + 1.0)),
                "crpix2": ("time", np.full(n, size / 2 + 1.0)),
                "filter": ("time", ["Clear"] * n), "polarizer": ("time", ["Clear"] * n)},
        attrs={"detector": "C3"})


@pytest.mark.parametrize("n, chunks", [(7, (1,) * 7), (7, (2, 2, 3)), (7, (3, 4)), (1, (1,)),
                                       (2, (1, 1))])
def test_lazy_temporal_equals_numpy_on_uneven_chunks(n, chunks, no_compute):
    """Also cubes shorter than the halo (a time range of one frame): one block, no overlap."""
    ds = _cube(n)
    expected = inpaint_cube(ds, method="temporal", max_frames=2)
    lazy = ds.chunk({"time": chunks})
    with no_compute():
        out = inpaint_cube(lazy, method="temporal", max_frames=2)
    assert out.brightness.chunks == lazy.brightness.chunks
    assert out.quality.chunks == lazy.quality.chunks
    got = out.compute()
    np.testing.assert_array_equal(got.brightness.values.view(np.uint32),
                                  expected.brightness.values.view(np.uint32))
    np.testing.assert_array_equal(got.quality.values, expected.quality.values)


def test_temporal_flags_and_leaves_everything_else():
    ds = _cube()
    out = inpaint_cube(ds, method="temporal")
    q_in, q_out = ds.quality.values, out.quality.values
    holes = ((q_in & MISSING) != 0) & ((q_in & OUTSIDE) == 0)
    np.testing.assert_array_equal(out.brightness.values.view(np.uint32)[~holes],
                                  ds.brightness.values.view(np.uint32)[~holes])
    assert np.isfinite(out.brightness.values[holes]).all()
    assert ((q_out[holes] & FILLED) != 0).all()
    assert ((q_out[holes] & FILLED_TEMPORAL) != 0).mean() > 0.9  # static corona
    np.testing.assert_array_equal(q_out[~holes], q_in[~holes])
    assert np.isnan(out.brightness.values[0, 28:36, 28:36]).all()
    assert out.attrs["inpaint_method"] == "temporal"
    assert out.attrs["inpaint_max_frames"] == "2"


@pytest.mark.parametrize("kwargs, message", [
    ({"spatial": "temporal"}, r"spatial must be one of .*not 'temporal'"),
    ({"spatial": "bogus"}, r"spatial must be one of .*not 'bogus'"),
    ({"max_frames": -1}, r"max_frames must be >= 0, not -1"),
    ({"max_frames": 2.7}, r"max_frames must be a whole number >= 0, not 2.7"),
    ({"max_minutes": -1.0}, r"max_minutes must be a number >= 0 \(minutes\), not -1.0"),
    ({"max_minutes": float("nan")}, r"max_minutes must be a number >= 0 \(minutes\), not nan"),
])
@pytest.mark.parametrize("chunks", [None, 1])
def test_bad_temporal_arguments_are_refused_when_the_graph_is_built(kwargs, message, chunks,
                                                                     no_compute):
    """The lazy path refuses them as the numpy path does, with the same message, before any
    task runs (they used to fail only at compute time, inside the tasks, or for a negative or
    NaN max_minutes not at all: silently no neighbour)."""
    ds = _cube(5, 32)
    cube = ds if chunks is None else ds.chunk({"time": chunks})
    with no_compute(), pytest.raises(ValueError, match=message):
        inpaint_cube(cube, method="temporal", **kwargs)


def test_limits_that_are_allowed():
    """0 frames or minutes (no neighbour), a whole float, inf minutes (no limit), an alias."""
    frames, holes = _frames()
    masked = np.where(holes, np.nan, frames)
    centers = np.tile([[24.0, -40.0]], (5, 1))
    times = np.datetime64("2020-01-01") + np.arange(5) * np.timedelta64(12, "m")
    for kwargs, any_used in [({"max_frames": 0}, False), ({"max_minutes": 0.0}, False),
                             ({"max_frames": 2.0}, True), ({"max_minutes": np.inf}, True),
                             ({"spatial": "fallback"}, True)]:
        _, used = temporal_frames(masked, holes, centers=centers, times=times, with_mask=True,
                                  **kwargs)
        assert used.any() == any_used, kwargs


def test_fill_frames_temporal_refuses_bad_targets_and_max_frames():
    """targets=[-3] used to wrap around to frame 2, targets=[7] of 5 frames was a bare
    IndexError, and max_frames=2.7 became 2 without a word."""
    from lascoproc.inpaint import fill_frames

    frames, holes = _frames()
    masked = np.where(holes, np.nan, frames)
    kwargs = dict(method="temporal", centers=(24.0, -40.0))
    for targets in ([-3], [5], [7], [1.5], ["1"]):
        with pytest.raises(ValueError, match=r"targets must be frame indices 0 \.\. 4 of the 5 "
                           rf"frames, not {targets[0]!r}"):
            fill_frames(masked, holes, targets=targets, **kwargs)
    with pytest.raises(ValueError, match="max_frames must be a whole number >= 0, not 2.7"):
        fill_frames(masked, holes, max_frames=2.7, **kwargs)
    # valid targets: only those frames change (numpy integers are indices too)
    out = fill_frames(masked, holes, targets=[np.int64(0), 4], **kwargs)
    for i in range(5):
        assert np.isfinite(out[i][holes[i]]).all() == (i in (0, 4))


def test_minutes_with_an_unknown_time():
    t = np.array(["NaT", "2020-01-01T00:12", "2020-01-01T00:00"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(minutes(t), [np.nan, 12.0, 0.0])
    np.testing.assert_array_equal(minutes(np.array(["NaT"], "datetime64[s]")), [np.nan])
    assert minutes(np.array([], "datetime64[s]")).shape == (0,)


def _nat_frames():
    """5 frames of one static scene, 12 min apart, max_frames=1. Region A (12 x 12 = 144 px) is
    lost in frames 0-3 and observed in 4, so only frame 3 can take it from a neighbour (4);
    B (8 x 10 = 80 px) is lost in frame 4 only (from 3); C (80 px) in frame 0 only (from 1)."""
    frames, _ = _frames()
    holes = np.zeros(frames.shape, bool)
    holes[0:4, 8:20, 16:28] = True  # A
    holes[4, 30:38, 30:40] = True  # B
    holes[0, 30:38, 4:14] = True  # C
    times = np.datetime64("2020-01-01") + np.arange(5) * np.timedelta64(12, "m")
    return np.where(holes, np.nan, frames).astype(np.float32), holes, times


@pytest.mark.parametrize("unknown, expected", [(None, [80, 0, 0, 144, 80]),
                                               (4, [80, 0, 0, 0, 0]),
                                               (0, [0, 0, 0, 144, 80])])
def test_an_unknown_time_takes_only_that_frame_out(unknown, expected, no_compute):
    """A NaT frame gets no neighbour by time and is nobody's neighbour; the other frames keep
    theirs (one NaT used to make every frame's time NaN: no neighbour anywhere). Pixels from
    neighbours per frame, numpy and dask (the same)."""
    masked, holes, times = _nat_frames()
    if unknown is not None:
        times[unknown] = np.datetime64("NaT")
    centers = np.tile([[24.0, -40.0]], (5, 1))
    _, used = temporal_frames(masked, holes, centers=centers, times=times, max_frames=1,
                              with_mask=True)
    assert used.sum(axis=(1, 2)).tolist() == expected
    q = np.where(holes, MISSING, 0).astype(np.uint8)
    ds = xr.Dataset({"brightness": (("time", "y", "x"), masked),
                     "quality": (("time", "y", "x"), q)},
                    coords={"time": times, "crpix1": ("time", np.full(5, 25.0)),
                            "crpix2": ("time", np.full(5, -39.0))}, attrs={"detector": "C2"})
    numpy_out = inpaint_cube(ds, method="temporal", max_frames=1)
    with no_compute():
        lazy = inpaint_cube(ds.chunk({"time": 1}), method="temporal", max_frames=1)
    lazy = lazy.compute()
    for out in (numpy_out, lazy):
        flags = (out.quality.values & FILLED_TEMPORAL) != 0
        assert flags.sum(axis=(1, 2)).tolist() == expected
        assert np.isfinite(out.brightness.values[holes]).all()
    np.testing.assert_array_equal(lazy.brightness.values.view(np.uint32),
                                  numpy_out.brightness.values.view(np.uint32))


def test_a_cube_without_frames(no_compute):
    """A time range with no frame: dask gives an empty cube as numpy does (the lazy temporal
    path used to raise 'Empty tuples are not allowed in chunks')."""
    empty = _cube(3, 32).isel(time=slice(0, 0))
    expected = inpaint_cube(empty, method="temporal")
    with no_compute():
        out = inpaint_cube(empty.chunk(), method="temporal")
    assert out.brightness.shape == out.quality.shape == (0, 32, 32)
    assert out.brightness.chunks == empty.chunk().brightness.chunks
    got = out.compute()
    assert got.brightness.dtype == np.float32 and got.quality.dtype == np.uint8
    xr.testing.assert_identical(got, expected)
    assert got.attrs["inpaint_method"] == "temporal"


def test_frames_of_one_size_but_another_grid_do_not_fill_each_other():
    """A 512 x 512 subfield and a 2 x 2-binned full frame have one size, not one grid: frames
    whose summing or read-out window differ are not neighbours (written out: frame 2 has
    another window, so it takes nothing from frames 1 and 3 and gives them nothing)."""
    ds = _cube(5, 64)
    same = inpaint_cube(ds, method="temporal", max_frames=2)
    r1col = np.full(5, 20, np.int16)
    r1col[2] = 276
    moved = inpaint_cube(ds.assign_coords(r1col=("time", r1col)), method="temporal",
                         max_frames=2)
    used = [int(((q & FILLED_TEMPORAL) != 0).sum()) for q in moved.quality.values]
    assert used[2] == 0 and int(((same.quality.values[2] & FILLED_TEMPORAL) != 0).sum()) > 0
    xsum = np.ones(5, np.int16)
    xsum[[0, 1]] = 2
    summed = inpaint_cube(ds.assign_coords(xsum=("time", xsum)), method="temporal",
                          max_frames=2)
    q = summed.quality.values
    # frames 0 and 1 have only each other; 2, 3 and 4 only each other
    base = inpaint_cube(ds.isel(time=[0, 1]), method="temporal", max_frames=2).quality.values
    np.testing.assert_array_equal(q[:2], base)
    rest = inpaint_cube(ds.isel(time=[2, 3, 4]), method="temporal", max_frames=2).quality.values
    np.testing.assert_array_equal(q[2:], rest)
