"""Secrets stay secret (issue 12): credentials and query strings of archive URLs never reach
a store's attributes or coordinates, the run report, or an error message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lascoproc.io.fs import redact_url
from lascoproc.pipeline.ingest import ingest_level05
from lascoproc.testing.faults import FaultyHTTPServer

SECRET = "s3cr3t-t0ken"


def test_redact_url_removes_userinfo_query_and_fragment():
    assert redact_url(f"https://user:{SECRET}@host.org/a/b.fts?X-Amz-Signature={SECRET}#x") \
        == "https://host.org/a/b.fts"
    assert redact_url("s3://bucket/lasco/level_05") == "s3://bucket/lasco/level_05"
    assert redact_url("/data/lasco") == "/data/lasco"


def every_text(store: Path) -> str:
    """Every metadata document of a store, its string arrays and its run report."""
    texts = [p.read_text() for p in store.rglob("zarr.json")]
    import xarray as xr

    ds = xr.open_zarr(store)
    texts += [" ".join(map(str, ds[name].values)) for name in ds.variables
              if ds[name].dtype == object]
    texts.append(Path(str(store) + ".report.json").read_text())
    return "\n".join(texts)


def test_credentials_never_reach_the_outputs(lasco_archive, tmp_path):
    with FaultyHTTPServer(lasco_archive.root) as server:
        host = server.url.split("://", 1)[1]
        url = f"http://reader:{SECRET}@{host}"
        out = tmp_path / "c2.zarr"
        result = ingest_level05(url, detector="c2", out=str(out), shape=(1024, 1024))
        assert result.dataset.sizes["time"] > 0
        text = every_text(out)
        assert SECRET not in text and "reader:" not in text
        assert json.loads(Path(str(out) + ".report.json").read_text())["archive"] == \
            redact_url(url)
        # an error about the same archive names it without the secret
        with pytest.raises(ValueError) as err:
            ingest_level05(url, detector="c2", out=str(tmp_path / "x.zarr"),
                           start="2030-01-01", end="2030-01-02")
        assert SECRET not in str(err.value) and "2030-01-01" in str(err.value)


def test_a_signed_url_is_not_repeated_in_errors(lasco_archive, tmp_path):
    """A signature in a query string cannot sign the archive's other objects (the run stops),
    and the error names the archive without it."""
    with FaultyHTTPServer(lasco_archive.root) as server:
        url = f"{server.url}?X-Amz-Signature={SECRET}&X-Amz-Credential=AKIA{SECRET}"
        with pytest.raises((ValueError, OSError)) as err:
            ingest_level05(url, detector="c2", out=str(tmp_path / "c2.zarr"))
    assert SECRET not in str(err.value) and server.url.rstrip("/") in str(err.value)
    assert not (tmp_path / "c2.zarr").exists()
