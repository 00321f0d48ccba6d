"""Optional dependencies and the ``lascoproc`` extra that installs each.

The heavy ones are imported only where used (torch for the networks, matplotlib for plots,
s3fs/gcsfs for object stores, dask-kubernetes and dask-jobqueue for clusters); when one is
missing, :func:`require` and :func:`explain` say which extra to install instead of a bare
``No module named ...``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "require", "explain"]

#: Top-level module -> the extra of ``pyproject.toml`` that installs it.
EXTRAS = {
    "torch": "ml",
    "matplotlib": "plot",
    "s3fs": "cloud",
    "gcsfs": "cloud",
    "dask_kubernetes": "kubernetes",
    "kubernetes": "kubernetes",
    "dask_jobqueue": "hpc",
    "cryptography": "hpc",
    "sunpy": "sunpy",
}


def explain(err: ImportError, purpose: str | None = None) -> str | None:
    """The message for a missing optional module (``None`` when ``err`` is not about one of
    :data:`EXTRAS`): what needs it and the ``pip install 'lascoproc[extra]'`` line."""
    name = (getattr(err, "name", None) or "").split(".")[0]
    extra = EXTRAS.get(name)
    if extra is None:
        return None
    what = f"{purpose} needs {name}" if purpose else f"{name} is not installed"
    return f"{what}: pip install 'lascoproc[{extra}]'"


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`ImportError` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        message = explain(err, purpose)
        if message is None:
            raise
        raise ImportError(message, name=err.name) from err
