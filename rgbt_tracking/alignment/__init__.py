"""RGB-thermal calibration (target and target-free), calibration files and thermal-to-RGB warping."""
