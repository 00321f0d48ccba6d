"""The two recipes of ``lascoproc aia train``: ``fast`` (the CPU default) and ``paper``.

A preset is a complete model recipe: preprocessing, network, dimming draws, reference split,
series recipe and training options. Options given on the command line replace single fields
of it (:func:`recipe`). Without ``--preset`` the device decides (:func:`choose_preset`): the
paper's recipe on a GPU, where its 256x256 network trains in reasonable time, the fast recipe
on a CPU; the choice and its reason are logged and written into the model file.

``paper`` is Dos Santos et al. 2021 (A&A 648, A53) as their code runs it
(spaceml-org/expanding-sdo-capabilities ``config/autocal_paper_config.yaml``,
``sdo.models.autocalibration6.Autocalibration6``, ``sdo.datasets.sdo_dataset``,
``sdo.io.AUNIT_BYCH``): 512 -> 256 by taking every second pixel; each channel divided by a fixed
constant (:data:`~lascoproc.degradation.config.PAPER_SCALING`); pixels beyond 200/subsample
pixels from the centre set to zero; Autocalibration6 (``conv 3x3`` valid 64 -> ReLU -> max-pool
3 -> ``conv 3x3`` valid 128 -> ReLU -> max-pool 3 -> dense -> sigmoid); alpha ``U(0.01, 1)``;
Adam 1e-3, batch 64, 1000 epochs; frames of 2010-2013 at 00, 06, 12 and 18 UT, months
January-July train, August-October test, November-December held out. The degradation curve
from days 1, 8, 15, 22 and 29 of each month (at those hours), the median of the predictions per
month, compared with the V10 factor normalised to its first value.

``fast`` is this project's recipe for two CPU cores and ten minutes (docs/aia_degradation.md,
"The fast recipe": every choice in it was measured on the family's tuning members).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lascoproc.degradation.config import (
    EUV_CHANNELS,
    PAPER_SCALING,
    SDOML_RSUN_FRACTION,
    SDOML_SIZE,
    Architecture,
    Augmentation,
    Preprocessing,
    ReferenceSplit,
    SeriesRecipe,
)

__all__ = ["PRESETS", "Recipe", "recipe", "choose_preset", "PAPER_APODISE"]

#: The paper's apodisation, ``dist < 200 / subsample`` pixels at ``512 / subsample``: in solar
#: radii of the SDOML disk (203.3 px at 512), 0.984.
PAPER_APODISE = 200.0 / (SDOML_RSUN_FRACTION * SDOML_SIZE)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything a preset fixes; :func:`recipe` returns one with the user's changes."""

    name: str
    preprocessing: Preprocessing
    architecture: Architecture
    augmentation: Augmentation
    split: ReferenceSplit
    series: SeriesRecipe
    batch_size: int
    learning_rate: float
    schedule: str
    epochs: int
    weight_decay: float = 0.0
    torch_threads: int | None = None

    def options(self) -> dict[str, Any]:
        """The training options (:class:`~lascoproc.degradation.train.TrainOptions` fields)."""
        return {"batch_size": self.batch_size, "learning_rate": self.learning_rate,
                "schedule": self.schedule, "epochs": self.epochs,
                "weight_decay": self.weight_decay, "torch_threads": self.torch_threads}


def _fast() -> Recipe:
    return Recipe(
        name="fast",
        preprocessing=Preprocessing(channels=EUV_CHANNELS, size=64, transform="log",
                                    floor=0.03),
        architecture=Architecture(kind="level", width=16, alpha_max=1.2, profile_bins=16),
        augmentation=Augmentation(alpha_min=0.01, alpha_max=1.2, flips=True, rotate=True),
        split=ReferenceSplit(),
        series=SeriesRecipe(cadence="30D", aggregate="median"),
        batch_size=16, learning_rate=1e-3, schedule="cosine", epochs=100_000,
        torch_threads=1,
    )


def _paper() -> Recipe:
    return Recipe(
        name="paper",
        preprocessing=Preprocessing(
            channels=EUV_CHANNELS, size=256, resample="decimate", transform="linear",
            apodise=PAPER_APODISE, scaling=tuple(PAPER_SCALING[c] for c in EUV_CHANNELS)),
        architecture=Architecture(kind="multi", width=64, kernel=3, pool=3, padding="valid",
                                  head="dense", alpha_max=1.0),
        augmentation=Augmentation(alpha_min=0.01, alpha_max=1.0),
        split=ReferenceSplit(start="2010-01-01", end="2013-12-31T23:59:59",
                             train_months=(1, 2, 3, 4, 5, 6, 7), test_months=(8, 9, 10),
                             holdout_months=(11, 12), hours=(0, 6, 12, 18)),
        series=SeriesRecipe(cadence="MS", aggregate="median", days=(1, 8, 15, 22, 29),
                            hours=(0, 6, 12, 18), normalise_reference=True),
        batch_size=64, learning_rate=1e-3, schedule="constant", epochs=1000,
    )


#: The presets by name.
PRESETS = {"fast": _fast, "paper": _paper}


def choose_preset(preset: str | None, device: str) -> tuple[str, str]:
    """``(preset, reason)``: ``preset`` if given, else by the device the run uses.

    ``device`` is the resolved torch device (``"cpu"``, ``"cuda"``, ``"cuda:1"``...).
    """
    if preset not in (None, "auto"):
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; one of {sorted(PRESETS)}")
        return preset, f"--preset {preset}"
    if str(device).startswith("cuda"):
        return "paper", f"no --preset: the paper's recipe on the GPU ({device})"
    return "fast", "no --preset: the fast recipe on the CPU (the paper's 256x256 network " \
                   "needs a GPU)"


def recipe(name: str, **changes) -> Recipe:
    """The preset ``name`` with ``changes``: any :class:`Preprocessing`, :class:`Architecture`,
    :class:`Augmentation`, :class:`ReferenceSplit` or :class:`SeriesRecipe` field (by its
    name; ``alpha_max`` sets both the draws and the output) or a training option; ``None``
    values are ignored (an option not given).

    Raises
    ------
    ValueError
        For a name that is no field of any part.
    """
    base = PRESETS[name]()
    changes = {k: v for k, v in changes.items() if v is not None}
    if changes.get("kind", "level") != "level" and "profile_bins" not in changes:
        changes["profile_bins"] = 0  # the radial rings belong to the level network
    parts = {"preprocessing": base.preprocessing, "architecture": base.architecture,
             "augmentation": base.augmentation, "split": base.split, "series": base.series}
    updated = {}
    for part, value in parts.items():
        fields = {f.name for f in dataclasses.fields(value)}
        mine = {k: v for k, v in changes.items() if k in fields}
        if part == "preprocessing" and "scaling" not in mine and (
                "channels" in mine and value.scaling is not None):
            mine["scaling"] = tuple(PAPER_SCALING[int(c)] for c in mine["channels"]) \
                if name == "paper" else None
        updated[part] = dataclasses.replace(value, **mine) if mine else value
    top = {f.name for f in dataclasses.fields(Recipe)} - set(parts) - {"name"}
    unknown = set(changes) - top - {f.name for p in parts.values()
                                    for f in dataclasses.fields(p)}
    if unknown:
        raise ValueError(f"unknown recipe options {sorted(unknown)}")
    return dataclasses.replace(base, **updated, **{k: v for k, v in changes.items()
                                                   if k in top})
