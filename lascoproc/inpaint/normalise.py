"""Per-image, invertible intensity normalisation for inpainting (numpy only).

Coronagraph images span several decades (the K and F corona fall off roughly as ``r^-2..-3``
from the occulter to the field stop) and come on any scale: level-1 mean solar brightness
(~1e-13..1e-8 MSB, negative near the occulter after the bias subtraction), raw DN (~1e2..1e4),
byte-scaled browse images (0..255). The network and the classical fill both work on::

    y = asinh(x / beta) / G,        x = beta * sinh(G * y)           (exact inverse)

    s    = the 99.5th percentile of |x| over the observed pixels of the image
    beta = SOFTENING * s            (SOFTENING = 1e-3)
    G    = asinh(1 / SOFTENING)     (so that |x| = s maps to |y| = 1)

``asinh`` is logarithmic above ``beta`` and linear (sign-preserving) below it, so faint and
negative pixels stay defined, and three decades below the bright end are spread evenly. The
transform depends on the image only through ``s``: scaling an image by ``k > 0`` scales ``s``
and ``beta`` by ``k`` and leaves ``y`` unchanged, so a fill in ``y`` and back restores the
original scale whatever the units. An image with no observed pixel, or only zeros, gets
``beta = 1`` (nothing to learn the scale from; its fills are clamped to its observed range).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["SOFTENING", "SCALE_PERCENTILE", "AsinhNormaliser"]

#: ``beta / s``: where the transform turns from logarithmic to linear, relative to the scale.
SOFTENING = 1.0e-3
#: Percentile of ``|x|`` over the observed pixels that sets the scale ``s``.
SCALE_PERCENTILE = 99.5


@dataclasses.dataclass(frozen=True)
class AsinhNormaliser:
    """``y = asinh(x / beta) / gain`` and its inverse (module docstring).

    Attributes
    ----------
    beta
        Softening in the image's own units.
    gain
        ``asinh(1 / softening)``.
    """

    beta: float
    gain: float = float(np.arcsinh(1.0 / SOFTENING))

    @classmethod
    def fit(cls, image: np.ndarray, observed: np.ndarray | None = None, *,
            softening: float = SOFTENING,
            percentile: float = SCALE_PERCENTILE) -> AsinhNormaliser:
        """The normaliser of one image from its observed (finite, not missing) pixels."""
        image = np.asarray(image)
        use = np.isfinite(image) if observed is None else (np.asarray(observed, bool)
                                                          & np.isfinite(image))
        values = np.abs(image[use].astype(np.float64))
        scale = float(np.percentile(values, percentile)) if values.size else 0.0
        beta = softening * scale if scale > 0.0 else 1.0
        return cls(beta=beta, gain=float(np.arcsinh(1.0 / softening)))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``asinh(x / beta) / gain`` in float64 (NaN stays NaN); one new array, the same
        operations in place."""
        y = np.array(x, dtype=np.float64)
        y /= self.beta
        np.arcsinh(y, out=y)
        y /= self.gain
        return y[()] if y.ndim == 0 else y

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """``beta * sinh(gain * y)`` in float64; one new array, the same operations in
        place."""
        x = np.array(y, dtype=np.float64)
        x *= self.gain
        np.sinh(x, out=x)
        x *= self.beta
        return x[()] if x.ndim == 0 else x
