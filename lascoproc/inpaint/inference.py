"""Batched network inference on normalised frames, on a GPU when there is one (torch).

:func:`predict` takes frames already normalised (:mod:`lascoproc.inpaint.normalise`) and their
known-pixel masks, and returns the network's image for every pixel; compositing with the
observed pixels and the inverse normalisation are done by :func:`lascoproc.inpaint.fill_frames`
in numpy, so observed pixels never pass through the network.

Device: ``"cuda"`` when available, else ``"cpu"`` (``device=None``). A CUDA out-of-memory error
halves the batch and retries; at a batch of one it falls back to the CPU, with a log message.
Mixed precision: ``amp="bf16"`` or ``"fp16"`` runs the forward pass under ``torch.autocast``
(the partial convolutions' mask arithmetic stays float32); the output is float32.
"""

from __future__ import annotations

import copy
import logging
import os

import numpy as np
import torch

from lascoproc.inpaint.model import PConvUNet, pad_to_multiple

__all__ = ["default_device", "auto_batch_size", "predict", "AMP_DTYPES"]

log = logging.getLogger(__name__)

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: Bytes of activations per pixel and channel of the network, relative to float32, with the
#: temporaries of concatenation and masking (measured: ~3 live copies per level at peak).
_LIVE_COPIES = 3.0
_MAX_BATCH = 64


def default_device() -> str:
    """``"cuda"`` if torch sees a CUDA device, else ``"cpu"``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _resolve_device(device: str | torch.device | None) -> torch.device:
    device = torch.device(device or default_device())
    if device.type == "cuda" and not torch.cuda.is_available():
        log.info("CUDA requested but not available: inpainting on the CPU")
        return torch.device("cpu")
    return device


def frame_bytes(model: PConvUNet, shape: tuple[int, int], amp: str | None = None) -> int:
    """Estimated peak activation memory of one frame of ``shape`` (bytes)."""
    cfg = model.config
    h, w = (-(-s // model.multiple) * model.multiple for s in shape)
    channels = 2 + 2 * cfg.width + cfg.refine * (cfg.refine_width + 2)  # full resolution
    for level, c in enumerate(cfg.channels()):
        channels += 3 * c / 4 ** (level + 1)  # encoder out, decoder in (cat) and out
    size = 2 if amp in AMP_DTYPES else 4
    return int(h * w * channels * size * _LIVE_COPIES)


def auto_batch_size(model: PConvUNet, shape: tuple[int, int], device: str | torch.device,
                    amp: str | None = None, *, fraction: float = 0.5) -> int:
    """Frames per batch that fit in ``fraction`` of the free memory of ``device``.

    CUDA: ``torch.cuda.mem_get_info``; CPU: the available physical memory, at most 8 frames
    (a CPU gains nothing from bigger batches). Between 1 and 64.
    """
    device = torch.device(device)
    per_frame = max(frame_bytes(model, shape, amp), 1)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        cap = _MAX_BATCH
    else:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
            free = 2 ** 31
        cap = 8
    return int(max(1, min(cap, (fraction * free) // per_frame)))


def _tensor(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))[:, None].to(device)


def _run(model: PConvUNet, y: np.ndarray, known: np.ndarray, prior: np.ndarray | None,
         usable: np.ndarray | None, device: torch.device, amp: str | None
         ) -> tuple[np.ndarray, np.ndarray]:
    image, mask, (h, w) = pad_to_multiple(_tensor(y, device), _tensor(known, device),
                                          model.multiple)
    extra = ()
    if prior is not None:
        p, pm, _ = pad_to_multiple(_tensor(prior, device), _tensor(usable, device),
                                   model.multiple)
        extra = (p, pm)
    dtype = AMP_DTYPES.get(amp or "")
    with torch.inference_mode(), torch.autocast(device_type=device.type, dtype=dtype,
                                                enabled=dtype is not None):
        outputs, reached = model(image, mask, *extra)
    out = outputs[-1][:, 0, :h, :w].float().cpu().numpy()
    return out, reached[:, 0, :h, :w].cpu().numpy() > 0


def predict(model: PConvUNet, y: np.ndarray, known: np.ndarray, *,
            prior: np.ndarray | None = None, usable: np.ndarray | None = None,
            batch_size: int | None = None, device: str | torch.device | None = None,
            amp: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The network's image for frames ``y`` ``(N, H, W)`` with known pixels ``known``.

    A network with a prior (``model.config.prior != "none"``) also needs the classical fill
    ``prior`` (finite on ``usable``: the known pixels and the holes) of the same shape.

    Returns ``(prediction, reached)``: float32 ``(N, H, W)`` normalised values, and where the
    network had a known pixel within its receptive field (elsewhere the prediction is 0 and
    the caller should use another fill). ``model`` must be on ``device`` (see
    :func:`lascoproc.inpaint.model_registry.load_model`).
    """
    if amp not in (None, "none", *AMP_DTYPES):
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', not {amp!r}")
    amp = None if amp == "none" else amp
    y = np.asarray(y, dtype=np.float32)
    known = np.asarray(known, dtype=bool)
    if y.ndim != 3 or known.shape != y.shape:
        raise ValueError(f"y {y.shape} and known {known.shape} must be the same (N, H, W)")
    if (model.config.prior != "none") != (prior is not None):
        raise ValueError(f"the network's prior is {model.config.prior!r}: pass prior (and "
                         "usable) exactly when it is not 'none'")
    if prior is not None:
        usable = np.asarray(usable, dtype=bool)
        prior = np.where(usable, np.asarray(prior, dtype=np.float32), np.float32(0.0))
    device = _resolve_device(device)
    if batch_size is None:
        batch_size = auto_batch_size(model, y.shape[1:], device, amp)
    batch_size = max(1, int(batch_size))
    out = np.empty(y.shape, np.float32)
    reached = np.empty(y.shape, bool)
    start = 0
    while start < y.shape[0]:
        stop = min(start + batch_size, y.shape[0])
        try:
            sl = slice(start, stop)
            out[sl], reached[sl] = _run(model, y[sl], known[sl],
                                        None if prior is None else prior[sl],
                                        None if prior is None else usable[sl], device, amp)
        except torch.OutOfMemoryError:
            if device.type != "cuda":
                raise
            torch.cuda.empty_cache()
            if batch_size > 1:
                batch_size //= 2
                log.info("CUDA out of memory: inpainting batch size now %d", batch_size)
            else:
                log.warning("CUDA out of memory at batch size 1: inpainting on the CPU")
                device = torch.device("cpu")
                model = copy.deepcopy(model).to("cpu")  # the cached CUDA model stays as it is
            continue
        start = stop
    return out, reached
