"""Exact detection of missing telemetry blocks (lascoproc.kernels.missing_blocks)."""

from __future__ import annotations

import numpy as np
import pytest

from lascoproc.kernels.level1 import frame_checks
from lascoproc.kernels.missing_blocks import (
    BLOCK,
    detect_missing_blocks,
    missing_block_numbers,
    missing_pixel_mask,
    readout_block_grid,
    zero_blocks,
)


@pytest.fixture(scope="module")
def c3_archive(tmp_path_factory):
    """One day of C3: a full, a binned and a subfield frame with 3..9 missing blocks each."""
    from lascoproc.testing.lasco import write_lasco_archive

    root = tmp_path_factory.mktemp("blocks")
    return write_lasco_archive(root, days=1, frames_per_day=3, detectors=("c3",), seed=3,
                               binned_per_day=1, subfields_per_day=1, missing_blocks=(3, 10),
                               cme=False)


def _frames(archive):
    """(counts, header values, truth) of every good frame of the archive."""
    from lascoproc.io.lasco_cube import open_lasco_cube

    out = []
    for frame in archive.good("c3"):
        cube = open_lasco_cube(archive.root, detector="c3", shape=frame.shape, threads=2)
        i = [str(p).endswith(frame.path) for p in cube["path"].values].index(True)
        one = cube.isel(time=i)
        header = {k: int(one[k].values) for k in ("sumcol", "sumrow", "lebxsum", "lebysum",
                                                  "r1col", "r1row")}
        out.append((one["counts"].values, header, frame))
    return out


def _truth_mask(frame) -> np.ndarray:
    mask = np.zeros(frame.shape, bool)
    for i, j in frame.missing_blocks:
        mask[BLOCK * i:BLOCK * (i + 1), BLOCK * j:BLOCK * (j + 1)] = True
    return mask


def test_detects_exactly_the_zero_blocks_of_full_binned_and_subfield_frames(c3_archive):
    frames = _frames(c3_archive)
    assert {f.kind for _, _, f in frames} == {"full", "binned", "subfield"}
    for counts, header, frame in frames:
        assert frame.missing_blocks, "the archive must have missing blocks"
        mask = detect_missing_blocks(counts, **header)
        assert mask.shape == counts.shape
        np.testing.assert_array_equal(mask, _truth_mask(frame), err_msg=frame.kind)
        assert np.all(counts[mask] == 0)


def test_nothing_is_missing_in_a_complete_frame():
    counts = np.full((1024, 1024), 400, np.uint16)
    counts[500:520, 500:520] = 0  # zeros, but not a whole block: not a lost block
    counts[0, 0] = 0
    assert not detect_missing_blocks(counts).any()
    assert missing_block_numbers(counts).size == 0


def test_block_numbers_follow_the_ccd_grid():
    # full frame: block (2, 5) is number 2 * 32 + 5 = 69
    full = np.ones((1024, 1024), np.uint16)
    full[64:96, 160:192] = 0
    assert missing_block_numbers(full).tolist() == [69]
    # 2 x 2 summed in the LEB: 16 blocks per CCD row, block (2, 5) is 2 * 16 + 5 = 37
    binned = np.ones((512, 512), np.uint16)
    binned[64:96, 160:192] = 0
    assert missing_block_numbers(binned, lebxsum=2, lebysum=2).tolist() == [37]
    assert missing_block_numbers(binned, sumcol=2, sumrow=2).tolist() == [37]
    # 512 x 512 window at R1COL = 276, R1ROW = 129: first block is CCD block (4, 8);
    # frame block (1, 1) is (5, 9) -> 5 * 32 + 9 = 169
    sub = np.ones((512, 512), np.uint16)
    sub[32:64, 32:64] = 0
    assert missing_block_numbers(sub, r1col=276, r1row=129).tolist() == [169]
    grid = readout_block_grid((512, 512), r1col=276, r1row=129)
    assert grid.origin == (4, 8) and grid.blocks_per_row == 32


def test_header_block_list_is_honoured():
    counts = np.ones((1024, 1024), np.uint16)
    counts[0:32, 0:32] = 0  # block 0, found from the pixels
    mask = detect_missing_blocks(counts, misslist=[69])  # block 69 listed, pixels non-zero
    expected = np.zeros(counts.shape, bool)
    expected[0:32, 0:32] = True
    expected[64:96, 160:192] = True
    np.testing.assert_array_equal(mask, expected)
    sub = np.ones((512, 512), np.uint16)
    with pytest.raises(ValueError, match="not in this frame's readout window"):
        detect_missing_blocks(sub, r1col=276, r1row=129, misslist=[0])


def test_partial_blocks_at_the_far_edge():
    counts = np.ones((100, 70), np.int16)  # 4 x 3 blocks, the last row and column partial
    counts[96:100, 64:70] = 0  # the whole 4 x 6 corner block
    counts[96:100, 0:20] = 0  # part of a partial block only
    blocks = zero_blocks(counts)
    assert blocks.shape == (4, 3)
    assert blocks.sum() == 1 and blocks[3, 2]
    mask = detect_missing_blocks(counts)
    assert mask.sum() == 4 * 6 and mask[96:, 64:].all()


