"""XY-Tokenizer (arXiv 2506.23325): 16 kHz speech <-> 8 RVQ levels x 1024 codes at 12.5 Hz (1 kbps).

Torch-free: the registry reads :data:`FAMILY`; the network lives in :mod:`.model`, the
windowed codec in :mod:`.codec`, recognition and loading in :mod:`.loader`.
"""
from xy_tokenizer.codecs.spec import FamilySpec, HubFile, Variant

#: The XY-Tokenizer weight repositories state no licence we could verify; read the Hub page.
LICENCE_UNVERIFIED = "not stated: check the Hub page before use"

_COMMON = dict(family="xy_tokenizer", input_sample_rate=16000, frame_rate=12.5, num_quantizers=8,
               codebook_size=1024)

FAMILY = FamilySpec(
    name="xy_tokenizer",
    label="XY-Tokenizer",
    loader="xy_tokenizer.codecs.xy.loader",
    encode_rules="xy_tokenizer.codecs.xy.windowing",
    description="Semantic (Whisper-style) + acoustic encoders, 8-level RVQ at 12.5 Hz, Vocos decoder.",
    variants=(
        Variant(id="xy_tokenizer_16k", label="XY-Tokenizer (paper release), 16 kHz out", aliases=("16k",),
                files=(HubFile("fdugyt/XY_Tokenizer", "xy_tokenizer.ckpt"),),
                output_sample_rate=16000, licence=LICENCE_UNVERIFIED,
                hub_page="https://huggingface.co/fdugyt/XY_Tokenizer", **_COMMON),
        Variant(id="xy_tokenizer_ttsd_24k", label="XY-Tokenizer-TTSD-V0, 24 kHz out", aliases=("24k",),
                files=(HubFile("fnlp/XY_Tokenizer_TTSD_V0", "xy_tokenizer.ckpt"),),
                output_sample_rate=24000, licence=LICENCE_UNVERIFIED,
                hub_page="https://huggingface.co/fnlp/XY_Tokenizer_TTSD_V0", **_COMMON),
        Variant(id="xy_tokenizer_ttsd_24k_hf", label="XY-Tokenizer-TTSD-V0 in HF format (same network), 24 kHz out",
                aliases=("24k-hf",),
                files=(HubFile("OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf", "config.json", role="config"),
                       HubFile("OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf", "preprocessor_config.json", role="config"),
                       HubFile("OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf", "pytorch_model.bin")),
                output_sample_rate=24000, licence=LICENCE_UNVERIFIED,
                notes="Loads as xy_tokenizer_ttsd_24k: the tensors are renamed in memory (codecs/xy/hf.py).",
                hub_page="https://huggingface.co/OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf", **_COMMON),
        Variant(id="moss_ttsd_32k", label="MOSS-TTSD v0.7 tokenizer, 32 kHz out", aliases=("32k",),
                files=(HubFile("OpenMOSS-Team/MOSS_TTSD_tokenizer", "MOSS_TTSD_tokenizer"),),
                output_sample_rate=32000, licence=LICENCE_UNVERIFIED,
                hub_page="https://huggingface.co/OpenMOSS-Team/MOSS_TTSD_tokenizer", **_COMMON),
    ),
)
