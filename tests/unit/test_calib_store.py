"""The calibration store: SolarSoft layout, parsing, SHA-256 provenance, clear errors, mirror."""

import datetime as dt
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
    write_manifest,
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
    store = CalibrationStore(str(tmp_path), allow_unverified=True)
    with pytest.raises(CalibrationFileError, match="c2vig_final.fts.*lascoproc calib fetch"):
        store.vignetting("C2", 52415)
    with pytest.raises(CalibrationFileError, match="no calibration store"):
        CalibrationStore(str(tmp_path / "nowhere"))


def test_idl_spelling_of_the_tree_is_accepted(small_calib, tmp_path):
    shutil.copytree(small_calib / "lasco", tmp_path / "idl")
    write_manifest(str(tmp_path))
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
            fetch_calibration(str(dest), files=files, base_url=url,
                              ancillary_url=url + "ancil_data/")
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
        # the SOHO orbit files: the version the server lists (V02 definitive, V03 predictive)
        assert "ancil_data/orbit/definitive/2002/SO_OR_DEF_20020521_V02.FITS" in paths
        assert "ancil_data/orbit/predictive/2002/SO_OR_PRE_20020521_V03.FITS" in paths
        assert "lasco/data/calib/TIME_DIFF.DAT" in paths
        assert store.soho_orbit(dt.date(2002, 5, 21))[1] == "definitive"
        assert not list(dest.rglob("*.tmp-*"))  # written through temporary names
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


# --- integrity (issue 12 items 4 and 8) -------------------------------------------------

def test_store_without_manifest_needs_allow_unverified(small_calib, tmp_path):
    root = tmp_path / "plain"
    shutil.copytree(small_calib, root)
    (root / "MANIFEST.json").unlink()
    with pytest.raises(CalibrationFileError, match="no MANIFEST.json.*--allow-unverified"):
        CalibrationStore(str(root))
    store = CalibrationStore(str(root), allow_unverified=True)
    assert store.c3_ramp()[0].shape == (1024, 1024)
    assert not store.verified and store.integrity.startswith("UNVERIFIED")
    verified = CalibrationStore(str(small_calib))
    assert verified.integrity.startswith("verified against MANIFEST.json sha256:")


