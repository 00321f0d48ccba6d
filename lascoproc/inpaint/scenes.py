"""Real coronagraph scenes and the hole protocol of issue 10 (numpy).

A *scene* is one real image with what the protocol needs to know about it: the Sun centre, the
field (which pixels hold data), the annulus where holes are cut and the block size. Scenes are
described in a JSON manifest next to their ``.npy`` images (``tests/data/scenes/scenes.json``
for the shared real scenes, with their provenance). FITS images are converted to ``.npy``
beforehand: only :mod:`lascoproc.io` reads FITS.

Protocol (:func:`protocol_holes`): ``blocks`` (24) grid-aligned ``block x block`` blocks
(the grid anchored at pixel ``(0, 0)``) are removed, drawn without replacement with
``numpy.random.default_rng(seed)`` among the blocks all of whose pixels hold data and lie at
``annulus[0] <= r <= annulus[1]`` from the Sun centre (150-420 px for a 1024 x 1024 C3 frame,
the same fraction of the field for other instruments). Each method fills the scene
(:func:`lascoproc.inpaint.fill_frames`), and the fill is scored inside the holes in the units of
the data (:func:`score`): PSNR with the peak ``R`` = max - min of the truth over the annulus's
data pixels, SSIM (Gaussian window, the same ``R``), and L1 / R. Several draws (seeds) of one
scene are pooled: PSNR from the mean squared error over all their hole pixels, SSIM and L1 as
means over them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from lascoproc.inpaint import metrics

__all__ = ["Scene", "load_scenes", "protocol_holes", "score", "SCENES_DIR", "BLOCKS"]

#: The shared real scenes copied into the repository.
SCENES_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "scenes"
#: Blocks removed per draw.
BLOCKS = 24


@dataclasses.dataclass(frozen=True)
class Scene:
    """A real image and its geometry (module docstring)."""

    name: str
    image: np.ndarray
    valid: np.ndarray
    center: tuple[float, float]
    annulus: tuple[float, float]
    block: int
    units: str = ""
    instrument: str = ""

    def radius(self) -> np.ndarray:
        ny, nx = self.image.shape
        yy, xx = np.mgrid[0:ny, 0:nx]
        return np.hypot(xx - self.center[0], yy - self.center[1])

    def data_range(self) -> float:
        """``R``: max - min of the data over the annulus (module docstring)."""
        r = self.radius()
        sel = self.valid & (r >= self.annulus[0]) & (r <= self.annulus[1])
        if not sel.any():
            raise ValueError(f"scene {self.name}: no data pixel lies in the annulus "
                             f"{self.annulus} around the centre {self.center}")
        values = self.image[sel].astype(np.float64)
        return float(values.max() - values.min())


def _valid(image: np.ndarray, rule: str, entry: dict) -> np.ndarray:
    finite = np.isfinite(image) if image.dtype.kind == "f" else np.ones(image.shape, bool)
    if rule == "finite":
        return finite
    if rule == "nonzero":
        return finite & (image != 0)
    if rule.startswith("not "):
        return finite & (image != image.dtype.type(entry["fill_value"]))
    raise ValueError(f"unknown validity rule {rule!r}")


def load_scenes(manifest: str | os.PathLike | None = None,
                names: list[str] | None = None) -> list[Scene]:
    """The scenes of a manifest (default: the shared real scenes, :data:`SCENES_DIR`)."""
    path = Path(manifest) if manifest is not None else SCENES_DIR / "scenes.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no scene manifest {path}" + ("" if manifest is not None else
                                           ": the shared scenes are in the source tree's "
                                           "tests/data/scenes; pass a manifest instead"))
    entries = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for name, entry in entries.items():
        if names and name not in names:
            continue
        image = np.load(path.parent / entry["file"], allow_pickle=False)
        if image.ndim != 2:
            raise ValueError(f"scene {name}: image must be 2-D, not {image.shape}")
        out.append(Scene(name=name, image=image, valid=_valid(image, entry["valid"], entry),
                         center=(float(entry["center"][0]), float(entry["center"][1])),
                         annulus=(float(entry["annulus"][0]), float(entry["annulus"][1])),
                         block=int(entry["block"]), units=entry.get("units", ""),
                         instrument=entry.get("instrument", "")))
    if names:
        missing = set(names) - {s.name for s in out}
        if missing:
            raise ValueError(f"no scene named {sorted(missing)} in {path}")
    return out


def candidate_blocks(scene: Scene) -> list[tuple[int, int]]:
    """Blocks ``(row, column)`` of the grid that may be removed (module docstring)."""
    b = scene.block
    ny, nx = scene.image.shape
    r = scene.radius()
    inside = scene.valid & (r >= scene.annulus[0]) & (r <= scene.annulus[1])
    nby, nbx = ny // b, nx // b
    whole = inside[:nby * b, :nbx * b].reshape(nby, b, nbx, b).all(axis=(1, 3))
    return [(int(j), int(i)) for j, i in zip(*np.nonzero(whole), strict=True)]


def protocol_holes(scene: Scene, seed: int, blocks: int = BLOCKS) -> np.ndarray:
    """The hole mask of draw ``seed`` (module docstring)."""
    candidates = candidate_blocks(scene)
    if len(candidates) < blocks:
        raise ValueError(f"scene {scene.name}: only {len(candidates)} blocks of {scene.block} "
                         f"px lie in the annulus {scene.annulus}, {blocks} wanted")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(candidates), blocks, replace=False)
    holes = np.zeros(scene.image.shape, bool)
    b = scene.block
    for k in np.sort(chosen):
        j, i = candidates[k]
        holes[j * b:(j + 1) * b, i * b:(i + 1) * b] = True
    return holes


@dataclasses.dataclass
class Score:
    """Sums over the hole pixels of one or more draws (module docstring)."""

    squared: float = 0.0
    absolute: float = 0.0
    ssim: float = 0.0
    pixels: int = 0

    def add(self, filled: np.ndarray, truth: np.ndarray, holes: np.ndarray,
            value_range: float) -> None:
        f = filled.astype(np.float64)
        t = truth.astype(np.float64)
        d = f[holes] - t[holes]
        self.squared += float(np.sum(d * d))
        self.absolute += float(np.sum(np.abs(d)))
        self.ssim += metrics.ssim(f, t, holes, value_range) * int(holes.sum())
        self.pixels += int(holes.sum())

    def result(self, value_range: float) -> dict[str, float]:
        mse = self.squared / max(self.pixels, 1)
        psnr = float("inf") if mse == 0 else 10.0 * np.log10(value_range ** 2 / mse)
        return {"psnr": float(psnr), "ssim": self.ssim / max(self.pixels, 1),
                "l1": self.absolute / max(self.pixels, 1) / value_range}


def score(filled: np.ndarray, truth: np.ndarray, holes: np.ndarray, value_range: float
          ) -> dict[str, float]:
    """PSNR, SSIM and L1 / R of one fill inside its holes (module docstring)."""
    s = Score()
    s.add(filled, truth, holes, value_range)
    return s.result(value_range)
