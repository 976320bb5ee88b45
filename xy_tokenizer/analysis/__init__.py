"""Looking at tokens and reconstructions: codebook statistics and quality metrics."""
