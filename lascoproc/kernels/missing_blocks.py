"""Missing telemetry blocks of LASCO level-0.5 frames, found exactly on the readout block grid.

LASCO images are compressed and telemetered in blocks of 32 x 32 pixels of the image *as read
out* (after on-chip ``SUMCOL``/``SUMROW`` and electronics-box ``LEBXSUM``/``LEBYSUM`` summing);
a block whose packets were lost is written as exactly 0 in the level-0.5 frame. An observed pixel
is not 0: it holds the CCD bias (hundreds of DN, ``OFFSET``) plus signal and read noise of a few
DN.

So a pixel is *missing* if and only if its whole 32 x 32 block on the readout grid is 0 (or the
header lists the block). Intensity thresholds are wrong for this: the occulter shadow, the pylon
and the vignetted corners are dark but observed, and a threshold mask (CorKit's) marks about 20%
of a frame as missing where 0.2% is.

The block grid (``miss_blocks.pro``, 1.1 10/05/96, and ``find_miss_blocks.pro`` V2.1 of the
SolarSoft LASCO library, read for the conventions; the code here is written from them):

- blocks are ``32 x 32`` *frame* pixels, so ``32 * xsum`` CCD columns wide in a summed frame;
- the grid is anchored at the first stored pixel (frame ``[0, 0]``); a frame whose size is not a
  multiple of 32 has partial blocks along its far edges (IDL ``REBIN`` would refuse such a
  frame; here the partial block counts as missing when all of its pixels are 0);
- absolute block numbers run over the full CCD at the frame's summing, x fastest:
  ``k = (by + y0) * nbx_ccd + (bx + x0)`` with ``nbx_ccd = ceil(1024 / (32 xsum))``,
  ``x0 = (R1COL - 20) // (32 xsum)`` and ``y0 = (R1ROW - 1) // (32 ysum)``
  (``miss_blocks.pro``: ``start_xblock = (x1 - 20) / 32``). For a full unsummed frame this is
  ``k = by * 32 + bx``, IDL's ``WHERE(REBIN(a, 32, 32) LE 0)`` order.

Pure numpy; numpy arrays are indexed ``[y, x]`` (row = y), see
:mod:`lascoproc.kernels.lasco_geometry`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numba
import numpy as np

__all__ = [
    "BLOCK",
    "BlockGrid",
    "readout_block_grid",
    "zero_blocks",
    "missing_pixel_mask",
    "detect_missing_blocks",
    "missing_block_numbers",
]

#: Edge of a telemetry block in frame pixels.
BLOCK = 32

_CCD = 1024  # full-resolution CCD pixels per side
_FIRST_COLUMN = 20  # R1COL of a full frame (rectified CCD column of the first stored pixel)
_FIRST_ROW = 1  # R1ROW of a full frame


def _summing(sum_: int, leb: int) -> int:
    """IDL ``(SUMCOL > 1) * (LEBXSUM > 1)``: 0 in the header means no summing."""
    return max(int(sum_), 1) * max(int(leb), 1)


@dataclasses.dataclass(frozen=True)
class BlockGrid:
    """The telemetry block grid of one frame.

    Attributes
    ----------
    shape
        ``(ny, nx)`` of the stored frame.
    origin
        ``(y0, x0)``: absolute block row and column of frame block ``[0, 0]``.
    blocks_per_row
        Blocks per row of the whole CCD at the frame's summing (``nbx_ccd``).
    """

    shape: tuple[int, int]
    origin: tuple[int, int] = (0, 0)
    blocks_per_row: int = _CCD // BLOCK

    @property
    def nblocks(self) -> tuple[int, int]:
        """``(nby, nbx)``: blocks along y and x, partial edge blocks included."""
        ny, nx = self.shape
        return -(-ny // BLOCK), -(-nx // BLOCK)

    def numbers(self) -> np.ndarray:
        """Absolute block number of every frame block, shape :attr:`nblocks`."""
        nby, nbx = self.nblocks
        rows = np.arange(nby)[:, np.newaxis] + self.origin[0]
        cols = np.arange(nbx)[np.newaxis, :] + self.origin[1]
        return rows * self.blocks_per_row + cols

    def blocks_of(self, numbers: Iterable[int]) -> np.ndarray:
        """Boolean block map (shape :attr:`nblocks`) of absolute block ``numbers``.

        Raises ``ValueError`` for a number that is not a block of this frame: a block list
        written with another convention must not be silently misplaced.
        """
        nby, nbx = self.nblocks
        out = np.zeros((nby, nbx), dtype=bool)
        for k in numbers:
            k = int(k)
            by, bx = divmod(k, self.blocks_per_row)
            by, bx = by - self.origin[0], bx - self.origin[1]
            if not (k >= 0 and 0 <= by < nby and 0 <= bx < nbx):
                raise ValueError(
                    f"block number {k} is not in this frame's readout window (frame blocks "
                    f"{self.numbers().min()}..{self.numbers().max()}, {self.blocks_per_row} "
                    "per CCD row)")
            out[by, bx] = True
        return out

    def to_pixels(self, block_map: np.ndarray) -> np.ndarray:
        """Expand a block map (shape :attr:`nblocks`) to a pixel mask of :attr:`shape`."""
        ny, nx = self.shape
        full = np.repeat(np.repeat(np.asarray(block_map, bool), BLOCK, axis=0), BLOCK, axis=1)
        return full[:ny, :nx]


def readout_block_grid(shape: tuple[int, int], *, sumcol: int = 0, sumrow: int = 0,
                       lebxsum: int = 1, lebysum: int = 1, r1col: int = _FIRST_COLUMN,
                       r1row: int = _FIRST_ROW) -> BlockGrid:
    """The block grid of a frame of ``shape`` from its header's summing and window.

    ``xsum = (SUMCOL > 1) * (LEBXSUM > 1)`` and likewise for y; the frame's first block is
    block ``((R1ROW - 1) // (32 ysum), (R1COL - 20) // (32 xsum))`` of the CCD at that summing
    (module docstring).
    """
    xsum, ysum = _summing(sumcol, lebxsum), _summing(sumrow, lebysum)
    if int(r1col) < _FIRST_COLUMN or int(r1row) < _FIRST_ROW:
        raise ValueError(f"R1COL={r1col}, R1ROW={r1row}: the window starts before the CCD "
                         f"(R1COL >= {_FIRST_COLUMN}, R1ROW >= {_FIRST_ROW})")
    origin = ((int(r1row) - _FIRST_ROW) // (BLOCK * ysum),
              (int(r1col) - _FIRST_COLUMN) // (BLOCK * xsum))
    per_row = -(-_CCD // (BLOCK * xsum))
    ny, nx = (int(v) for v in shape)
    return BlockGrid(shape=(ny, nx), origin=origin, blocks_per_row=per_row)


@numba.njit(nogil=True, cache=True)
def _zero_blocks_kernel(counts, out):
    """``out[by, bx]``: whether block ``(by, bx)`` of ``counts`` is all 0; the scan of a block
    stops at its first non-zero pixel, so an observed block costs a read or two."""
    ny, nx = counts.shape
    nby, nbx = out.shape
    for by in range(nby):
        for bx in range(nbx):
            zero = True
            for i in range(by * BLOCK, min(by * BLOCK + BLOCK, ny)):
                for j in range(bx * BLOCK, min(bx * BLOCK + BLOCK, nx)):
                    if counts[i, j] != 0:
                        zero = False
                        break
                if not zero:
                    break
            out[by, bx] = zero


def zero_blocks(counts: np.ndarray) -> np.ndarray:
    """Block map (``ceil(ny/32) x ceil(nx/32)``) of the blocks whose pixels are all exactly 0.

    Partial blocks at the far edges count their stored pixels only. A NaN is not 0.
    """
    counts = np.asarray(counts)
    if counts.ndim != 2:
        raise ValueError(f"a frame must be 2-D, got shape {counts.shape}")
    ny, nx = counts.shape
    nby, nbx = -(-ny // BLOCK), -(-nx // BLOCK)
    if counts.dtype.kind in "iuf" and counts.dtype.isnative:
        out = np.empty((nby, nbx), dtype=bool)
        _zero_blocks_kernel(counts, out)
        return out
    nonzero = np.zeros((nby * BLOCK, nbx * BLOCK), dtype=bool)  # padding counts as zero
    nonzero[:ny, :nx] = counts != 0
    return ~nonzero.reshape(nby, BLOCK, nbx, BLOCK).any(axis=(1, 3))


def missing_pixel_mask(counts: np.ndarray) -> np.ndarray:
    """Pixels of a level-0.5 frame that hold no observation: a count that is not positive.

    ``reduce_level_1.pro`` 1.68: ``zz = WHERE(a LE 0)``. Every observed pixel carries the CCD
    bias (hundreds of DN), so a count <= 0 is never data: it is a pixel of a lost block
    (:func:`zero_blocks`) or, rarely, a lone corrupt value, and both are masked as IDL masks
    them. The level-1 chain flags these pixels ``missing_telemetry``; the blocks themselves
    (for ``NMISSING`` and inpainting) are the all-zero blocks of :func:`zero_blocks`.
    """
    return np.asarray(counts) <= 0


def detect_missing_blocks(counts: np.ndarray, *, sumcol: int = 0, sumrow: int = 0,
                          lebxsum: int = 1, lebysum: int = 1, r1col: int = _FIRST_COLUMN,
                          r1row: int = _FIRST_ROW,
                          misslist: Iterable[int] | None = None) -> np.ndarray:
    """Pixel mask (True = missing telemetry) of a level-0.5 frame.

    A pixel is missing when its 32 x 32 block on the readout grid is exactly 0 everywhere, or
    when ``misslist`` (absolute block numbers, as :func:`missing_block_numbers` gives them and
    the module docstring defines) lists its block. Never an intensity threshold: isolated zero
    pixels and dark observed regions are not missing.

    Parameters
    ----------
    counts
        The level-0.5 frame ``(ny, nx)`` as stored (counts; any dtype).
    sumcol, sumrow, lebxsum, lebysum, r1col, r1row
        Header values of the frame (summing and read-out window); they place the frame on the
        CCD's block grid, which only matters for ``misslist``.
    misslist
        Block numbers the header lists as lost, or ``None``. A number outside the frame raises
        ``ValueError``.

    Returns
    -------
    numpy.ndarray
        Boolean, shape of ``counts``.
    """
    counts = np.asarray(counts)
    grid = readout_block_grid(counts.shape, sumcol=sumcol, sumrow=sumrow, lebxsum=lebxsum,
                              lebysum=lebysum, r1col=r1col, r1row=r1row)
    blocks = zero_blocks(counts)
    if misslist is not None:
        blocks |= grid.blocks_of(misslist)
    return grid.to_pixels(blocks)


def missing_block_numbers(counts: np.ndarray, *, sumcol: int = 0, sumrow: int = 0,
                          lebxsum: int = 1, lebysum: int = 1, r1col: int = _FIRST_COLUMN,
                          r1row: int = _FIRST_ROW) -> np.ndarray:
    """Sorted absolute numbers of the all-zero blocks of a frame (module docstring's order)."""
    counts = np.asarray(counts)
    grid = readout_block_grid(counts.shape, sumcol=sumcol, sumrow=sumrow, lebxsum=lebxsum,
                              lebysum=lebysum, r1col=r1col, r1row=r1row)
    return np.sort(grid.numbers()[zero_blocks(counts)])
