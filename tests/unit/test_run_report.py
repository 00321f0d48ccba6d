"""The run report's calibration flags, on per-frame values written out by hand."""

from lascoproc.pipeline.report import _calibration_reasons, _flag_reasons

TABLE = "lasco/expfac/data/0205/c3_expfactor_020521.dat"


def test_a_frame_calibrated_with_every_file_is_not_flagged():
    row = {"date_obs_source": "TIME_DIFF.DAT 2002-05-23", "bias_source":
           "table c3_expfactor_020521.dat", "expfactor_file": TABLE}
    assert _calibration_reasons(row) == []


def test_missing_time_diff_and_missing_table_are_flagged():
    row = {"date_obs_source": "uncorrected: no TIME_DIFF.DAT in the calibration store",
           "bias_source": "offset_bias.pro latest (port)", "expfactor_file": ""}
    assert _calibration_reasons(row) == [
        "time_uncorrected: no TIME_DIFF.DAT in the calibration store",
        "no_exposure_factor: no exposure-factor table for the frame's day in the calibration "
        "store (factor 1, bias from offset_bias.pro latest (port))"]


def test_a_frame_the_days_table_does_not_list_is_not_flagged():
    """NRL's level 1 of such a frame has a factor of 1 too (get_exp_factor.pro)."""
    row = {"date_obs_source": "TIME_DIFF.DAT 2002-05-23",
           "bias_source": "offset_bias.pro latest (port)", "expfactor_file": TABLE}
    assert _calibration_reasons(row) == []


def test_frames_after_the_tables_last_day_are_not_flagged():
    row = {"date_obs_source": "uncorrected: after LAST_DAY 2025-06-30 of the roll/centre "
                              "tables (adjust_hdr_tcr.pro)",
           "bias_source": "offset_bias.pro latest (port)", "expfactor_file": ""}
    assert _calibration_reasons(row) == []


def test_calibration_flags_only_for_frames_calibrated():
    """A frame the plan could not calibrate is flagged with that reason alone; level-0.5
    stores (no plan columns) get no calibration flag."""
    row = {"frame_status": 2, "frame_status_reason": "unknown filter 'Bogus'",
           "date_obs_source": "", "bias_source": "", "expfactor_file": ""}
    assert _flag_reasons(row, {2: "not_calibrated"}) == [
        "not_calibrated: unknown filter 'Bogus'"]
    assert _flag_reasons({"frame_status": 0, "input_flags": ""}, {}) == []


def test_local_locations_are_recorded_absolute_and_urls_without_credentials(tmp_path,
                                                                             monkeypatch):
    """A run given relative paths records them absolute (the report read from another
    directory still names the archive and the stores); URLs stay URLs, without credentials."""
    import datetime as dt

    import numpy as np
    import xarray as xr

    from lascoproc.pipeline.report import build_report

    monkeypatch.chdir(tmp_path)
    ds = xr.Dataset({"frame_written": ("time", np.array([1, 0], np.uint8))},
                    coords={"path": ("time", ["/data/a.fts", "/data/b.fts"])})
    started = dt.datetime.now(dt.UTC)
    report = build_report(run_id="r", product="p", archive="demo/archive", started=started,
                          problems=[], written=[("demo/c2_l1.zarr", None, ds)])
    store = str(tmp_path / "demo" / "c2_l1.zarr")
    assert report.archive == str(tmp_path / "demo" / "archive")
    assert report.stores[0]["store"] == store
    assert {item.store for item in report.inputs} == {store}
    remote = build_report(run_id="r", product="p", started=started, problems=[],
                          archive="https://user:s3cr3t@host.org/lasco?X-Amz-Signature=s3cr3t",
                          written=[("s3://bucket/c2_l1.zarr", None, ds)])
    assert remote.archive == "https://host.org/lasco"
    assert remote.stores[0]["store"] == "s3://bucket/c2_l1.zarr"
    assert {item.store for item in remote.inputs} == {"s3://bucket/c2_l1.zarr"}