def test_truncated_manifest_is_a_one_line_error_naming_it(small_calib, tmp_path):
    root = tmp_path / "truncated"
    shutil.copytree(small_calib, root)
    text = (root / "MANIFEST.json").read_text()
    (root / "MANIFEST.json").write_text(text[: len(text) // 2])
    with pytest.raises(CalibrationFileError) as err:
        CalibrationStore(str(root))
    message = str(err.value)
    assert "\n" not in message
    assert str(root / "MANIFEST.json") in message and "calib fetch" in message


def test_file_the_manifest_does_not_list_is_refused(small_calib, tmp_path):
    root = tmp_path / "extra"
    shutil.copytree(small_calib, root)
    table = root / "lasco/expfac/data/0205/c3_expfactor_020521.dat"
    extra = root / "lasco/expfac/data/0205/c3_expfactor_020523.dat"
    extra.write_bytes(table.read_bytes())
    with pytest.raises(CalibrationFileError, match="not listed in its MANIFEST.json"):
        CalibrationStore(str(root)).expfactor_table("C3", dt.date(2002, 5, 23))
    loose = CalibrationStore(str(root), allow_unverified=True)
    assert loose.expfactor_table("C3", dt.date(2002, 5, 23))[0] is not None
    assert "c3_expfactor_020523.dat" in loose.integrity


def test_a_replaced_file_is_noticed_by_the_caches(small_calib, tmp_path):
    root = tmp_path / "replaced"
    shutil.copytree(small_calib, root)
    rel = "lasco/data/calib/c2nullblocks.txt"
    before = CalibrationStore(str(root))
    assert before.c2_null_blocks()[0][0] != 7
    pickled = pickle.dumps(before)
    (root / rel).write_text("7 8 9\n")
    write_manifest(str(root))  # an update of the store, manifest and file together
    after = CalibrationStore(str(root))  # same URL, same process: a new cache key
    assert list(after.c2_null_blocks()[0]) == [7, 8, 9]
    assert after.file_key(rel) != before.file_key(rel)
    assert after.file_key(rel) == (rel, ("sha256", hashlib.sha256(b"7 8 9\n").hexdigest()))
    # a worker still holding the store of the run planned before the update refuses to go on
    with pytest.raises(CalibrationFileError, match="changed during the run"):
        pickle.loads(pickled)
    # without a manifest: size and modification time tell a replaced file apart
    (root / "MANIFEST.json").unlink()
    loose = CalibrationStore(str(root), allow_unverified=True)
    assert list(loose.c2_null_blocks()[0]) == [7, 8, 9]
    (root / rel).write_text("10 11 12 13\n")
    assert list(CalibrationStore(str(root), allow_unverified=True).c2_null_blocks()[0]) == [
        10, 11, 12, 13]


def test_digest_of_the_files_a_run_uses(small_calib, tmp_path):
    store = CalibrationStore(str(small_calib))
    files = ["lasco/data/calib/C3ramp.fts", "lasco/data/calib/c3_cl_mask_lvl1.fts"]
    manifest = {e["path"]: e["sha256"] for e in
                json.loads((small_calib / "MANIFEST.json").read_text())["files"]}
    text = "".join(f"{p} {manifest[p]}\n" for p in sorted(files))
    assert store.digest(files) == hashlib.sha256(text.encode()).hexdigest()
    everything = "".join(f"{p} {h}\n" for p, h in sorted(manifest.items()))
    assert store.digest() == hashlib.sha256(everything.encode()).hexdigest()
    root = tmp_path / "changed"
    shutil.copytree(small_calib, root)
    (root / files[0]).write_bytes((root / files[0]).read_bytes()[:-2880] + bytes(2880))
    write_manifest(str(root))
    changed = CalibrationStore(str(root))
    assert changed.digest(files) != store.digest(files)
    assert changed.digest(files[1:]) == store.digest(files[1:])


def test_verify_and_atomic_writes(small_calib, tmp_path, monkeypatch):
    from lascoproc.io import calib_store as cs
    from lascoproc.io.fs import get_fs

    root = tmp_path / "verify"
    shutil.copytree(small_calib, root)
    assert CalibrationStore(str(root)).verify() == []
    (root / "lasco/data/calib/c2nullblocks.txt").write_text("1 2\n")
    assert CalibrationStore(str(root)).verify() == [
        "lasco/data/calib/c2nullblocks.txt: SHA-256 differs from the manifest (corrupt or "
        "replaced)"]
    # a write that fails before its rename leaves the old file whole and no temporary file
    fs, base = get_fs(str(root))
    target = f"{base}/MANIFEST.json"
    old = (root / "MANIFEST.json").read_bytes()

    def broken_mv(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(type(fs), "mv", broken_mv)
    with pytest.raises(OSError, match="disk full"):
        cs._atomic_write(fs, target, b"{}")
    assert (root / "MANIFEST.json").read_bytes() == old
    assert not list(root.glob("MANIFEST.json.tmp-*"))


def test_time_tables_and_orbit_files_through_the_store(small_calib):
    store = CalibrationStore(str(small_calib))
    table, rel = store.time_diff()
    assert rel == "lasco/data/calib/TIME_DIFF.DAT" and table.n_records > 180_000
    offsets, rel = store.c2_time_offsets("c2_012496t1544_082997t1827_timeoffsets.sav")
    assert offsets.dates[0] == np.datetime64("1996-01-24T15:44")
    assert store.last_day() == np.datetime64("2002-06-16")  # start + days + 25 (C3)
    found = store.soho_orbit(dt.date(2002, 5, 21))
    assert found[1:] == ("definitive",
                         "ancil_data/orbit/definitive/2002/SO_OR_DEF_20020521_V02.FITS")
    assert store.soho_orbit(dt.date(2002, 5, 23))[1] == "predictive"
    assert store.soho_orbit(dt.date(2003, 1, 1)) is None


def test_cli_manifest_and_verify(small_calib, tmp_path, capsys):
    from lascoproc_cli.main import main

    root = tmp_path / "cli"
    shutil.copytree(small_calib, root)
    (root / "MANIFEST.json").unlink()
    assert main(["calib", "verify", str(root), "--allow-unverified"]) == 1
    assert "no MANIFEST.json" in capsys.readouterr().out
    assert main(["calib", "manifest", str(root)]) == 0
    assert main(["calib", "verify", str(root)]) == 0
    (root / "lasco/data/calib/c2nullblocks.txt").write_text("1 2\n")
    assert main(["calib", "verify", str(root)]) == 1
    assert "c2nullblocks.txt: SHA-256 differs" in capsys.readouterr().out


def _compress_save(raw: bytes) -> bytes:
    """An IDL /COMPRESS save file from an uncompressed one: 'SR 00 06', each record body
    zlib-compressed and the next-record offsets moved (the layout scipy.io.readsav reads)."""
    import struct
    import zlib

    out, pos = bytearray(b"SR\x00\x06"), 4
    while pos + 16 <= len(raw):
        rectype = struct.unpack(">l", raw[pos:pos + 4])[0]
        lo, hi = struct.unpack(">II", raw[pos + 4:pos + 12])
        nextrec = lo + (hi << 32)
        body = raw[pos + 16:nextrec] if rectype != 6 else b""
        packed = zlib.compress(body) if rectype != 6 else b""
        new_next = len(out) + 16 + len(packed)
        out += struct.pack(">lII", rectype, new_next % 2**32, new_next // 2**32) + bytes(4)
        out += packed
        if rectype == 6:
            break
        pos = nextrec
    return bytes(out)


def test_fast_idl_save_reader_equals_scipy(small_calib, tmp_path):
    from scipy.io import readsav

    from lascoproc.io.calib_store import idl_save_arrays

    path = small_calib / "lasco/data/calib/c3_post_recovery_adj_xyr_medv2.sav"
    names = ("C_TAI", "C_XMED", "C_YMED", "C_RMED")
    expected = readsav(str(path))
    compressed = tmp_path / "compressed.sav"
    compressed.write_bytes(_compress_save(path.read_bytes()))
    assert np.array_equal(readsav(str(compressed))["c_tai"], expected["c_tai"])
    for raw in (path.read_bytes(), compressed.read_bytes()):
        arrays = idl_save_arrays(raw, names)
        for name in names:
            np.testing.assert_array_equal(arrays[name], expected[name.lower()])
    # strings, structures, absent names: not decoded here (scipy reads them)
    assert idl_save_arrays(path.read_bytes(), ["C_DT"]) is None
    assert idl_save_arrays(path.read_bytes(), ["C_UTC"]) is None
    assert idl_save_arrays(path.read_bytes(), ["NOPE"]) is None
