"""What a degradation model *is*: frozen, hashable, JSON-able configuration (STYLE rule 7).

Three parts, all saved inside every weights file so that a model always preprocesses its input
the way it was trained:

- :class:`Preprocessing`: channels, input size, apodisation, the fixed per-channel scaling and
  the intensity transform (Dos Santos et al. 2021, Sect. 3: 256x256 input, fixed per-channel
  scaling, optional apodisation of the off-disk corona);
- :class:`Architecture`: the single- or multi-channel CNN (two conv+ReLU+maxpool stages, then a
  dense layer with a sigmoid output);
- :class:`ReferenceSplit`: the reference period the model learns the undimmed Sun from, and its
  split by calendar month into train / holdout / test frames.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "EUV_CHANNELS",
    "SDOML_SIZE",
    "SDOML_RSUN_FRACTION",
    "PAPER_SCALING",
    "Preprocessing",
    "Architecture",
    "Augmentation",
    "ReferenceSplit",
    "SeriesRecipe",
    "ModelConfig",
]

#: The AIA EUV channels of the paper (wavelengths in angstrom).
EUV_CHANNELS = (94, 131, 171, 193, 211, 304, 335)

#: SDOML v2 frame size in pixels.
SDOML_SIZE = 512

#: Solar radius over frame width in SDOML: the conversion rescales every disk to 976 arcsec in
#: 2.4 arcsec pixels of a 1024 grid (see :mod:`lascoproc.io.sdoml`), 203.3 px at 512.
SDOML_RSUN_FRACTION = 976.0 / (2.4 * 1024)

_TRANSFORMS = ("linear", "log")
_RESAMPLE = ("mean", "decimate")

#: The paper's fixed per-channel scaling [DN/s] (vale-salvatelli/sdo-autocal_pub and
#: spaceml-org/expanding-sdo-capabilities, ``sdo.io.AUNIT_BYCH``: "the approximate mean of the
#: channels across the full time period", from Galvez et al. 2019, Fig. 3).
PAPER_SCALING = {94: 10.0, 131: 80.0, 171: 2000.0, 193: 3000.0, 211: 1000.0, 304: 500.0,
                 335: 80.0}


def _channels(values) -> tuple[int, ...]:
    out = tuple(int(str(v).rstrip("aA")) for v in values)
    if not out:
        raise ValueError("at least one channel is needed")
    if len(set(out)) != len(out):
        raise ValueError(f"channels repeated: {out}")
    return out


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How an SDOML frame becomes a model input.

    Attributes
    ----------
    channels
        Wavelengths in angstrom, in input order.
    size
        Input size in pixels; the frames (512 in SDOML) are block-averaged to it (256 in the
        paper; 64 for the shipped synthetic model, to train in minutes on two cores).
    apodise
        Zero the pixels beyond this many solar radii (``None``: keep the corona).
    transform
        ``"linear"``: ``x / scale``; ``"log"``: ``log10(max(x / scale, floor))``.
    scaling
        Fixed per-channel divisors [DN/s], one per channel; set from the training frames
        (:meth:`with_scaling`) and then frozen with the model.
    floor
        Smallest ``x / scale`` before the log transform. Pixels below it (the far corona of the
        hot channels, where the frame is read noise clipped at zero by the archive) carry no
        information on the Sun's brightness, and their level does not dim with the instrument:
        a floor above them keeps the network from reading them.
    resample
        ``"mean"``: block mean of ``binning x binning`` pixels; ``"decimate"``: every
        ``binning``-th pixel, as the paper's ``img[::subsample, ::subsample]``
        (``sdo.datasets.sdo_dataset.SDO_Dataset.__getitem__``).
    """

    channels: tuple[int, ...] = EUV_CHANNELS
    size: int = 256
    apodise: float | None = None
    transform: str = "linear"
    scaling: tuple[float, ...] | None = None
    floor: float = 1e-3
    resample: str = "mean"

    def __post_init__(self):
        object.__setattr__(self, "channels", _channels(self.channels))
        if self.size < 8 or SDOML_SIZE % self.size:
            raise ValueError(f"size must divide {SDOML_SIZE} (256, 128, 64...), got {self.size}")
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"transform must be one of {_TRANSFORMS}, got {self.transform!r}")
        if self.resample not in _RESAMPLE:
            raise ValueError(f"resample must be one of {_RESAMPLE}, got {self.resample!r}")
        if self.apodise is not None and self.apodise <= 0:
            raise ValueError(f"apodise must be a positive radius in solar radii, got "
                             f"{self.apodise}")
        if self.scaling is not None:
            scaling = tuple(float(s) for s in self.scaling)
            if len(scaling) != len(self.channels) or not all(s > 0 for s in scaling):
                raise ValueError(f"scaling needs one positive value per channel, got {scaling}")
            object.__setattr__(self, "scaling", scaling)

    def binning(self, frame_size: int = SDOML_SIZE) -> int:
        """Frame pixels per input pixel along each axis (2 for SDOML's 512 to 256)."""
        if frame_size < self.size or frame_size % self.size:
            raise ValueError(f"{frame_size}x{frame_size} frames cannot be binned to "
                             f"{self.size}x{self.size}")
        return frame_size // self.size

    @property
    def radius_px(self) -> float:
        """Solar radius in input pixels."""
        return SDOML_RSUN_FRACTION * self.size

    def with_scaling(self, scaling) -> Preprocessing:
        """A copy with the per-channel scaling set."""
        return dataclasses.replace(self, scaling=tuple(float(s) for s in scaling))


