"""Numbers of the XY-Tokenizer codec, named once.

Every other module imports these instead of repeating the literals.
"""

#: Sample rate the encoder consumes (all released variants).
INPUT_SAMPLE_RATE = 16000
#: Input samples per token at :data:`INPUT_SAMPLE_RATE` (encoder hop).
SAMPLES_PER_TOKEN = 1280
#: Tokens per second of audio.
FRAME_RATE = INPUT_SAMPLE_RATE / SAMPLES_PER_TOKEN  # 12.5
#: Residual vector quantisation levels of the released models.
NUM_QUANTIZERS = 8
#: Codes per level of the released models (10 bits).
CODEBOOK_SIZE = 1024

#: Mel front end (Whisper-style).
MEL_N_FFT = 400
MEL_HOP = 160
MEL_BINS = 80

#: The reference tokenises windows of this length ...
WINDOW_SECONDS = 30
WINDOW_SAMPLES = WINDOW_SECONDS * INPUT_SAMPLE_RATE  # 480 000
#: ... advancing by WINDOW_SECONDS - overlap.
DEFAULT_OVERLAP_SECONDS = 10
#: Decode windows (tokens): window length and the part of each window kept.
DECODE_WINDOW_TOKENS = int(WINDOW_SECONDS * FRAME_RATE)  # 375

