"""The steps that tie data, models and tracking together: train, evaluate and score, learning
curves, benchmark suites (what a DVC stage or a CLI command calls)."""