#: The networks: ``multi`` and ``single`` (the paper's), ``level`` (ours: quiet-Sun level and
#: dimming-free shapes, :class:`lascoproc.degradation.model.LevelShapeCNN`).
ARCHITECTURES = ("multi", "single", "level")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The CNN (Dos Santos et al. 2021, Fig. 2).

    ``kind="multi"``: one network sees all channels and outputs one dimming factor per channel.
    ``kind="single"``: one independent network per channel (each sees only its channel),
    evaluated together as a grouped network. Both: ``conv(kernel) -> ReLU -> maxpool(pool)``
    twice (``width`` then ``2 * width`` filters per network), then a dense layer and
    ``alpha_max * sigmoid``. ``head="dense"`` (the paper) feeds the dense layer every feature
    at every position; ``head="mean"`` averages each feature map over the image first (a global
    average pool: far fewer weights, the same answer wherever an active region sits).
    ``padding="same"`` keeps the size through each convolution, ``"valid"`` (the paper's
    Autocalibration6: ``nn.Conv2d(..., kernel_size=3)`` without padding) loses ``kernel - 1``
    pixels. ``ensemble`` independent networks of this kind are trained together (each on its
    own bootstrap weights of the samples) and predict with their mean; their spread is the
    model's own uncertainty of each estimate. ``profile_bins`` (the ``level`` network only): the
    dense layer also sees each channel's mean shape in that many rings of equal width out to
    the frame's corner (limb brightening, the corona's scale height; invariant to rotation).
    """

    kind: str = "multi"
    width: int = 32
    kernel: int = 3
    pool: int = 2
    alpha_max: float = 1.0
    head: str = "dense"
    padding: str = "same"
    ensemble: int = 1
    profile_bins: int = 0

    def __post_init__(self):
        if self.kind not in ARCHITECTURES:
            raise ValueError(f"kind must be one of {ARCHITECTURES}, got {self.kind!r}")
        if self.width < 1 or self.kernel < 1 or self.pool < 1:
            raise ValueError("width, kernel and pool must be positive")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (same-size convolutions), got {self.kernel}")
        if not self.alpha_max > 0:
            raise ValueError(f"alpha_max must be positive, got {self.alpha_max}")
        if self.head not in ("dense", "mean"):
            raise ValueError(f"head must be 'dense' or 'mean', got {self.head!r}")
        if self.padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {self.padding!r}")
        if self.ensemble < 1:
            raise ValueError(f"ensemble must be at least 1, got {self.ensemble}")
        if self.profile_bins < 0 or (self.profile_bins and self.kind != "level"):
            raise ValueError("profile_bins is a count >= 0, for the level network only")


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """The artificial dimming: each channel times ``alpha ~ U(alpha_min, alpha_max)``.

    Drawn per sample and channel at every epoch (the paper: ``U(0.01, 1)``). ``flips`` adds
    random horizontal and vertical flips and, for square frames, transposition: the eight
    symmetries of the square, each equally likely (not in the paper; off by default). A model
    trained with ``flips`` predicts the mean over the eight symmetric copies of a frame
    (:func:`lascoproc.degradation.model.predict`). ``rotate`` turns each sample by a random
    angle about the frame centre (bilinear; not in the paper; off by default): the quiet
    disk is round, so a turned frame is another possible Sun with its active regions and
    coronal holes elsewhere, which is what a network trained on a few dozen frames lacks.
    """

    alpha_min: float = 0.01
    alpha_max: float = 1.0
    flips: bool = False
    rotate: bool = False

    def __post_init__(self):
        if not 0.0 <= self.alpha_min < self.alpha_max:
            raise ValueError(f"need 0 <= alpha_min < alpha_max, got {self.alpha_min}, "
                             f"{self.alpha_max}")


@dataclasses.dataclass(frozen=True)
class ReferenceSplit:
    """The reference period and its split by calendar month.

    The model learns the undimmed Sun from the archive's frames (as distributed: divided by
    ``DEG_COR``) between ``start`` and ``end``, assumed to need little correction there. Frames
    of ``train_months`` train it, frames of ``test_months`` evaluate it, frames of
    ``holdout_months`` are left out so that no active region seen in training (lifetimes up to
    a few rotations) reappears in the test frames.
    """

    start: str = "2010-05-13"
    end: str = "2012-05-12T23:59:59"
    train_months: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    holdout_months: tuple[int, ...] = (8, 9)
    test_months: tuple[int, ...] = (10, 11, 12)
    sample_every: str | None = None
    hours: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.hours is not None:
            hours = tuple(int(h) for h in self.hours)
            if not hours or not all(0 <= h < 24 for h in hours):
                raise ValueError(f"hours must be hours of the day 0-23, got {hours}")
            object.__setattr__(self, "hours", hours)
        for name in ("train_months", "holdout_months", "test_months"):
            months = tuple(int(m) for m in getattr(self, name))
            if not all(1 <= m <= 12 for m in months):
                raise ValueError(f"{name} must be months 1-12, got {months}")
            object.__setattr__(self, name, months)
        sets = [set(self.train_months), set(self.holdout_months), set(self.test_months)]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise ValueError("train, holdout and test months must not overlap")
        if not self.train_months or not self.test_months:
            raise ValueError("train_months and test_months must not be empty")
        if pd.Timestamp(self.end) <= pd.Timestamp(self.start):
            raise ValueError(f"reference period ends ({self.end}) before it starts "
                             f"({self.start})")
        if self.sample_every is not None:
            pd.Timedelta(self.sample_every)  # raises ValueError on nonsense

    def masks(self, times) -> dict[str, np.ndarray]:
        """``{"train", "holdout", "test"}`` boolean masks over ``times`` (datetime64); with
        ``hours``, only frames at those hours (within 6 minutes) are in any of them."""
        times = np.asarray(times, dtype="datetime64[ns]")
        months = (times.astype("datetime64[M]").astype(np.int64) % 12) + 1
        at = at_hours(times, self.hours) if self.hours is not None else True
        return {name: np.isin(months, getattr(self, f"{name}_months")) & at
                for name in ("train", "holdout", "test")}


#: Hours of the day within this many minutes of a listed hour count as that hour.
HOUR_TOLERANCE_MINUTES = 6.0


def at_hours(times, hours) -> np.ndarray:
    """Which ``times`` lie within :data:`HOUR_TOLERANCE_MINUTES` of one of ``hours`` (UTC)."""
    times = np.asarray(times, dtype="datetime64[ns]")
    minutes = (times - times.astype("datetime64[D]")).astype(np.int64) / 6e10
    keep = np.zeros(times.shape, dtype=bool)
    for hour in hours:
        distance = np.abs((minutes - 60.0 * hour + 720.0) % 1440.0 - 720.0)
        keep |= distance <= HOUR_TOLERANCE_MINUTES
    return keep


_AGGREGATES = ("median", "huber", "mean")


@dataclasses.dataclass(frozen=True)
class SeriesRecipe:
    """How a model's degradation series is made (the defaults of ``aia degradation``).

    Attributes
    ----------
    cadence
        Time-bin length (a pandas frequency: ``"30D"``, ``"MS"`` for calendar months).
    aggregate
        How the per-frame estimates of a bin become one value: ``"median"``, ``"huber"`` (a
        Huber M-estimate of location with the per-frame uncertainties as scale) or ``"mean"``.
    days
        Use only frames of these days of the month (the paper: 1, 8, 15, 22, 29); ``None``: all.
    hours
        Use only frames at these hours UTC (within 6 minutes); ``None``: all.
    normalise_reference
        Compare with the reference table's factor divided by its value at the first bin (the
        paper: "V10 normalised to its first value"), not with the factor itself.
    reference_error
        Relative accuracy assumed of the archive's ``DEG_COR`` over the reference period, a
        systematic part of every bin's uncertainty
        (:func:`lascoproc.degradation.series.bin_estimates`).
    """

    cadence: str = "30D"
    aggregate: str = "median"
    days: tuple[int, ...] | None = None
    hours: tuple[int, ...] | None = None
    normalise_reference: bool = False
    reference_error: float = 0.0

    def __post_init__(self):
        if self.aggregate not in _AGGREGATES:
            raise ValueError(f"aggregate must be one of {_AGGREGATES}, got {self.aggregate!r}")
        if not 0.0 <= self.reference_error < 1.0:
            raise ValueError(f"reference_error is a relative error in [0, 1), got "
                             f"{self.reference_error}")
        pd.tseries.frequencies.to_offset(self.cadence)  # raises ValueError on nonsense
        if self.days is not None:
            days = tuple(int(d) for d in self.days)
            if not days or not all(1 <= d <= 31 for d in days):
                raise ValueError(f"days must be days of the month 1-31, got {days}")
            object.__setattr__(self, "days", days)
        if self.hours is not None:
            hours = tuple(int(h) for h in self.hours)
            if not hours or not all(0 <= h < 24 for h in hours):
                raise ValueError(f"hours must be hours of the day 0-23, got {hours}")
            object.__setattr__(self, "hours", hours)

    def keep(self, times) -> np.ndarray:
        """Which ``times`` the recipe uses (days and hours)."""
        times = pd.DatetimeIndex(np.asarray(times, dtype="datetime64[ns]"))
        keep = np.ones(len(times), dtype=bool)
        if self.days is not None:
            keep &= np.isin(times.day, self.days)
        if self.hours is not None:
            keep &= at_hours(times.to_numpy(), self.hours)
        return keep


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything a weights file needs to be used again: preprocessing, network, training.

    ``preset`` names the recipe the model was made with (``"fast"``, ``"paper"``, or ``None``
    for a hand-made configuration).
    """

    preprocessing: Preprocessing
    architecture: Architecture
    augmentation: Augmentation = Augmentation()
    split: ReferenceSplit = ReferenceSplit()
    series: SeriesRecipe = SeriesRecipe()
    preset: str | None = None

    @property
    def channels(self) -> tuple[int, ...]:
        return self.preprocessing.channels

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        try:
            return cls(
                preprocessing=Preprocessing(**data["preprocessing"]),
                architecture=Architecture(**data["architecture"]),
                augmentation=Augmentation(**data.get("augmentation", {})),
                split=ReferenceSplit(**data.get("split", {})),
                series=SeriesRecipe(**data.get("series", {})),
                preset=data.get("preset"),
            )
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a degradation model configuration: {err}") from err

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))
