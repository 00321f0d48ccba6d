"""Quality flags of level-1 cubes, in one place: the per-pixel ``quality`` bits and the
per-frame ``frame_status`` values, shared by calibration, inpainting, the writers and the run
report."""

__all__ = ["QUALITY_FLAGS", "MISSING", "OUTSIDE", "FILLED", "FRAME_STATUS", "FRAME_OK",
           "FRAME_UNREADABLE", "FRAME_NOT_CALIBRATED", "FRAME_NO_DATA"]

#: ``quality`` bits (CF ``flag_masks`` / ``flag_meanings``).
QUALITY_FLAGS = {
    "missing_telemetry": 1,  # the level-0.5 pixel (or one it is interpolated from) was lost
    "outside_field": 2,      # occulter, pylon, field stop, or off the frame after rotation
    "filled": 4,             # value filled by inpainting (set by lascoproc.inpaint)
}
MISSING = QUALITY_FLAGS["missing_telemetry"]
OUTSIDE = QUALITY_FLAGS["outside_field"]
FILLED = QUALITY_FLAGS["filled"]

#: ``frame_status`` values (CF ``flag_values`` / ``flag_meanings``): 0 only for a frame
#: calibrated cleanly. 1: its pixels could not be read (a corrupt file); 2: not calibrated,
#: with the reason in ``frame_status_reason`` (found when planning: unknown filter/polarizer,
#: bad exposure time, geometry off the CCD...); 3: no data (every pixel or every telemetry block
#: lost).
FRAME_STATUS = {0: "ok", 1: "unreadable", 2: "not_calibrated", 3: "no_data"}
FRAME_OK, FRAME_UNREADABLE, FRAME_NOT_CALIBRATED, FRAME_NO_DATA = 0, 1, 2, 3
