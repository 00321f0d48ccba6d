"""The calibration store: SolarSoft layout, parsing, SHA-256 provenance, clear errors, mirror."""

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from lascoproc.io.calib_store import (
    CalibrationFileError,
    CalibrationStore,
    calibration_file_paths,
    fetch_calibration,
)


@pytest.fixture(scope="module")
def small_calib(tmp_path_factory):
    from lascoproc.testing.calib import write_calibration_files

    root = tmp_path_factory.mktemp("small_calib")
    write_calibration_files(root, start="2002-05-21", days=1, seed=1)
    return root


def test_reads_and_records_sha256(small_calib):
    store = CalibrationStore(str(small_calib))
    vig, rel = store.vignetting("C3", 52415)
    assert rel == "lasco/data/calib/c3vig_postint_final.fts"
    assert vig.shape == (1024, 1024) and vig.dtype == np.float32
    digest = hashlib.sha256((small_calib / rel).read_bytes()).hexdigest()
    assert store.provenance()[rel] == digest
    assert store.vignetting("C3", 50999)[1] == "lasco/data/calib/c3vig_preint_final.fts"
    assert store.vignetting("C2", 52415)[1] == "lasco/data/calib/c2vig_final.fts"


def test_missing_file_names_it_and_how_to_get_it(tmp_path):
    (tmp_path / "lasco" / "data" / "calib").mkdir(parents=True)
    store = CalibrationStore(str(tmp_path))
    with pytest.raises(CalibrationFileError, match="c2vig_final.fts.*lascoproc calib fetch"):
        store.vignetting("C2", 52415)
    with pytest.raises(CalibrationFileError, match="no calibration store"):
        CalibrationStore(str(tmp_path / "nowhere"))


def test_idl_spelling_of_the_tree_is_accepted(small_calib, tmp_path):
    shutil.copytree(small_calib / "lasco", tmp_path / "idl")
    store = CalibrationStore(str(tmp_path))
    assert store.c3_mask()[0].shape == (1024, 1024)
    assert "idl/data/calib/c3_cl_mask_lvl1.fts" in store.provenance()


