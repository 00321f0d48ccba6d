"""The per-pixel ``quality`` bits of level-1 cubes, shared by calibration and inpainting."""

__all__ = ["QUALITY_FLAGS", "MISSING", "OUTSIDE", "FILLED", "FILLED_TEMPORAL"]

#: ``quality`` bits (CF ``flag_masks`` / ``flag_meanings``).
QUALITY_FLAGS = {
    "missing_telemetry": 1,  # the level-0.5 pixel (or one it is interpolated from) was lost
    "outside_field": 2,      # occulter, pylon, field stop, or off the frame after rotation
    "filled": 4,             # value filled by inpainting (set by lascoproc.inpaint)
    "filled_temporal": 8,    # ... from neighbouring frames (inpaint method "temporal"; with 4)
}
MISSING = QUALITY_FLAGS["missing_telemetry"]
OUTSIDE = QUALITY_FLAGS["outside_field"]
FILLED = QUALITY_FLAGS["filled"]
FILLED_TEMPORAL = QUALITY_FLAGS["filled_temporal"]
