"""Views of one file on a shared time axis: waveform, spectrogram, token grid, comparison."""
