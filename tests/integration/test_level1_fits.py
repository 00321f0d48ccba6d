"""Level-1 FITS output of the synthetic archive: NRL's keywords, sunpy, the C3 Clear scaling,
the time correction, and safe files (names from the listing, collisions, overwrite).

Moved here from tests/integration/test_level1.py: ``test_fits_output_wcs_roundtrips_astropy_
and_sunpy`` (now without ``hdus=``). The real NRL level-1 header is
``tests/data/lasco_c2_25299383_s.fts`` (see tests/unit/test_level1_fits.py).
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from astropy.io import fits

from lascoproc.io.level1_fits import level1_file_name, read_level1_quality
from lascoproc.kernels.level1_header import c3_non_useful_blocks
from lascoproc.pipeline.fits_output import write_level1_fits
from lascoproc.pipeline.level1 import open_level1, run_level1

REAL_L1 = pathlib.Path(__file__).parents[1] / "data" / "lasco_c2_25299383_s.fts"
STRUCTURAL = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "COMMENT", "HISTORY",
              ""}


@pytest.fixture(scope="module")
def c2(lasco_archive, calib_dir):
    """Two C2 frames of the synthetic archive: (level-1 cube, level-0.5 cube)."""
    l1, l05 = open_level1(lasco_archive.root, detector="c2", calib=str(calib_dir))
    return l1.isel(time=slice(0, 2)), l05.isel(time=slice(0, 2))


@pytest.fixture(scope="module")
def c3(lasco_archive, calib_dir):
    """The C3 Clear frames of the synthetic archive (two at most)."""
    l1, l05 = open_level1(lasco_archive.root, detector="c3", calib=str(calib_dir))
    clear = np.flatnonzero((l1["filter"].values == "Clear") & (l1["frame_status_reason"].values
                                                               == ""))[:2]
    return l1.isel(time=clear), l05.isel(time=clear)


def _corrected(l1, seconds=30.0):
    """``l1`` with its time corrected by ``seconds``, as the plan's time correction makes a
    level-1 cube: ``time`` and ``date_obs`` the corrected time, ``time_level05`` the
    original."""
    n = l1.sizes["time"]
    shift = np.timedelta64(int(seconds * 1000), "ms")
    corrected = l1["time_level05"].values + shift
    return l1.assign_coords(
        time=("time", corrected), date_obs=("time", corrected),
        date_obs_source=("time", np.array(["TIME_DIFF.DAT (synthetic)"] * n, dtype=object)))


def _history(header) -> str:
    """The HISTORY text (astropy cuts long lines into 72-character cards)."""
    return "".join(str(line) for line in header["HISTORY"])


def test_fits_output_wcs_roundtrips_astropy_and_sunpy(lasco_archive, calib_dir, tmp_path):
    from astropy.wcs import WCS

    result = run_level1(lasco_archive.root, detector="c3", calib=str(calib_dir),
                        out=str(tmp_path / "fits"), output_format="fits")
    ds = result.dataset
    # every frame size of the run (full, binned, subfields), one file each
    assert len(result.fits_files) == len(lasco_archive.good("C3")) > ds.sizes["time"]
    sunpy_map = pytest.importorskip("sunpy.map")
    from sunpy.map.sources import LASCOMap

    counts = open_level1(lasco_archive.root, detector="c3", calib=str(calib_dir))[1]["counts"]
    nub = c3_non_useful_blocks(1)
    main = {pathlib.Path(str(p)).name[:1] + "4" + pathlib.Path(str(p)).name[2:]: i
            for i, p in enumerate(ds["path"].values)}  # the full frames' level-1 names
    for path in result.fits_files:
        i = main.get(pathlib.Path(path).name)
        with fits.open(path) as hdul:
            header = hdul[0].header
            assert header["LEVEL"] == "1.0" and header["BUNIT"] == "MSB"
            if i is not None:
                date_obs = ds["date_obs"] if "date_obs" in ds.coords else ds["time"]
                assert header["DATE-OBS"] == str(np.datetime64(date_obs.values[i], "ms"))
            assert header["FILENAME"] == pathlib.Path(path).name
            wcs_header = header.copy()
            del wcs_header["CROTA"]  # NRL's bare CROTA: wcslib notes it (as for NRL's files)
            wcs = WCS(wcs_header)  # warnings are errors: astropy accepts the rest as is
            centre = wcs.pixel_to_world_values(header["CRPIX1"] - 1, header["CRPIX2"] - 1)
            np.testing.assert_allclose(centre, (0.0, 0.0), atol=1e-9)
            shape = hdul[0].data.shape
        assert read_level1_quality(path).shape == shape
        if i is not None:  # NMISSING: all-zero blocks that are not C3 non-useful
            raw = counts[i].values.reshape(32, 32, 32, 32)
            zero = ~raw.any(axis=(1, 3))
            assert header["NMISSING"] == int(np.count_nonzero(zero & ~nub))
        m = sunpy_map.Map(path)  # no hdus=: one map, the QUALITY table is skipped
        assert isinstance(m, LASCOMap) and m.detector == "C3"
        assert m.reference_pixel.x.value == pytest.approx(header["CRPIX1"] - 1)
        assert m.rotation_matrix[0, 1] == pytest.approx(-np.sin(np.deg2rad(header["CROTA2"])))
        assert m.observer_coordinate.lat.deg == pytest.approx(header["HGLT_OBS"])
        assert m.observer_coordinate.radius.m == pytest.approx(header["DSUN_OBS"])


@pytest.fixture(scope="module")
def c2_files(c2, calib_dir, tmp_path_factory):
    l1, l05 = c2
    out = tmp_path_factory.mktemp("c2fits")
    return write_level1_fits(_corrected(l1), l05, str(out), calib=str(calib_dir))


def test_every_keyword_of_the_real_nrl_file(c2, c2_files):
    """Every keyword of NRL's file is in ours (COMPRSSN too since 2026-12-02: the cube carries
    it from the level-0.5 header)."""
    nrl = set(fits.getheader(REAL_L1)) - STRUCTURAL
    l1, _ = c2
    assert "comprssn" in l1.coords
    for path in c2_files:
        header = fits.getheader(path)
        assert nrl - set(header) == set()
        assert header["COMPRSSN"] == str(l1["comprssn"].values[0]).strip()


def test_statistics_of_the_written_frame(c2, c2_files):
    """DATA* against plain numpy on the written brightness (0 = NaN as IDL's image)."""
    for path in c2_files:
        with fits.open(path) as hdul:
            h, b = hdul[0].header, hdul[0].data.astype(np.float64)
        positive = b[b > 0]  # NaN > 0 is False
        assert h["DATAZER"] == b.size - positive.size
        # a FITS card holds 20 characters: 14 significant digits of a float64
        assert h["DATAMIN"] == pytest.approx(float(np.float32(positive.min())), rel=1e-13)
        assert h["DSATVAL"] == pytest.approx(positive.max(), rel=1e-13)
        assert h["DATASAT"] == np.count_nonzero(b >= positive.max())
        assert h["DATAAVG"] == pytest.approx(positive.mean(), rel=1e-12)
        assert h["DATASIG"] == pytest.approx(positive.std(ddof=1), rel=1e-9)
        assert h["NSATMIN"] == np.count_nonzero(b < 0)
        p = [h[f"DATAP{k:02d}"] for k in (1, 10, 25, 50, 75, 90, 95, 98, 99)]
        assert p == sorted(p)
        assert np.quantile(positive, 0.5) == pytest.approx(h["DATAP50"], rel=1e-2)


def test_corrected_time_and_its_directory(c2, c2_files):
    l1, _ = c2
    for i, path in enumerate(c2_files):
        h = fits.getheader(path)
        corrected = str(np.datetime64(l1["time_level05"].values[i] + np.timedelta64(30, "s"),
                                      "ms"))
        assert h["DATE-OBS"] == h["DATE_OBS"] == corrected
        assert h["TIME-OBS"] == ""
        day = corrected[2:4] + corrected[5:7] + corrected[8:10]
        assert pathlib.Path(path).parent.parts[-2:] == (day, "c2")
        level05 = str(np.datetime64(l1["time_level05"].values[i], "ms")).replace("-", "/")
        assert f"Original date_obs: {level05.replace('T', ' ')}" in _history(h)


def _without_time_correction(l1):
    """A cube made without the time-correction columns: its time is the level-0.5 one."""
    l1 = l1.assign_coords(time=("time", l1["time_level05"].values))
    return l1.drop_vars([n for n in ("date_obs", "date_obs_source", "time_level05")
                         if n in l1.coords])


def test_time_axis_renamed_to_the_corrected_time(c2, calib_dir, tmp_path):
    l1, l05 = c2
    l1 = _without_time_correction(l1.isel(time=[0]))
    shifted = l1.assign_coords(time_level05=("time", l1["time"].values)).assign_coords(
        time=l1["time"].values + np.timedelta64(-2, "s"))
    [path] = write_level1_fits(shifted, l05.isel(time=[0]), str(tmp_path), calib=str(calib_dir))
    h = fits.getheader(path)
    assert h["DATE-OBS"] == str(np.datetime64(shifted["time"].values[0], "ms"))
    assert h.comments["DATE-OBS"] == "Final Correction"


@pytest.mark.parametrize("kind", ["no correction columns", "not covered by the tables"])
def test_uncorrected_time_is_stated(c2, calib_dir, tmp_path, kind):
    l1, l05 = c2
    l1 = _without_time_correction(l1.isel(time=[0]))
    if kind == "not covered by the tables":  # as the plan marks such a frame
        l1 = l1.assign_coords(
            date_obs=("time", l1["time"].values),
            date_obs_source=("time", np.array(["uncorrected: outside TIME_DIFF.DAT"], object)))
    [path] = write_level1_fits(l1, l05.isel(time=[0]), str(tmp_path), calib=str(calib_dir))
    h = fits.getheader(path)
    assert h["DATE-OBS"] == h["DATE_OBS"] == str(np.datetime64(l1["time"].values[0], "ms"))
    assert h.comments["DATE-OBS"] == "WARNING: Original uncorrected value"
    assert "WARNING: DATE-OBS is original uncorrected value" in _history(h)


def test_nrl_scaling_of_c3_clear(c3, calib_dir, tmp_path):
    l1, l05 = c3
    if not l1.sizes["time"]:
        pytest.skip("no calibrated C3 Clear frame")
    floats = write_level1_fits(l1, l05, str(tmp_path / "f"), calib=str(calib_dir))
    ints = write_level1_fits(l1, l05, str(tmp_path / "i"), calib=str(calib_dir),
                             nrl_scaling=True)
    for plain, scaled in zip(floats, ints, strict=True):
        with fits.open(plain) as a, fits.open(scaled, do_not_scale_image_data=True) as c:
            b, raw, h = a[0].data.astype(np.float64), c[0].data, c[0].header
            stats_a = {k: a[0].header[k] for k in a[0].header if k.startswith(("DATA", "DSAT"))}
            stats_c = {k: h[k] for k in h if k.startswith(("DATA", "DSAT"))}
        assert (h["BITPIX"], h["BSCALE"], h["BZERO"], h["BLANK"]) == (16, 9.91821e-14,
                                                                       3.2501e-09, -32768)
        assert stats_a == stats_c
        assert stats_c["DSATVAL"] == pytest.approx(6.500000093723202e-09, rel=1e-13)
        assert (raw[np.isnan(b)] == 0).all()  # no datum: IDL's 0 stays 0
        assert (raw[b >= 6.500000093723202e-09] == 32767).all()
        inside = (b > 2e-13) & (b < 6.4e-9)
        assert inside.sum() > 1000
        back = raw[inside] * np.float64(np.float32(9.918213e-14)) + 3.2500993008000023e-09
        assert np.abs(back - b[inside]).max() <= 9.92e-14 / 2 + 1e-20
        assert (raw[(b <= 0) & ~np.isnan(b)] == 32767).all()  # IDL's FIX(-32769) wraps


def test_nrl_scaling_leaves_c2_float(c2, calib_dir, tmp_path):
    l1, l05 = c2
    [path] = write_level1_fits(l1.isel(time=[0]), l05.isel(time=[0]), str(tmp_path),
                               calib=str(calib_dir), nrl_scaling=True)
    h = fits.getheader(path)
    assert h["BITPIX"] == -32 and "BSCALE" not in h


def test_collisions_are_refused_before_anything_is_written(c2, calib_dir, tmp_path):
    l1, l05 = c2
    paths = l1["path"].values.copy()
    paths[1] = "elsewhere/" + paths[0].rsplit("/", 1)[-1]
    with pytest.raises(ValueError, match="written twice") as err:
        write_level1_fits(l1.assign_coords(path=("time", paths)), l05, str(tmp_path / "out"),
                          calib=str(calib_dir))
    assert paths[0] in str(err.value) and paths[1] in str(err.value)
    assert not (tmp_path / "out").exists()


def test_header_filename_never_names_the_file(c2, calib_dir, tmp_path):
    l1, l05 = c2
    evil = l1.assign_coords(filename=("time", np.array(["../../evil.fts"] * 2, dtype=object)))
    files = write_level1_fits(evil, l05, str(tmp_path / "out"), calib=str(calib_dir))
    assert {pathlib.Path(p).name for p in files} == {level1_file_name(p)
                                                    for p in l1["path"].values}
    listed = [p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()]
    assert len(listed) == 2 and all(p.parts[0] == "out" for p in listed)
    h = fits.getheader(files[0])
    assert "differs from the archive's file name" in _history(h)


def test_rerun_refuses_then_overwrites(c2, calib_dir, tmp_path):
    l1, l05 = c2
    one, five = l1.isel(time=[0]), l05.isel(time=[0])
    [path] = write_level1_fits(one, five, str(tmp_path), calib=str(calib_dir))
    first = fits.getheader(path)["DATE"]
    with pytest.raises(FileExistsError, match="overwrite"):
        write_level1_fits(one, five, str(tmp_path), calib=str(calib_dir))
    assert fits.getheader(path)["DATE"] == first
    write_level1_fits(one, five, str(tmp_path), calib=str(calib_dir), overwrite=True)
    assert [p.name for p in pathlib.Path(path).parent.iterdir()] == [pathlib.Path(path).name]


def test_cli_fits_output_reports_every_input_and_refuses_what_it_does_not_do(
        lasco_archive, calib_dir, tmp_path, capsys):
    """``--format fits``: a run report beside the output (the rejected files of the archive
    named), ``--strict`` exit 3 for them as for Zarr output, and ``--resume`` or cluster
    options refused in one line instead of being ignored."""
    import json

    from lascoproc_cli.main import main

    out = tmp_path / "l1"
    args = ["lasco", "calibrate", str(lasco_archive.root), "--detector", "c3", "--calib",
            str(calib_dir), "--format", "fits", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((tmp_path / "l1.report.json").read_text())
    statuses = {item["status"] for item in report["inputs"]}
    assert "rejected" in statuses and "used" in statuses
    written = [item for item in report["inputs"] if item["status"] in ("used", "flagged")]
    assert len(written) == len(list(out.rglob("*.fts")))
    assert "run report:" in capsys.readouterr().out
    assert main([*args, "--overwrite", "--strict"]) == 3
    for extra in (["--resume"], ["--overwrite", "--scheduler", "tcp://127.0.0.1:1"],
                  ["--overwrite", "--workers", "2"]):
        capsys.readouterr()
        assert main([*args, *extra]) == 1
        error = capsys.readouterr().err
        assert extra[-2 if len(extra) > 1 else 0] in error and "fits" in error


def test_incomplete_calibration_store_flags_the_frames_it_left_short(
        lasco_archive, tmp_path, capsys):
    """A calibration store without TIME_DIFF.DAT and without C3 exposure-factor tables: the
    frames are calibrated (as ``reduce_level_1.pro`` does: factor 1, bias from the port,
    DATE-OBS uncorrected) but flagged in the run report with ``time_uncorrected`` and
    ``no_exposure_factor``, for Zarr and FITS output, so ``--strict`` exits 3 (they counted
    as cleanly used before 2026-12-02)."""
    import json

    from lascoproc.io.calib_store import write_manifest
    from lascoproc.testing.calib import write_calibration_files
    from lascoproc_cli.main import main

    calib = tmp_path / "calib"
    write_calibration_files(calib, start="2002-05-21", days=2, seed=3)
    (calib / "lasco" / "data" / "calib" / "TIME_DIFF.DAT").unlink()
    for table in calib.rglob("c3_expfactor_*.dat"):
        table.unlink()
    write_manifest(str(calib))
    out = tmp_path / "l1.zarr"
    args = ["lasco", "calibrate", str(lasco_archive.root), "--detector", "c3", "--calib",
            str(calib), "--out", str(out)]
    assert main(args) == 0
    report = json.loads((tmp_path / "l1.zarr.report.json").read_text())
    written = [item for item in report["inputs"] if item["status"] in ("used", "flagged")]
    assert written and all(item["status"] == "flagged" for item in written)
    for item in written:
        codes = [reason.split(":")[0] for reason in item["reasons"]]
        assert codes == ["time_uncorrected", "no_exposure_factor"], item
    reasons = " ".join(r for item in written for r in item["reasons"])
    assert "no TIME_DIFF.DAT in the calibration store" in reasons
    assert "offset_bias.pro" in reasons
    capsys.readouterr()
    assert main([*args, "--overwrite", "--strict"]) == 3
    # the same flags for FITS output
    fits_out = tmp_path / "l1fits"
    assert main(["lasco", "calibrate", str(lasco_archive.root), "--detector", "c3", "--calib",
                 str(calib), "--format", "fits", "--out", str(fits_out)]) == 0
    report = json.loads((tmp_path / "l1fits.report.json").read_text())
    written = [item for item in report["inputs"] if item["status"] in ("used", "flagged")]
    assert written and all([r.split(":")[0] for r in item["reasons"]] ==
                           ["time_uncorrected", "no_exposure_factor"] for item in written)


def test_inpainted_frames_say_so_in_the_header(c2, calib_dir, tmp_path):
    """A frame with pixels filled by inpainting says how many and by what in its HISTORY (an
    IDL reader of the primary image alone could not tell before 2026-12-02)."""
    from lascoproc.inpaint import inpaint_cube

    l1, l05 = c2
    filled = inpaint_cube(l1, method="biharmonic")
    paths = write_level1_fits(filled, l05, str(tmp_path / "ip"), calib=str(calib_dir))
    counts = []
    for path in paths:
        history = _history(fits.getheader(path))
        count = int(np.count_nonzero(read_level1_quality(path) & 4))
        assert (f"{count} missing pixels filled by inpainting (biharmonic" in history) == (
            count > 0)
        counts.append(count)
    assert max(counts) > 0


def test_embedded_subfields_count_only_their_window_as_missing(lasco_archive, calib_dir,
                                                               tmp_path):
    """--embed-subfields: NMISSING counts the lost blocks of the read-out window, not the
    rest of the full frame the subfield was placed into (589 instead of 1 before
    2026-12-02): the same as the subfield's file without embedding."""
    kwargs = {"detector": "c3", "calib": str(calib_dir), "output_format": "fits"}
    plain = run_level1(str(lasco_archive.root), out=str(tmp_path / "plain"), **kwargs)
    embedded = run_level1(str(lasco_archive.root), out=str(tmp_path / "embedded"),
                          embed_subfields=True, **kwargs)
    assert plain and embedded
    by_name = {pathlib.Path(p).name: fits.getheader(p) for p in _fits_files(tmp_path / "plain")}
    compared = 0
    for path in _fits_files(tmp_path / "embedded"):
        header = fits.getheader(path)
        other = by_name[pathlib.Path(path).name]
        if (header["NAXIS1"], header["NAXIS2"]) != (other["NAXIS1"], other["NAXIS2"]):
            assert header["NMISSING"] == other["NMISSING"], path
            compared += 1
    assert compared >= 1


def _fits_files(root):
    return sorted(str(p) for p in pathlib.Path(root).rglob("*.fts"))
