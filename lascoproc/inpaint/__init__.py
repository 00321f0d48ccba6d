"""Missing-block inpainting of coronagraph frames.

Public API (plain arrays and cubes; torch is imported only when the network runs):

- :func:`fill` / :func:`fill_frames`: fill the missing pixels of 2-D images / a stack of frames
  on any intensity scale, with the partial-convolution network (default: the shipped model) or
  the classical fallback (``method="fallback"``); observed pixels are returned bit for bit.
- :func:`inpaint_cube`: the same on a lazy level-1 cube, driven by its ``quality`` flags; sets
  the ``filled`` bit.
- :func:`detect_missing_blocks`: the exact missing-telemetry mask of a level-0.5 frame
  (:mod:`lascoproc.kernels.missing_blocks`).

Training (:mod:`lascoproc.inpaint.training`), evaluation (:mod:`lascoproc.inpaint.evaluate`)
and the shipped weights (:mod:`lascoproc.inpaint.model_registry`) are documented in
``docs/inpainting.md``.
"""

from lascoproc.inpaint.cube import inpaint_cube
from lascoproc.inpaint.fill import METHODS, fill, fill_frames
from lascoproc.kernels.missing_blocks import detect_missing_blocks

__all__ = ["METHODS", "fill", "fill_frames", "inpaint_cube", "detect_missing_blocks"]
