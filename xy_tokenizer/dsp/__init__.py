"""Signal processing shared by the codecs and the metrics (numpy only)."""