def test_an_intensity_threshold_would_be_wrong(c3_archive):
    """CorKit-style thresholding marks the dark observed regions (occulter shadow, pylon,
    vignetted field edge) as missing; the block test marks only the lost blocks."""
    counts, header, frame = next(f for f in _frames(c3_archive) if f[2].kind == "full")
    exact = detect_missing_blocks(counts, **header)
    offset = 378.0  # ~ the bias of the synthetic C3 frames (OFFSET), DN
    threshold = counts.astype(np.float64) <= offset + 3.0  # "no signal above the bias"
    assert threshold[exact].all()  # it catches the lost blocks...
    false = threshold & ~exact
    assert false.mean() > 0.05  # ...but also more than 5% of the frame that was observed
    assert exact.mean() < 0.01
    assert np.all(counts[false] > 0)  # every one of those pixels holds data


def test_idl_order_not_transposed_and_lone_zero_pixels():
    raw = np.full((64, 96), 600, dtype=np.uint16)  # 2 block rows x 3 block columns
    raw[0:32, 64:96] = 0  # block (by=0, bx=2): IDL index 0 * 3 + 2 = 2 (transposed: 4)
    raw[40, 5] = 0  # a lone zero pixel does not make its block lost ...
    np.testing.assert_array_equal(
        missing_block_numbers(raw, r1col=20, r1row=1), [2])
    # ... but it holds no observation: IDL's zz = WHERE(a LE 0) masks it too
    assert missing_pixel_mask(raw).sum() == 32 * 32 + 1
    raw[50, 50] = 601  # an observed frame is not one value everywhere (next test)
    nmissing, no_data = frame_checks(raw)
    assert (nmissing, no_data) == (1, False)
    assert frame_checks(np.zeros((64, 96), np.uint16)) == (6, True)


def test_a_frame_of_one_value_holds_no_data():
    """Every pixel not lost holding one value (saturated, or a corrupted read-out) is no
    observation: ``no_data``, as a frame of lost blocks is (it was calibrated and counted as
    used before 2026-12-02). One differing pixel anywhere, even in a row the fast path does
    not sample, makes it data."""
    raw = np.full((64, 96), 32767, np.uint16)
    assert frame_checks(raw) == (0, True)
    raw[0:32, 0:32] = 0  # a lost block too: still one value where anything was read
    assert frame_checks(raw) == (1, True)
    raw[33, 95] = 32766  # row 33 is not among the rows sampled first (0, 16, 32, 48)
    assert frame_checks(raw) == (1, False)
    noisy = np.random.default_rng(0).integers(400, 900, (64, 96)).astype(np.uint16)
    assert frame_checks(noisy) == (0, False)


def test_frame_sides_not_multiples_of_32():
    # a 100 x 70 subfield: 4 x 3 blocks, the last row and column partial (4 and 6 pixels)
    raw = np.full((100, 70), 500, np.uint16)
    raw[96:100, 64:70] = 0  # the partial corner block, all of its stored pixels 0
    raw[0:32, 0:32] = 0
    raw[40, 40] = 501
    assert zero_blocks(raw).shape == (4, 3)
    np.testing.assert_array_equal(np.flatnonzero(zero_blocks(raw)), [0, 11])
    assert frame_checks(raw) == (2, False)
    assert missing_pixel_mask(raw).sum() == 32 * 32 + 4 * 6


def test_zero_blocks_every_dtype_and_byte_order_hand_cases():
    """The compiled scan (native ints and floats) and the numpy path (others, e.g. FITS
    big-endian) give the same maps: a NaN is not 0, a lone non-zero pixel anywhere in a block
    (its last pixel too) keeps it, partial edge blocks count their stored pixels."""
    frame = np.zeros((70, 40))  # blocks 3 x 2, the last row and column partial
    frame[31, 31] = 5.0  # the last pixel of block (0, 0)
    frame[69, 39] = np.nan  # the last stored pixel of block (2, 1)
    frame[40, 5] = -1.0  # block (1, 0)
    expected = np.array([[False, True], [False, True], [True, False]])
    for dtype in (np.float32, np.float64, ">f8"):
        np.testing.assert_array_equal(zero_blocks(frame.astype(dtype)), expected)
    ints = np.nan_to_num(frame, nan=7.0)
    for dtype in (np.uint16, np.int16, np.int32, np.int64, ">i2", ">u2"):
        np.testing.assert_array_equal(zero_blocks(ints.astype(dtype)), expected)
    np.testing.assert_array_equal(zero_blocks(np.zeros((1, 1), np.uint16)), [[True]])
    assert zero_blocks(np.zeros((0, 5), np.uint16)).shape == (0, 1)
