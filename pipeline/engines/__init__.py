"""Where work leaves one process: Spark scoring, launcher-based training."""
