"""Missing-block inpainting of coronagraph frames.

Public API (plain arrays and cubes; torch is imported only when the network runs):

- :func:`fill` / :func:`fill_frames`: fill the missing pixels of 2-D images / a stack of frames
  on any intensity scale with one of :data:`METHODS`: the shipped polar residual network
  (``"network"``), the radial fill about the Sun centre (``"radial"``), NRL's fuzzy fill
  (``"fuzzy"``), biharmonic interpolation (``"biharmonic"``), neighbouring frames
  (``"temporal"``, stacks only), or per frame whichever of network, radial and biharmonic
  does best on pseudo-holes cut from the frame itself (``"auto"``,
  :mod:`lascoproc.inpaint.select`); observed pixels are returned bit for bit.
- :func:`inpaint_cube`: the same on a lazy level-1 cube, driven by its ``quality`` flags and
  per-frame coordinates; sets the ``filled`` (and ``filled_temporal``) bits.
- :func:`detect_missing_blocks`: the exact missing-telemetry mask of a level-0.5 frame
  (:mod:`lascoproc.kernels.missing_blocks`).

Training (:mod:`lascoproc.inpaint.patch_training`, :mod:`lascoproc.inpaint.train_gpu`),
evaluation (:mod:`lascoproc.inpaint.evaluate`, :mod:`lascoproc.inpaint.scenes`) and the
shipped weights (:mod:`lascoproc.inpaint.model_registry`) are documented in
``docs/inpainting.md``.
"""

from lascoproc.inpaint.cube import inpaint_cube
from lascoproc.inpaint.fill import METHODS, fill, fill_frames
from lascoproc.kernels.missing_blocks import detect_missing_blocks

__all__ = ["METHODS", "fill", "fill_frames", "inpaint_cube", "detect_missing_blocks"]
