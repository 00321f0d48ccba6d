"""Level-0.5 pixels from FITS bytes: the decoding of ``read_frame`` and the block of
``read_frames``, decoded straight into the block's frames."""

import time

import numpy as np
import pytest
from fsspec.implementations.local import LocalFileSystem

from lascoproc.io.lasco_cube import CorruptFrameError, _decode, read_frame, read_frames
from lascoproc.io.retry import ReadPolicy


def test_decode_by_hand():
    # big-endian 16-bit: 0x0102 = 258, 0x3FFF = 16383 (a 14-bit count), 0x8001
    raw = bytes([0x01, 0x02, 0x3F, 0xFF, 0x80, 0x01, 0x00, 0x00])
    np.testing.assert_array_equal(_decode(raw, (2, 2), 16, 1.0, 0.0), [[258, 16383],
                                                                       [32769, 0]])
    # BZERO 32768 (the unsigned convention): stored -32768 + v, i.e. the sign bit flipped
    np.testing.assert_array_equal(_decode(raw, (2, 2), 16, 1.0, 32768.0),
                                  [[258 + 32768, 16383 + 32768], [1, 32768]])
    # a scaled float32 frame: 1.5 * 2 + 10 = 13, -20 * 2 + 10 = -30 -> clipped to 0
    f = np.array([1.5, -20.0, 100.25, 0.0], ">f4").tobytes()
    np.testing.assert_array_equal(_decode(f, (2, 2), -32, 2.0, 10.0), [[13, 0], [210, 10]])


@pytest.mark.parametrize("bitpix,bscale,bzero", [(16, 1.0, 0.0), (16, 1.0, 32768.0),
                                                  (-32, 2.0, 10.0)])
def test_decode_into_a_given_array_is_the_same(bitpix, bscale, bzero):
    rng = np.random.default_rng(0)
    dtype = ">i2" if bitpix == 16 else ">f4"
    raw = rng.integers(0, 16000, 12).astype(dtype).tobytes()
    expected = _decode(raw, (3, 4), bitpix, bscale, bzero)
    block = np.full((2, 3, 4), 7, np.uint16)
    got = _decode(raw, (3, 4), bitpix, bscale, bzero, out=block[1])
    assert np.shares_memory(got, block[1])
    np.testing.assert_array_equal(block[1], expected)
    np.testing.assert_array_equal(block[0], 7)


def _write(path, values):
    path.write_bytes(b"X" * 2880 + values.astype(">i2").tobytes())


def test_block_read_equals_frame_reads(tmp_path):
    rng = np.random.default_rng(1)
    fs = LocalFileSystem()
    specs = np.empty(3, dtype=object)  # frame_reads' specs: (path, offset, ny, nx, y0, x0)
    values = rng.integers(0, 16000, (3, 5, 6))
    for k in range(3):
        _write(tmp_path / f"f{k}.fts", values[k])
        specs[k] = (str(tmp_path / f"f{k}.fts"), 2880, 5, 6, 0, 0)
        np.testing.assert_array_equal(
            read_frame(fs, specs[k][0], offset=2880, shape=(5, 6)), values[k])
    np.testing.assert_array_equal(read_frames(specs, fs=fs, shape=(5, 6)), values)
    # a subfield embedded in a larger frame: the rest stays 0
    specs[1] = (specs[1][0], 2880, 5, 6, 2, 1)
    block = read_frames(specs, fs=fs, shape=(8, 8))
    np.testing.assert_array_equal(block[1, 2:7, 1:7], values[1])
    assert block[1].sum() == values[1].sum()


def test_a_frame_of_another_shape_is_a_corrupt_frame_at_once(tmp_path):
    _write(tmp_path / "f.fts", np.ones((5, 6)))
    slow = ReadPolicy(retries=3, backoff=5.0)  # a retry would take 5 s or more
    t0 = time.monotonic()
    with pytest.raises(CorruptFrameError, match="shape"):
        read_frame(LocalFileSystem(), str(tmp_path / "f.fts"), offset=2880, shape=(5, 6),
                   out=np.empty((6, 5), np.uint16), policy=slow)
    assert time.monotonic() - t0 < 2.0
