"""fsspec access shared by every reader and writer.

Every path the package accepts may be a local path, a ``file://`` URL or a remote URL
(``s3://``, ``gs://``, ``https://``...). Remote object stores are opened anonymously unless the
caller passes credentials in ``storage_options``: the public archives (NRL's LASCO tree mirrors,
SDOML on AWS open data) need none.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from lascoproc.redaction import redact_text, redact_url

__all__ = ["get_fs", "join", "protocol_of", "redact_url", "redact_text", "write_json_atomic",
           "absolute_location", "provenance_location", "EXTRA_FOR_PROTOCOL"]

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


def absolute_location(url: str) -> str:
    """``url`` with a relative local path made absolute (against the current directory), so
    that it names the same place from any directory; absolute paths and URLs (``file://``
    included) are returned unchanged, and a trailing ``/`` is kept."""
    text = str(url)
    if not text or "://" in text or os.path.isabs(text):
        return text
    return os.path.abspath(text) + ("/" if text.endswith(("/", os.sep)) else "")


def provenance_location(url: str) -> str:
    """How a location is recorded in provenance (store attributes, run reports): a local path
    absolute (:func:`absolute_location`: a store opened from another directory still points at
    its inputs), a URL without credentials (:func:`redact_url`)."""
    return redact_url(absolute_location(url))


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
    url, options = _credentials_out_of_url(str(url), default_storage_options(url,
                                                                              storage_options))
    options = _http_timeout(url, options)
    try:
        return url_to_fs(url, **options)
    except ImportError as err:
        proto = protocol_of(url)
        package, extra = EXTRA_FOR_PROTOCOL.get(proto, (proto, "cloud"))
        raise ImportError(
            f"reading {url!r} needs the fsspec driver {package!r}: "
            f"pip install 'lascoproc[{extra}]'"
        ) from err


def _credentials_out_of_url(url: str, options: dict) -> tuple[str, dict]:
    """An ``http(s)://user:password@host/...`` URL becomes the URL without them and HTTP basic
    authentication in the driver's options, so that no path derived from it (listings, frame
    paths, attributes, messages) ever carries the password. Other drivers take credentials out
    of their URLs themselves."""
    if protocol_of(url) not in ("http", "https") or "@" not in url.split("/", 3)[2]:
        return url, options
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    clean = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, parts.query,
                        parts.fragment))
    if parts.username is not None:
        import base64

        token = base64.b64encode(f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                                 .encode()).decode("ascii")
        client = dict(options.get("client_kwargs", {}))
        client["headers"] = {"Authorization": f"Basic {token}",
                             **dict(client.get("headers", {}))}
        options = {**options, "client_kwargs": client}
    return clean, options


def _http_timeout(url: str, options: dict) -> dict:
    """``timeout=SECONDS`` (e.g. ``--storage-option timeout=30``) for an http(s) archive:
    a request that takes longer (a stalled server) fails and is retried, instead of hanging."""
    if protocol_of(url) not in ("http", "https") or "timeout" not in options:
        return options
    from aiohttp import ClientTimeout

    options = dict(options)
    seconds = float(options.pop("timeout"))
    client = dict(options.get("client_kwargs", {}))
    client.setdefault("timeout", ClientTimeout(total=seconds, sock_read=seconds))
    options["client_kwargs"] = client
    return options


def join(fs: fsspec.AbstractFileSystem, *parts: str) -> str:
    """Join path parts with the separator of ``fs`` (always ``/`` for fsspec paths)."""
    del fs
    return posixpath.join(*[str(p) for p in parts])


def write_json_atomic(path: str, value: Any, *,
                      storage_options: Mapping[str, Any] | None = None) -> None:
    """Write ``value`` as JSON to ``path``: to a temporary name beside it, then renamed, so a
    crash never leaves a truncated file under the final name."""
    import json
    import uuid

    fs, target = get_fs(path, storage_options)
    temporary = f"{target}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open(temporary, "w") as handle:
        json.dump(value, handle, indent=1, default=str)
    fs.mv(temporary, target)
