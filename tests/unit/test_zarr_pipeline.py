"""lascoproc.io.zarr_pipeline: the same bytes as zarr's own pipeline, without its copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, ZstdCodec

from lascoproc.io import zarr_pipeline
from lascoproc.io.zarr_pipeline import PATH, ZARR_DEFAULT, CompleteChunkPipeline


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _write(root: Path, pipeline: str, data: np.ndarray, **create) -> dict[str, bytes]:
    with zarr.config.set({"codec_pipeline.path": pipeline}):
        array = zarr.create_array(str(root), shape=data.shape, dtype=data.dtype, **create)
        array[4:8] = data[4:8]          # one whole shard
        array[9:11] = data[9:11]        # part of a shard (read, merged, rewritten)
        array[0:2, :3] = data[0:2, :3]  # parts of chunks
        array[2] = 7                    # a scalar into a whole chunk
        array[3, 1] = data[3, 1]        # a row: fewer dimensions than the chunk
        np.testing.assert_array_equal(array[4:8], data[4:8])
        np.testing.assert_array_equal(array[9:11], data[9:11])
    return _files(root)


@pytest.mark.parametrize("dtype, compressor", [
    ("float32", BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=4)),
    ("uint16", ZstdCodec(level=1)),
])
def test_same_bytes_as_zarrs_pipeline(tmp_path, dtype, compressor):
    zarr_pipeline.install()  # registers the class (the test sets the path itself)
    data = np.random.default_rng(3).normal(100, 10, (12, 8, 6)).astype(dtype)
    create = {"chunks": (1, 8, 6), "shards": (4, 8, 6), "compressors": [compressor],
              "fill_value": 0}
    ours = _write(tmp_path / "ours.zarr", PATH, data, **create)
    stock = _write(tmp_path / "stock.zarr", ZARR_DEFAULT, data, **create)
    assert ours.keys() == stock.keys() and len(ours) > 3
    assert ours == stock
    # unsharded (one frame per chunk, as Zarr format 2 stores) too
    create = {"chunks": (1, 8, 6), "compressors": [compressor], "fill_value": 0}
    assert _write(tmp_path / "o2.zarr", PATH, data, **create) == \
        _write(tmp_path / "s2.zarr", ZARR_DEFAULT, data, **create)


def test_a_complete_inner_chunk_is_not_copied():
    """The merge returns a view of the value being written (zarr's own returns a new chunk)."""
    from zarr.core.array_spec import ArrayConfig, ArraySpec
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.buffer.cpu import NDBuffer
    from zarr.core.dtype import parse_dtype

    spec = ArraySpec(shape=(1, 4, 4), dtype=parse_dtype("float32", zarr_format=3),
                     fill_value=0.0, config=ArrayConfig(order="C", write_empty_chunks=True),
                     prototype=default_buffer_prototype())
    value = NDBuffer.from_numpy_array(np.arange(48, dtype=np.float32).reshape(3, 4, 4))
    pipe = CompleteChunkPipeline.from_codecs(
        [zarr.codecs.BytesCodec()])
    out = pipe._merge_chunk_array(None, value, (slice(1, 2),), spec,
                                  (slice(0, 1), slice(0, 4), slice(0, 4)), True, ())
    assert np.shares_memory(out.as_numpy_array(), value.as_numpy_array())
    np.testing.assert_array_equal(out.as_numpy_array(), value.as_numpy_array()[1:2])


def test_install_keeps_another_pipeline_and_the_opt_out(monkeypatch):
    with zarr.config.set({"codec_pipeline.path": "someone.Else"}):
        assert not zarr_pipeline.install()
        assert zarr.config.get("codec_pipeline.path") == "someone.Else"
    with zarr.config.set({"codec_pipeline.path": ZARR_DEFAULT}):
        monkeypatch.setenv("LASCOPROC_ZARR_PIPELINE", "zarr")
        assert not zarr_pipeline.install()
        assert zarr.config.get("codec_pipeline.path") == ZARR_DEFAULT
        monkeypatch.delenv("LASCOPROC_ZARR_PIPELINE")
        assert zarr_pipeline.install()
        assert zarr.config.get("codec_pipeline.path") == PATH
