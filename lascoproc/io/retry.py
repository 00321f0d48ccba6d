"""Retries of reads over the network: what is worth retrying, how often, how long to wait.

Every read of an archive (listings, ``img_hdr.txt``, headers, pixels) goes through
:func:`with_retries` with the run's :class:`ReadPolicy`: I/O errors, timeouts, a server's 5xx
answer and a short body are retried with exponential backoff; a file that is not there
(``FileNotFoundError``: a 404) is not.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["ReadPolicy", "TRANSIENT", "with_retries"]

T = TypeVar("T")

#: Errors worth retrying: the network, a server's 5xx, a short body.
TRANSIENT: tuple[type[BaseException], ...] = (OSError, TimeoutError)
try:  # fsspec's HTTP driver raises aiohttp's errors for 5xx answers and dropped connections
    from aiohttp import ClientError as _AiohttpClientError

    TRANSIENT = (*TRANSIENT, _AiohttpClientError)
except ImportError:  # pragma: no cover - without the cloud extra there is no HTTP driver
    pass


@dataclasses.dataclass(frozen=True)
class ReadPolicy:
    """How reads are retried: ``retries`` more attempts after the first, waiting
    ``backoff * 2**k`` seconds before attempt ``k + 2`` (at most ``max_wait``)."""

    retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0

    @property
    def attempts(self) -> int:
        return max(int(self.retries), 0) + 1


def with_retries(action: Callable[[], T], policy: ReadPolicy = ReadPolicy(), *,
                 listed: bool = False, permanent: tuple[type[BaseException], ...] = ()) -> T:
    """``action()``, retried under ``policy``; the last error is raised when every attempt
    failed. ``FileNotFoundError`` is raised at once, unless ``listed`` (the file was just seen
    in a listing: fsspec's HTTP driver turns a failed ``HEAD``, a 503 included, into
    ``FileNotFoundError``, so there it is retried like any I/O error). ``permanent``: errors
    raised at once, though they are I/O errors (a file read whole that is not a frame)."""
    for attempt in range(policy.attempts):
        if attempt:
            time.sleep(min(policy.backoff * 2 ** (attempt - 1), policy.max_wait))
        try:
            return action()
        except permanent:
            raise
        except FileNotFoundError:
            if not listed or attempt == policy.attempts - 1:
                raise
        except TRANSIENT:
            if attempt == policy.attempts - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
