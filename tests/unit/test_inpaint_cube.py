"""inpaint_cube: the lazy level-1 wrapper (quality flags, dask graph, annotations)."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr

from lascoproc.inpaint import fill_frames, inpaint_cube
from lascoproc.inpaint.cube import FILLED, MISSING, OUTSIDE

CROP = (slice(384, 640), slice(384, 640))  # 256 x 256 around the occulter


def level1_like(ds05: xr.Dataset) -> xr.Dataset:
    """A level-1-shaped cube from level-0.5 counts (a stand-in for the calibrated cube):
    brightness = (counts - OFFSET) / EXPTIME, NaN where missing or outside; quality bit 1 where
    the counts are 0, bit 2 inside a 40-pixel occulter disk (some missing pixels there too)."""
    counts = ds05["counts"].values[:, CROP[0], CROP[1]].astype(np.float32)
    offset = ds05["offset"].values.astype(np.float32)[:, None, None]
    exptime = ds05["exptime"].values.astype(np.float32)[:, None, None]
    brightness = (counts - offset) / exptime
    yy, xx = np.mgrid[0:256, 0:256]
    outside = np.hypot(yy - 128, xx - 128) < 40
    missing = counts == 0
    missing[0, 110:150, 110:150] = True  # missing telemetry inside the occulter: not filled
    quality = (missing * MISSING | outside * OUTSIDE).astype(np.uint8)
    brightness[(quality != 0)] = np.nan
    n = brightness.shape[0]
    return xr.Dataset(
        {"brightness": (("time", "y", "x"), brightness, {"units": "DN / s"}),
         "quality": (("time", "y", "x"), quality)},
        coords={"time": ds05["time"].values,  # the occulter's centre as the Sun centre
                "crpix1": ("time", np.full(n, 129.0)), "crpix2": ("time", np.full(n, 129.0))},
        attrs={"detector": "C3", "level": "1"})


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    from lascoproc.io.lasco_cube import open_lasco_cube
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("cube")
    write_lasco_archive(root, days=1, frames_per_day=5, detectors=("c3",), seed=5,
                        binned_per_day=0, subfields_per_day=0, missing_blocks=(40, 60),
                        cme=False)
    ds = level1_like(open_lasco_cube(str(root), detector="c3", threads=2))
    assert ds.sizes["time"] == 5
    q = ds.quality.values
    assert (((q & MISSING) != 0) & ((q & OUTSIDE) == 0)).any()  # holes to fill
    assert (((q & MISSING) != 0) & ((q & OUTSIDE) != 0)).any()  # and missing but outside
    return ds


def _expected(ds, method):
    q = ds.quality.values
    holes = ((q & MISSING) != 0) & ((q & OUTSIDE) == 0)
    filled = np.stack([fill_frames(ds.brightness.values[i:i + 1], holes[i:i + 1],
                                   method=method, centers=[(128.0, 128.0)])[0]
                       for i in range(ds.sizes["time"])])
    return filled, q | np.where(holes & np.isfinite(filled), FILLED, 0).astype(np.uint8)


@pytest.mark.parametrize("method", ["biharmonic", "radial", "fuzzy", "network", "auto"])
def test_dask_result_equals_the_numpy_loop_on_uneven_chunks(cube, method, no_compute):
    lazy = cube.chunk({"time": (2, 2, 1)})
    with no_compute():
        out = inpaint_cube(lazy, method=method, device="cpu")
    assert out.brightness.chunks == lazy.brightness.chunks
    assert out.quality.chunks == lazy.quality.chunks
    expected_b, expected_q = _expected(cube, method)
    got = out.compute()
    if method not in ("network", "auto"):
        np.testing.assert_array_equal(got.brightness.values, expected_b)
    else:  # patches of several frames in one batch differ from one frame's by rounding only
        np.testing.assert_allclose(got.brightness.values, expected_b, rtol=1e-4, atol=0)
    np.testing.assert_array_equal(got.quality.values, expected_q)


def test_only_missing_pixels_inside_the_field_change(cube):
    out = inpaint_cube(cube.chunk({"time": 1}), method="radial").compute()
    q_in, q_out = cube.quality.values, out.quality.values
    holes = ((q_in & MISSING) != 0) & ((q_in & OUTSIDE) == 0)
    b_in = cube.brightness.values.view(np.uint32)
    b_out = out.brightness.values.view(np.uint32)
    np.testing.assert_array_equal(b_out[~holes], b_in[~holes])  # bit for bit, NaNs included
    assert np.isfinite(out.brightness.values[holes]).all()
    np.testing.assert_array_equal(q_out[~holes], q_in[~holes])
    np.testing.assert_array_equal(q_out[holes], q_in[holes] | FILLED)
    assert np.isnan(out.brightness.values[0, 120:140, 120:140]).all()  # missing but outside
    assert out.attrs["inpaint_method"] == "radial"
    assert "filled" in out.brightness.attrs["comment"]
    assert out.brightness.attrs["units"] == "DN / s"


def test_batches_for_the_network_are_rechunked_and_split_back(cube, no_compute):
    lazy = cube.chunk({"time": 1})
    with no_compute():
        out = inpaint_cube(lazy, method="network", batch_size=3, device="cpu")
    assert out.brightness.chunks == lazy.brightness.chunks
    expected_b, expected_q = _expected(cube, "network")
    got = out.compute()
    np.testing.assert_allclose(got.brightness.values, expected_b, rtol=1e-4, atol=0)
    np.testing.assert_array_equal(got.quality.values, expected_q)


def test_provenance_of_the_weights_is_recorded(cube):
    from lascoproc.inpaint.model_registry import DEFAULT_WEIGHTS, REGISTRY

    out = inpaint_cube(cube.chunk({"time": 1}), method="network")
    entry = REGISTRY[DEFAULT_WEIGHTS]
    assert out.attrs["inpaint_weights"] == entry.name
    assert out.attrs["inpaint_weights_sha256"] == entry.sha256
    assert out.attrs["inpaint_weights_version"] == entry.version
    auto = inpaint_cube(cube.chunk({"time": 1}), method="auto")  # may run the network
    assert auto.attrs["inpaint_weights_sha256"] == entry.sha256
    assert auto.attrs["inpaint_method"] == "auto"


def _annotated(array: da.Array) -> list:
    graph = array.__dask_graph__()
    return [layer.annotations for layer in graph.layers.values()
            if layer.annotations and "resources" in layer.annotations]


def test_gpu_resource_annotation_is_in_the_graph(cube, no_compute):
    lazy = cube.chunk({"time": 2})
    lazy["brightness"] = lazy.brightness + 0  # an unannotated "calibration" layer below
    with no_compute():
        gpu = inpaint_cube(lazy, method="network", gpu_resource=True, batch_size=4)
        plain = inpaint_cube(lazy, method="network")
        classical = inpaint_cube(lazy, method="radial", gpu_resource=True)
    for variable in ("brightness", "quality"):
        marks = _annotated(gpu[variable].data)
        assert marks and all(m["resources"] == {"GPU": 1} for m in marks)
        assert all(m["lascoproc_step"] == "inpaint" for m in marks)
        assert not _annotated(plain[variable].data)
        assert not _annotated(classical[variable].data)
    # what the distributed scheduler receives (blockwise fusion done, low-level fusion off as
    # it must be for annotations to survive): resources on the inpainting tasks only, the
    # "calibration" tasks below stay separate and unannotated
    from dask.base import collections_to_expr

    with dask.config.set({"optimization.fuse.active": False}):
        expr = collections_to_expr([gpu.brightness.data])
        resources = expr.__dask_annotations__()["resources"]
        keys = set(expr.__dask_graph__())
    assert resources and all(value == {"GPU": 1} for value in resources.values())
    plain = {k for k in keys if k not in resources}
    assert {k[0].rsplit("-", 1)[0] for k in plain} >= {"add"}
    assert all(k[0].startswith(("fill_task", "flag_block", "rechunk")) for k in resources), \
        sorted({k[0] for k in resources})
    with dask.annotate(resources={"GPU": 1}):
        pass  # annotate must not leak out of inpaint_cube
    assert not _annotated(lazy.brightness.data)


def test_numpy_backed_cube_is_filled_at_once(cube):
    out = inpaint_cube(cube, method="fallback")  # the old name of biharmonic
    assert isinstance(out.brightness.data, np.ndarray)
    assert out.attrs["inpaint_method"] == "biharmonic"
    expected_b, expected_q = _expected(cube, "biharmonic")
    np.testing.assert_array_equal(out.brightness.values, expected_b)
    np.testing.assert_array_equal(out.quality.values, expected_q)


def test_bad_cubes_are_refused(cube):
    with pytest.raises(ValueError, match="no 'quality'"):
        inpaint_cube(cube.drop_vars("quality"), method="radial")
    with pytest.raises(TypeError, match="give method=, one of .*no default"):
        inpaint_cube(cube)  # no default method since 2026-12-02
    with pytest.raises(ValueError, match="method"):
        inpaint_cube(cube, method="magic")
    for method in ("network", "radial", "temporal", "auto"):
        with pytest.raises(ValueError, match="crpix"):
            inpaint_cube(cube.drop_vars(["crpix1", "crpix2"]), method=method)


def test_dask_coordinates_are_not_computed(cube, no_compute):
    """A cube whose coordinates are dask arrays too (xarray's chunk(), a Zarr store): the
    centres travel into the graph, nothing is computed to build it."""
    lazy = cube.chunk({"time": 2})
    assert hasattr(lazy["crpix1"].data, "dask")
    with no_compute():
        out = inpaint_cube(lazy, method="radial")
    expected_b, _ = _expected(cube, "radial")
    np.testing.assert_array_equal(out.brightness.values, expected_b)


@pytest.mark.distributed
def test_on_a_cluster_inpainting_runs_only_on_gpu_workers(cube):
    """In-process scheduler with a worker that has the GPU resource and one that has not:
    with low-level fusion off (dask drops layer annotations when it fuses), every inpainting
    task runs on the GPU worker."""
    import asyncio

    from distributed import Client, Scheduler, Worker, get_task_stream

    lazy = cube.isel(time=[0, 1, 2, 3], y=slice(64, 192), x=slice(64, 192)).chunk({"time": 1})
    lazy["brightness"] = lazy.brightness + 0  # stands for the calibration

    async def run():
        async with Scheduler(host="127.0.0.1", port=0, dashboard_address=":0") as s, \
                Worker(s.address, resources={"GPU": 1}, nthreads=1) as gpu, \
                Worker(s.address, nthreads=1) as cpu, \
                Client(s.address, asynchronous=True) as client:
            with dask.config.set({"optimization.fuse.active": False}):
                out = inpaint_cube(lazy, method="network", device="cpu", gpu_resource=True)
                async with get_task_stream(client=client) as stream:
                    await client.compute(out.brightness.data)
            places: dict[str, set] = {}
            for task in stream.data:
                key = task["key"][0] if isinstance(task["key"], tuple) else task["key"]
                where = "gpu" if task["worker"] == gpu.address else "cpu"
                places.setdefault(key.rsplit("-", 1)[0], set()).add(where)
            assert cpu.address != gpu.address
            return places

    places = asyncio.run(run())
    inpainting = {k: v for k, v in places.items() if k.startswith(("fill_task", "flag_block"))}
    assert inpainting and all(v == {"gpu"} for v in inpainting.values()), sorted(places)
    # the "calibration" is not annotated (test above): the scheduler may run it anywhere
    assert places.get("add"), places


@pytest.mark.parametrize("method", ["network", "biharmonic", "temporal"])
def test_template_attributes_are_the_filled_cube_s(cube, method, no_compute):
    """A store's template says what its regions will hold: inpaint_attributes gives the
    attributes inpaint_cube gives (method, weights' SHA-256, comment), data untouched."""
    from lascoproc.inpaint.cube import inpaint_attributes

    lazy = cube.chunk({"time": 2})
    with no_compute():
        filled = inpaint_cube(lazy, method=method)
        described = inpaint_attributes(lazy, method=method)
    assert described.attrs == filled.attrs
    assert described.brightness.attrs == filled.brightness.attrs
    assert described.brightness.data is lazy.brightness.data
    assert "filled" in described.brightness.attrs["comment"]
    assert "comment" not in cube.brightness.attrs or \
        cube.brightness.attrs["comment"] != described.brightness.attrs["comment"]
    if method == "network":
        assert len(described.attrs["inpaint_weights_sha256"]) == 64


@pytest.mark.parametrize("method", ["biharmonic", "temporal"])
@pytest.mark.parametrize("lazy_variable", ["brightness", "quality"])
def test_only_one_variable_dask_backed(cube, method, lazy_variable, no_compute):
    """Brightness chunked with quality in memory (ds.quality.load(), say), or the reverse:
    lazy out, chunked as the dask-backed one, equal to the numpy result bit for bit (it used
    to raise AttributeError: no 'rechunk' / 'chunks' on the numpy one)."""
    mixed = cube.copy()
    mixed[lazy_variable] = cube[lazy_variable].chunk({"time": (2, 3)})
    with no_compute():
        out = inpaint_cube(mixed, method=method)
    assert isinstance(out.brightness.data, da.Array) and isinstance(out.quality.data, da.Array)
    assert out.brightness.chunks == out.quality.chunks == mixed[lazy_variable].chunks
    expected = inpaint_cube(cube, method=method)
    got = out.compute()
    assert ((got.quality.values & FILLED) != 0).sum() > 1000
    np.testing.assert_array_equal(got.brightness.values.view(np.uint32),
                                  expected.brightness.values.view(np.uint32))
    np.testing.assert_array_equal(got.quality.values, expected.quality.values)
