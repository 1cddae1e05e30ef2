"""One package per tracker: its model and its online procedure (parameters live in config/trackers)."""
