"""The data: the conversation format (corpus), ingestion, the synthetic generators, splits,
statistics and overlap."""