def test_corrupt_file_is_refused_by_manifest(small_calib, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(small_calib, root)
    rel = "lasco/data/calib/C3ramp.fts"
    good = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    (root / "MANIFEST.json").write_text(json.dumps({"files": [{"path": rel, "sha256": good}]}))
    assert CalibrationStore(str(root)).c3_ramp()[0].shape == (1024, 1024)
    raw = bytearray((root / rel).read_bytes())
    raw[-100] ^= 0xFF
    (root / rel).write_bytes(bytes(raw))
    fresh = CalibrationStore(str(root) + "/")  # another URL: not the cached instance
    with pytest.raises(CalibrationFileError, match="corrupt"):
        fresh.c3_ramp()


def test_occulter_centres(small_calib):
    store = CalibrationStore(str(small_calib))
    lines = (small_calib / "lasco/convert/c3_occltr_cntr.dat").read_text().splitlines()[2:]
    rows = [line.split() for line in lines if line.strip()]
    # nearest date to 2002-05-21 (MJD 52415), by hand from the table
    def mjd(text):
        return (np.datetime64(text.replace("/", "-")) - np.datetime64("1858-11-17")).astype(int)
    best = min(rows, key=lambda r: abs(mjd(r[0]) - 52415))
    (x, y), rel = store.occulter_center("C3", "Clear", 52415)
    assert (x, y) == (float(best[1]), float(best[2]))
    (x2, y2), _ = store.occulter_center("C2", "Orange", 52415)
    assert abs(x2 - 512.634) < 0.5 and abs(y2 - 505.293) < 0.5
    # a filter without a slot: the occltr_cntr.pro default, written out
    assert store.occulter_center("C2", "Polarizer?", 52415)[0] == (512.634, 505.293)


def test_sun_centre_and_roll_interpolated_in_tai(small_calib):
    store = CalibrationStore(str(small_calib))
    table = store.idl_save("lasco/data/calib/c2_post_recovery_adj_xyr_medv2.sav")
    tai = np.asarray(table["c_tai"], float)
    i = len(tai) // 2
    # halfway between two rows, in TAI seconds: the mean of their medians
    t_mid = tai[i] + (tai[i + 1] - tai[i]) / 2
    # TAI seconds since 1958 + 32.184 -> UTC (32 leap seconds in 2002)
    utc = np.datetime64("1958-01-01T00:00:00", "ms") + np.timedelta64(
        int(round((t_mid - 32.184 - 32.0) * 1000)), "ms")
    (x, y), roll, rel = store.sun_center_roll("C2", utc)
    assert rel.endswith("c2_post_recovery_adj_xyr_medv2.sav")
    assert x == pytest.approx((table["c_xmed"][i] + table["c_xmed"][i + 1]) / 2, abs=1e-6)
    assert roll == pytest.approx((table["c_rmed"][i] + table["c_rmed"][i + 1]) / 2, abs=1e-6)


def test_absent_expfactor_table_is_not_an_error(small_calib):
    import datetime as dt

    store = CalibrationStore(str(small_calib))
    text, rel = store.expfactor_table("C2", dt.date(1999, 1, 1))
    assert text is None and rel == "lasco/expfac/data/9901/c2_expfactor_990101.dat"


def test_store_pickles_and_shares_its_cache(small_calib):
    store = CalibrationStore(str(small_calib))
    store.c3_ramp()
    clone = pickle.loads(pickle.dumps(store))
    assert clone.provenance() == store.provenance()
    assert clone.c3_ramp()[0] is store.c3_ramp()[0]


def _serve(directory):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                             "127.0.0.1", "--directory", str(directory)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{port}/"


def test_fetch_mirrors_over_http_and_validates(small_calib, tmp_path):
    import datetime as dt

    pytest.importorskip("aiohttp")
    mirror = tmp_path / "mirror"
    shutil.copytree(small_calib, mirror)
    # a server answering an HTML page for one FITS file
    (mirror / "lasco/data/calib/C3ramp.fts").write_text("<html><body>404</body></html>")
    proc, url = _serve(mirror)
    try:
        files = calibration_file_paths(detectors=("C2", "C3"), days=[dt.date(2002, 5, 21)])
        dest = tmp_path / "dest"
        with pytest.raises(CalibrationFileError, match="C3ramp.fts: not a valid FITS"):
            fetch_calibration(str(dest), files=files, base_url=url)
        manifest = json.loads((dest / "MANIFEST.json").read_text())
        paths = {e["path"] for e in manifest["files"]}
        assert "lasco/data/calib/c2vig_final.fts" in paths
        assert "lasco/data/calib/C3ramp.fts" not in paths
        assert not (dest / "lasco/data/calib/C3ramp.fts").exists()
        entry = next(e for e in manifest["files"]
                     if e["path"] == "lasco/data/calib/c2vig_final.fts")
        assert entry["sha256"] == hashlib.sha256(
            (small_calib / "lasco/data/calib/c2vig_final.fts").read_bytes()).hexdigest()
        store = CalibrationStore(str(dest))
        assert store.vignetting("C2", 52415)[0].shape == (1024, 1024)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_provenance_is_per_store_not_per_process(small_calib):
    """Two stores of one URL share the cached bytes, not the list of files they used."""
    first = CalibrationStore(str(small_calib))
    first.c3_ramp()
    ramp_files = set(first.provenance())
    second = CalibrationStore(str(small_calib))
    assert second.provenance() == {}
    second.fits_image("lasco/data/calib/c3_cl_mask_lvl1.fts")
    assert list(second.provenance()) == ["lasco/data/calib/c3_cl_mask_lvl1.fts"]
    assert set(first.provenance()) == ramp_files  # untouched by the second store's read
    # a cache hit records the file too, with the digest of the first read
    first.fits_image("lasco/data/calib/c3_cl_mask_lvl1.fts")
    assert (first.provenance()["lasco/data/calib/c3_cl_mask_lvl1.fts"]
            == second.provenance()["lasco/data/calib/c3_cl_mask_lvl1.fts"])
