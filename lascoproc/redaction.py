"""Secrets out of URLs: what may be shown of a URL in attributes, logs, reports and errors.

Pure string functions (no I/O), used by every layer that records or prints a URL.
"""

from __future__ import annotations

import re

__all__ = ["redact_url", "redact_text"]


def redact_url(url: str) -> str:
    """``url`` without what may be a secret: the user and password of ``user:pass@host``, and
    the query string and fragment (a signed URL's signature and credential live there).

    Every URL that reaches an attribute, a log line, a report or an error message goes through
    this. Plain paths are returned unchanged.

    >>> redact_url("https://user:secret@host.org/lasco/level_05?X-Amz-Signature=abc")
    'https://host.org/lasco/level_05'
    """
    text = str(url)
    if "://" not in text:
        return text
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(text)
    except ValueError:
        return text.split("://", 1)[0] + "://<unparsable URL>"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


_URL_IN_TEXT = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^/\s@'\"]+@)?([^\s?#'\"]*)"
                          r"(?:\?[^\s#'\",]*)?(?:#[^\s'\",]*)?")


def redact_text(text: str) -> str:
    """``text`` with every URL in it redacted as :func:`redact_url` does (error messages of
    other libraries quote the URLs they were given).

    >>> redact_text("503 for https://u:pw@h.org/x.fts?sig=abc, retrying")
    '503 for https://h.org/x.fts, retrying'
    """
    return _URL_IN_TEXT.sub(lambda m: m.group(1) + m.group(2), str(text))
