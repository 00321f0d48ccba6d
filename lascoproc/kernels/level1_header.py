"""Pixel-derived keywords of NRL's LASCO level-1 headers, computed as the IDL computes them.

Pure numpy ports of the SolarSoft LASCO library (``RobertJaro/SOHOpy``,
``references/legacy/lasco_idl``), each function naming its routine:

- :func:`reduce_statistics2`: ``DATAMIN`` ... ``DATAP99`` (``reduce_statistics2.pro`` 1.4,
  08/31/09), called by ``reduce_level_1.pro`` 1.68 with ``SATMAX = 6.5e-9`` for C3 Clear;
- :func:`nrl_integer_scaling`: the C3 Clear 16-bit scaling of ``reduce_level_1.pro`` 1.68
  (``BSCALE``/``BZERO``/``BLANK``, the clip to ``[0, 6.5e-9]``);
- :func:`c2_missing_blocks_header`, :func:`c3_missing_blocks_header`: ``NMISSING`` and
  ``MISSLIST`` as ``reduce_level_1.pro`` 1.68 counts them (C2: ``c2nullblocks.txt`` left out,
  summed frames ``n - 8``; C3: ``find_miss_blocks.pro`` V2.1 with the non-useful blocks of
  ``get_tmask.pro`` left out, the list in base 32 by ``mb2strmap.pro``/``inttob32.pro``).

Keywords computed from header values alone (``XCEN``, ``DATE-OBS``, the file name...) are in
:mod:`lascoproc.io.level1_fits`.

What a block *is* (all 32 x 32 pixels exactly 0 on the readout grid) and how blocks are numbered
is :mod:`lascoproc.kernels.missing_blocks`, the one definition; this module only counts and
lists them as the IDL writes them into the header.

The *IDL image* the statistics and the scaling work on is the calibrated level-1 frame with 0
where there is no datum (IDL multiplies the masks in and ``ROT(..., MISSING=0)``):
:func:`idl_image` makes it from a lascoproc brightness frame (NaN there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

import numpy as np

from lascoproc.kernels.missing_blocks import BLOCK

__all__ = [
    "PERCENTILE_LIMITS",
    "PERCENTILE_KEYWORDS",
    "NRL_SCALE_MIN",
    "NRL_SCALE_MAX",
    "NRL_BLANK",
    "ImageStatistics",
    "idl_image",
    "reduce_statistics2",
    "idl_round",
    "idl_fix",
    "NrlScaledImage",
    "nrl_scaling_applies",
    "nrl_scaling_constants",
    "nrl_integer_scaling",
    "MissingBlocksHeader",
    "c2_missing_blocks_header",
    "c3_non_useful_blocks",
    "c3_missing_blocks_header",
    "inttob32",
    "mb2strmap",
]

#: ``limits`` of ``reduce_statistics2.pro`` 1.4 (an IDL FLOAT array).
PERCENTILE_LIMITS = np.array([0.01, 0.10, 0.25, 0.5, 0.75, 0.90, 0.95, 0.98, 0.99],
                             dtype=np.float32)
#: The keyword of each limit: ``'DATAP' + string(limit * 100, format='(i2.2)')``.
PERCENTILE_KEYWORDS = ("DATAP01", "DATAP10", "DATAP25", "DATAP50", "DATAP75", "DATAP90",
                       "DATAP95", "DATAP98", "DATAP99")

#: ``scalemin`` of ``reduce_level_1.pro`` 1.68 (IDL INT 0).
NRL_SCALE_MIN = 0
#: ``scalemax = 6.5e-9`` of ``reduce_level_1.pro`` 1.68: an IDL FLOAT literal (float32).
NRL_SCALE_MAX = np.float32(6.5e-9)
#: ``BLANK`` written with the scaled C3 Clear image.
NRL_BLANK = -32768

# reduce_statistics2.pro: "Odd image encountered": img(where(img gt 0.00005)) = 0.00005
_ODD_IMAGE_MAX = 0.1
_ODD_IMAGE_CLAMP = 0.00005


# --------------------------------------------------------------------------------------------
# DATA* statistics (reduce_statistics2.pro 1.4)
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ImageStatistics:
    """The keywords ``reduce_statistics2.pro`` 1.4 adds, with the IDL type of each value.

    ``datamin``/``datamax`` are IDL ``float()`` (float32) values, the percentiles
    ``float(low - 1) / bscale`` (float32 bin number over a double scale), the others IDL
    doubles or longs. ``dataavg``/``datasig`` are ``None`` where IDL's ``STDEV`` has too few
    values (fewer than 2 positive pixels). ``histogram_scale`` is the routine's ``bscale`` (the
    histogram bin is ``1 / histogram_scale``), not the FITS ``BSCALE``; ``odd_image`` says the
    routine clamped values above ``5e-5`` (when the image maximum is ``>= 0.1``).
    """

    datamin: float
    datamax: float
    datazer: int
    datasat: int
    dsatval: float
    dsatmin: float
    nsatmin: int
    dataavg: float | None
    datasig: float | None
    percentiles: dict[str, float]
    histogram_scale: float
    odd_image: bool

    def keywords(self) -> list[tuple[str, float | int]]:
        """``(keyword, value)`` in the order ``reduce_statistics2.pro`` adds them."""
        out: list[tuple[str, float | int]] = [
            ("DATAMIN", self.datamin), ("DATAMAX", self.datamax), ("DATAZER", self.datazer),
            ("DATASAT", self.datasat), ("DSATVAL", self.dsatval), ("DSATMIN", self.dsatmin),
            ("NSATMIN", self.nsatmin)]
        if self.dataavg is not None:
            out += [("DATAAVG", self.dataavg), ("DATASIG", self.datasig)]
        out += list(self.percentiles.items())
        return out


def idl_image(brightness: np.ndarray) -> np.ndarray:
    """The image IDL's level-1 statistics and scaling see: float64, 0 where ``brightness`` is NaN.

    ``reduce_level_1.pro`` 1.68 has no NaN: pixels without a datum are 0 (masks multiplied in,
    ``ROT(..., MISSING=0)``); lascoproc marks them NaN (and flags them in ``quality``).
    """
    image = np.asarray(brightness, dtype=np.float64)
    return np.where(np.isnan(image), 0.0, image)


def _idl_median(values: np.ndarray) -> float:
    """IDL ``MEDIAN(x)`` of a vector without ``/EVEN``: element ``n / 2`` of the sorted values."""
    k = values.size // 2
    return float(np.partition(values, k)[k])


def reduce_statistics2(image: np.ndarray, *, satmax: float | None = None,
                       satmin: float | None = None) -> ImageStatistics | None:
    """``DATA*`` statistics of a calibrated image, ported from ``reduce_statistics2.pro`` 1.4.

    With ``img`` the image (0 = no datum, see :func:`idl_image`) and ``w`` its positive pixels
    (``WHERE(img GT 0)``; ``None`` is returned when there is none, as IDL returns without a
    keyword):

    - odd image: if ``max(img) >= 0.1``, ``img > 5e-5`` is set to ``5e-5`` first;
    - ``DATAMIN = float(min(img[w]))``; ``mx = max(img[w])``;
    - ``mxval = SATMAX`` if given (IDL ``keyword_set``: non-zero) else ``mx``; ``mnval = SATMIN``
      if given else ``min(img[w])``;
    - ``DATASAT = n_pixels - count(img < mxval)`` (pixels ``>= mxval``);
    - ``DATAMAX = float(max(img[img < mxval]))`` if ``mx == mxval`` else ``float(mx)``;
    - ``DATAZER = n_pixels - count(w)`` (zero *and* negative pixels);
    - ``DSATVAL = mxval``, ``DSATMIN = mnval``, ``NSATMIN = count(img < mnval and img != 0)``;
    - ``DATAAVG``, ``DATASIG``: mean and ``STDEV`` (``n - 1`` in the denominator) of ``img[w]``;
    - percentiles: ``bscale = 10^k``, the least power of ten with ``median(img[w]) * bscale >=
      1000`` (IDL ``MEDIAN``: the upper middle value); ``t = long(img[w] * bscale)``
      (truncated); ``h = HISTOGRAM(t, min=0)``; for each ``limit`` in
      :data:`PERCENTILE_LIMITS` (float32), accumulate ``h`` from where the previous limit stopped
      (at least one bin: a ``REPEAT ... UNTIL``) until the running total exceeds
      ``limit * n(w)`` (float32 product) or the histogram ends; ``DATAPnn = float(low - 1) /
      bscale``.

    The percentile loop is evaluated without building the histogram: the bin where the running
    total first exceeds ``tile`` is the ``floor(tile)``-th smallest ``t``; the loop's at-least-one
    -bin step makes it ``max(that, previous + 1)``, capped at the last bin. Identical to the
    loop, and bounded in memory whatever ``bscale`` (IDL's histogram has ``max(t) + 1`` bins).

    Parameters
    ----------
    image
        The IDL image, any float dtype; computed in float64 (IDL's image is DOUBLE).
    satmax, satmin
        IDL's ``SATMAX=``/``SATMIN=`` (``reduce_level_1.pro`` passes ``SATMAX = 6.5e-9`` for
        C3 Clear, :data:`NRL_SCALE_MAX`). 0 or ``None``: not set.

    Returns
    -------
    ImageStatistics or None
    """
    img = np.asarray(image, dtype=np.float64)
    odd = bool(img.size and np.max(img) >= _ODD_IMAGE_MAX)
    if odd:
        img = np.where(img > _ODD_IMAGE_CLAMP, _ODD_IMAGE_CLAMP, img)
    flat = img.ravel()
    positive = flat[flat > 0]
    n = positive.size
    if n < 1:
        return None
    mn, mx = float(positive.min()), float(positive.max())
    medyen = _idl_median(positive)
    bscale = 1.0
    while medyen * bscale < 1000:
        bscale *= 10.0
    mxval = float(satmax) if satmax else mx
    mnval = float(satmin) if satmin else mn
    below = flat < mxval
    nsat = int(flat.size - np.count_nonzero(below))
    if mx == mxval:
        # IDL MAX(img[WHERE(img LT mxval)]); WHERE gives -1 when nothing matches: img[-1]
        dmx = float(flat[below].max()) if below.any() else float(flat[-1])
    else:
        dmx = mx
    nsatmin = int(np.count_nonzero((flat < mnval) & (flat != 0)))
    if n >= 2:
        mean = float(positive.mean())
        sig = float(np.sqrt(np.sum((positive - mean) ** 2) / (n - 1)))
    else:
        mean = sig = None
    return ImageStatistics(
        datamin=float(np.float32(mn)), datamax=float(np.float32(dmx)),
        datazer=int(flat.size - n), datasat=nsat, dsatval=mxval, dsatmin=mnval,
        nsatmin=nsatmin, dataavg=mean, datasig=sig,
        percentiles=_percentiles(positive, bscale), histogram_scale=bscale, odd_image=odd)


def _percentiles(positive: np.ndarray, bscale: float) -> dict[str, float]:
    """The ``DATAPnn`` values of ``reduce_statistics2.pro`` 1.4 (see :func:`reduce_statistics2`)."""
    t = np.trunc(positive * bscale).astype(np.int64)  # IDL long(): truncation
    nw = t.size
    last = int(t.max())  # nh - 1
    tiles = PERCENTILE_LIMITS * np.float32(nw)  # IDL FLOAT * LONG: float32
    ranks = np.minimum(np.floor(tiles.astype(np.float64)).astype(np.int64), nw - 1)
    smallest = np.partition(t, np.unique(ranks))[ranks]
    out = {}
    low = 0  # first bin the next REPEAT loop adds
    for key, k in zip(PERCENTILE_KEYWORDS, smallest, strict=True):
        value = min(max(int(k), low), last)
        low = value + 1
        out[key] = float(np.float32(value)) / bscale
    return out


# --------------------------------------------------------------------------------------------
# C3 Clear integer scaling (reduce_level_1.pro 1.68)
# --------------------------------------------------------------------------------------------

def idl_round(x: np.ndarray) -> np.ndarray:
    """IDL ``ROUND``: to the nearest integer, halves away from zero (int64)."""
    x = np.asarray(x, dtype=np.float64)
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def idl_fix(x: np.ndarray) -> np.ndarray:
    """IDL ``FIX`` of floats: to a 32-bit long (truncated), then its low 16 bits (int16).

    Out-of-range values wrap without a message (IDL's ``FIX`` documentation: ``FIX(66000)`` is
    464), so ``FIX(-32769.)`` is 32767.
    """
    longs = np.trunc(np.asarray(x, dtype=np.float64)).astype(np.int64)
    return (longs & 0xFFFF).astype(np.uint16).view(np.int16)


@dataclasses.dataclass(frozen=True)
class NrlScaledImage:
    """A C3 Clear level-1 image as ``reduce_level_1.pro`` 1.68 stores it.

    ``data`` (int16) is what goes into the FITS file; a reader gets ``data * bscale + bzero``
    with the card values :attr:`bscale_card`/:attr:`bzero_card`. ``bscale``/``bzero`` are the
    IDL FLOAT values the integers were computed with.
    """

    data: np.ndarray
    bscale: float
    bzero: float
    blank: int = NRL_BLANK

    @property
    def bscale_card(self) -> float:
        """``BSCALE`` as ``FXADDPAR`` writes an IDL FLOAT: 6 significant digits (G13.6)."""
        return float(f"{self.bscale:.6G}")

    @property
    def bzero_card(self) -> float:
        """``BZERO`` as ``FXADDPAR`` writes an IDL FLOAT: 6 significant digits (G13.6)."""
        return float(f"{self.bzero:.6G}")


def nrl_scaling_applies(detector: str, filter: str) -> bool:
    """``camera EQ 'C3' and hdr.filter EQ 'Clear'`` (``reduce_level_1.pro`` 1.68; exact case)."""
    return str(detector).strip().upper() == "C3" and str(filter).strip() == "Clear"


def nrl_scaling_constants() -> tuple[np.float32, np.float32]:
    """``(bscale, bzero)`` of ``reduce_level_1.pro`` 1.68, in IDL FLOAT arithmetic.

    ``bscale = (scalemax - scalemin) / 65536`` and ``bzero = bscale * 32769`` with
    ``scalemax = 6.5e-9`` (FLOAT) and ``scalemin = 0``: ``9.918213e-14`` and ``3.2500993e-09``.
    """
    bscale = np.float32(np.float32(NRL_SCALE_MAX - np.float32(NRL_SCALE_MIN)) / np.float32(65536))
    bzero = np.float32(bscale * np.float32(32769))
    return bscale, bzero


def nrl_integer_scaling(image: np.ndarray) -> NrlScaledImage:
    """C3 Clear level 1 as NRL stores it: clipped to ``[0, 6.5e-9]`` MSB and scaled to int16.

    ``reduce_level_1.pro`` 1.68 (C3 and filter Clear, unless ``/NOSCALE``)::

        bscale = (scalemax - scalemin) / 65536          ; FLOAT, scalemin = 0, scalemax = 6.5e-9
        bzero  = bscale * 32769
        nz = WHERE(b NE 0)
        bout = FLTARR(naxis1, naxis2)
        bout[nz] = ROUND(((b[nz] < scalemax > scalemin) - bzero) / bscale)
        bout = FIX(bout)                                 ; BLANK = -32768

    Consequences kept on purpose (the option exists to write NRL-identical files): a pixel with
    no datum (0) is stored as 0, which a reader scales to ``BZERO`` (3.25e-9 MSB), not to
    ``BLANK``; a pixel at or below ``0.5 * bscale`` (negatives clip to 0) rounds to -32769,
    which ``FIX`` wraps to 32767 (read back as ~6.5e-9 MSB); ``BLANK`` (-32768) is what
    values in ``[0.5, 1.5) * bscale`` round to. The ``QUALITY`` flags say which pixels hold no
    datum.

    Parameters
    ----------
    image
        The IDL image (0 where no datum; :func:`idl_image`), computed in float64 (IDL's ``b`` is
        DOUBLE); the constants are the IDL FLOAT values.
    """
    b = np.asarray(image, dtype=np.float64)
    bscale, bzero = nrl_scaling_constants()
    nz = b != 0
    clipped = np.maximum(np.minimum(b[nz], np.float64(NRL_SCALE_MAX)), float(NRL_SCALE_MIN))
    bout = np.zeros(b.shape, dtype=np.float32)
    bout[nz] = idl_round((clipped - np.float64(bzero)) / np.float64(bscale)).astype(np.float32)
    return NrlScaledImage(data=idl_fix(bout), bscale=float(bscale), bzero=float(bzero))


# --------------------------------------------------------------------------------------------
# NMISSING / MISSLIST (reduce_level_1.pro 1.68, find_miss_blocks.pro V2.1, get_tmask.pro)
# --------------------------------------------------------------------------------------------

#: C2: ``nmissing GT 17``: ``MISSLIST = 'More than 17 blocks missing'``.
C2_MAX_LISTED = 17
#: C2 summed frames: ``nmissing = nzblocks - 8``.
C2_SUMMED_NOMINAL = 8

_CCD = 1024


@dataclasses.dataclass(frozen=True)
class MissingBlocksHeader:
    """``NMISSING``, ``MISSLIST`` and the COMMENT/HISTORY lines IDL adds with them."""

    nmissing: int
    misslist: str
    comments: tuple[str, ...] = ()
    history: tuple[str, ...] = ()


def _summing(sum_: int, leb: int) -> int:
    return max(int(sum_), 1) * max(int(leb), 1)


def c2_missing_blocks_header(block_numbers: Iterable[int], nominal: Iterable[int], *,
                             xsum: int, ysum: int) -> MissingBlocksHeader:
    """C2 ``NMISSING``/``MISSLIST`` (``reduce_level_1.pro`` 1.68, C2 branch).

    ``nzblocks`` missing blocks (:func:`lascoproc.kernels.missing_blocks.missing_block_numbers`);
    none: ``NMISSING = 0``. Summed frames (``xsum * ysum > 1``): ``NMISSING = nzblocks - 8``
    (negative when fewer than 8 blocks are missing, as IDL writes it). Otherwise the blocks not
    among the nominally empty ones (``c2nullblocks.txt``, ``nominal``). ``MISSLIST``: ``'More
    than 17 blocks missing'`` above 17, ``'None'`` at 0, ``'Not computed for summed images.'``
    for summed frames (IDL: ``summing GT 2``; 2 x 1 summing, where IDL would list an undefined
    variable, is treated alike), else the blocks (``nums2string``, not in the public library:
    written blank-separated). HISTORY ``'Masked missing blocks only'`` when ``NMISSING > 0``.
    """
    blocks = np.unique(np.asarray(list(block_numbers), dtype=np.int64))
    summing = int(xsum) * int(ysum)
    listed = np.empty(0, dtype=np.int64)
    if blocks.size == 0:
        nmissing = 0
    elif summing > 1:
        nmissing = int(blocks.size - C2_SUMMED_NOMINAL)
    else:
        listed = np.setdiff1d(blocks, np.asarray(list(nominal), dtype=np.int64))
        nmissing = int(listed.size)
    if nmissing > C2_MAX_LISTED:
        text = "More than 17 blocks missing"
    elif nmissing == 0:
        text = "None"
    elif summing > 1:
        text = "Not computed for summed images."
    else:
        text = " ".join(str(int(k)) for k in listed)
    history = ("Masked missing blocks only",) if nmissing > 0 else ()
    return MissingBlocksHeader(nmissing, text, history=history)


def _tmask_c3(rebin_index: int) -> np.ndarray:
    """``get_tmask.pro`` for C3: the 32 x 32 block class map, numpy ``[by, bx]``.

    IDL 1-D indices ``k = by * 32 + bx``; -2 corner and -1 centre non-useful blocks (NUB).
    """
    if rebin_index <= 0:
        corners = [*range(0, 8), *range(24, 32), *range(32, 38), *range(58, 64),
                   *range(64, 69), *range(91, 96), *range(96, 101), 125, 126, 127,
                   *range(128, 133), 158, 159, 160, 161, 190, 191, 192, 223, 224,
                   800, 832, 863, 864, 865, 895, 896, 897, 898, 926, 927,
                   *range(928, 932), 957, 958, 959, *range(960, 965), *range(988, 992),
                   *range(992, 998), *range(1018, 1024)]
        centre = [495, 496, 527, 528, 529, 559, 560]
    elif rebin_index == 1:
        corners = [*range(0, 6), *range(26, 32), *range(32, 38), *range(58, 64),
                   *range(64, 68), 94, 95, *range(96, 100), 126, 127, 128, 129, 158, 159,
                   160, 161, 190, 191, 896, 897, 926, 927, 928, 929, 958, 959,
                   *range(960, 964), *range(988, 992), *range(992, 996), *range(1020, 1024)]
        centre = []
    else:
        corners = [0, 1, 2, 3, 32, 33, 34, 35, 64, 65, 66, 67, 96, 97, 98, 99]
        centre = []
    imsk = np.ones(32 * 32, dtype=np.int16)
    imsk[corners] = -2
    imsk[centre] = -1
    return imsk.reshape(32, 32)


def c3_non_useful_blocks(rebindex: int) -> np.ndarray:
    """C3 non-useful blocks (NUB) on the CCD block grid at binning ``rebindex`` (1, 2 or 4).

    ``find_miss_blocks.pro`` V2.1: ``get_tmask, 'C3', rebindex / 2, imskbig`` (IDL integer
    division), ``imsk = REBIN(imskbig, 32 / rebindex, 32 / rebindex, /SAMPLE)`` (every
    ``rebindex``-th block from the first), NUB where ``imsk LT 0``. Boolean ``[by, bx]``.
    """
    r = int(rebindex)
    if r not in (1, 2, 4):
        raise ValueError(f"find_miss_blocks.pro knows binnings 1, 2 and 4, not {rebindex}")
    return _tmask_c3(r // 2)[::r, ::r] < 0


def inttob32(numbers: Iterable[int], ndigit: int = 2) -> list[str]:
    """``inttob32.pro`` V1: base-32 strings (``0-9`` then ``A-V``), left-padded with ``0`` to
    ``ndigit`` digits; a number needing more digits becomes ``ndigit`` asterisks."""
    out = []
    for value in numbers:
        value, text = int(value), ""
        while True:
            res = value % 32
            text = chr(res + 48 + 7 * (res > 9)) + text
            value //= 32
            if value == 0:
                break
        if len(text) < ndigit:
            text = "0" * (ndigit - len(text)) + text
        elif len(text) > ndigit:
            text = "*" * ndigit
        out.append(text)
    return out


def mb2strmap(mbmap: np.ndarray) -> str:
    """``mb2strmap.pro`` V1.0: the base-32 'string map' of the 0 entries of a block map.

    ``m = WHERE(ROTATE(mbmap, 1) EQ 0)``: IDL ``ROTATE`` direction 1 (90 deg counter-clockwise,
    ``x1 = -y0``, ``y1 = x0``) is ``mbmap.T[:, ::-1]`` of the numpy ``[by, bx]`` map, flattened
    row-major. Runs of consecutive indices become ``start, end + 1``, the last run ``start,
    end`` (``strmap2mb.pro`` adds the 1 back); each number two base-32 digits
    (:func:`inttob32`), concatenated.
    """
    rotated = np.asarray(mbmap).T[:, ::-1]
    m = np.flatnonzero(rotated == 0)
    if m.size == 0:
        return ""
    m2 = [int(m[0])]
    for i in range(1, m.size):
        if m[i] != m[i - 1] + 1:
            m2 += [int(m[i - 1]) + 1, int(m[i])]
    m2.append(int(m[-1]))
    return "".join(inttob32(m2, 2))


def c3_missing_blocks_header(block_numbers: Iterable[int], *, xsum: int, ysum: int,
                             blocks_masked: bool = True) -> MissingBlocksHeader:
    """C3 ``NMISSING``/``MISSLIST`` (``reduce_level_1.pro`` 1.68 with ``find_miss_blocks.pro``).

    The missing blocks (absolute numbers on the CCD block grid at the frame's summing,
    :func:`lascoproc.kernels.missing_blocks.missing_block_numbers`) minus the non-useful blocks
    (:func:`c3_non_useful_blocks`): ``NMISSING`` is their count; ``MISSLIST`` ``'None'`` at 0,
    else their base-32 string map (:func:`mb2strmap` of ``missbmap``: 1 block received, 0
    missing, -1 non-useful) with COMMENT ``' MISSLIST is base-32 rep of missing blocks; use
    strmap2mb.pro.'``.

    ``blocks_masked`` is IDL's ``mask_blocks GT 0`` (the fuzzy fill gave up and the blocks are
    masked); lascoproc does not fill blocks with ``fuzzy_image.pro``, they are masked and
    flagged, so True is the default. When False, a summed frame (``xsum * ysum > 2``) gets
    ``'Not computed for summed images.'`` as in IDL's fuzzy-fill branch.

    A binning ``find_miss_blocks.pro`` does not know (not 1, 2 or 4, or unequal in x and y) has
    no non-useful block map: every missing block counts, and a HISTORY line says so.
    """
    xsum, ysum = int(xsum), int(ysum)
    per_row, rows = -(-_CCD // (BLOCK * xsum)), -(-_CCD // (BLOCK * ysum))
    missing = np.zeros((rows, per_row), dtype=bool)
    for k in block_numbers:
        by, bx = divmod(int(k), per_row)
        if not (0 <= by < rows):
            raise ValueError(f"block number {k} is not on the {rows} x {per_row} C3 block grid")
        missing[by, bx] = True
    history: tuple[str, ...] = ()
    if xsum == ysum and xsum in (1, 2, 4):
        nub = c3_non_useful_blocks(xsum)
    else:
        nub = np.zeros_like(missing)
        history = (f"NMISSING counts every missing block: no non-useful block map for "
                   f"{xsum} x {ysum} binning (find_miss_blocks.pro knows 1, 2, 4)",)
    lost = missing & ~nub
    nmissing = int(np.count_nonzero(lost))
    if nmissing == 0:
        return MissingBlocksHeader(0, "None", history=history)
    comments = (" MISSLIST is base-32 rep of missing blocks; use strmap2mb.pro.",)
    if not blocks_masked and xsum * ysum > 2:
        return MissingBlocksHeader(nmissing, "Not computed for summed images.", comments,
                                   history)
    mbmap = np.where(nub, -1, np.where(lost, 0, 1))
    return MissingBlocksHeader(nmissing, mb2strmap(mbmap), comments, history)
