"""fsspec access shared by every reader and writer.

Every path the package accepts may be a local path, a ``file://`` URL or a remote URL
(``s3://``, ``gs://``, ``https://``...). Remote object stores are opened anonymously unless the
caller passes credentials in ``storage_options``: the public archives (NRL's LASCO tree mirrors,
SDOML on AWS open data) need none.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.core import url_to_fs

__all__ = ["get_fs", "join", "protocol_of", "EXTRA_FOR_PROTOCOL"]

#: Which optional extra of lascoproc provides the fsspec driver of a protocol.
EXTRA_FOR_PROTOCOL = {
    "s3": ("s3fs", "cloud"),
    "s3a": ("s3fs", "cloud"),
    "gs": ("gcsfs", "cloud"),
    "gcs": ("gcsfs", "cloud"),
    "http": ("aiohttp", "cloud"),
    "https": ("aiohttp", "cloud"),
}

_ANONYMOUS_OPTION = {"s3": {"anon": True}, "s3a": {"anon": True}, "gs": {"token": "anon"},
                     "gcs": {"token": "anon"}}


def protocol_of(url: str) -> str:
    """Return the fsspec protocol of ``url`` (``"file"`` for plain paths)."""
    if "://" not in str(url):
        return "file"
    return str(url).split("://", 1)[0].lower()


def default_storage_options(url: str, storage_options: Mapping[str, Any] | None) -> dict:
    """Storage options for ``url``: anonymous for object stores unless credentials are given."""
    options = dict(storage_options or {})
    proto = protocol_of(url)
    if not options and proto in _ANONYMOUS_OPTION:
        options.update(_ANONYMOUS_OPTION[proto])
    return options


def get_fs(url: str, storage_options: Mapping[str, Any] | None = None):
    """Return ``(filesystem, path)`` for ``url``.

    Raises
    ------
    ImportError
        When the fsspec driver for the URL's protocol is not installed; the message names the
        lascoproc extra that provides it (``pip install 'lascoproc[cloud]'``).
    """
    url = str(url)
    options = default_storage_options(url, storage_options)
    try:
        return url_to_fs(url, **options)
    except ImportError as err:
        proto = protocol_of(url)
        package, extra = EXTRA_FOR_PROTOCOL.get(proto, (proto, "cloud"))
        raise ImportError(
            f"reading {url!r} needs the fsspec driver {package!r}: "
            f"pip install 'lascoproc[{extra}]'"
        ) from err


def join(fs: fsspec.AbstractFileSystem, *parts: str) -> str:
    """Join path parts with the separator of ``fs`` (always ``/`` for fsspec paths)."""
    del fs
    return posixpath.join(*[str(p) for p in parts])
