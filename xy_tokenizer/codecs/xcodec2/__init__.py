"""X-Codec2 family (HKUST): NeuCodec's design with a 16 kHz head (hop 320, n_fft 1280) and the
Wav2Vec2-BERT weights inside the checkpoint; one FSQ codebook of 65 536 codes at 50 Hz.

Torch-free; the network is shared with :mod:`xy_tokenizer.codecs.neucodec`.
"""
from __future__ import annotations

from ..spec import FamilySpec, HubFile, Variant

XCODEC2 = Variant(
    id="xcodec2",
    family="xcodec2",
    label="X-Codec2 (HKUST), 0.8 kbps, 16 kHz",
    files=(
        HubFile("HKUSTAudio/xcodec2", "model.safetensors"),
        HubFile("HKUSTAudio/xcodec2", "config.json", role="config"),
    ),
    input_sample_rate=16000,
    output_sample_rate=16000,
    frame_rate=50.0,
    num_quantizers=1,
    codebook_size=65536,
    licence="cc-by-nc-4.0",
    licence_url="https://creativecommons.org/licenses/by-nc/4.0/",
    notes="Non-commercial licence. model.safetensors is about 3.29 GB (822.7 M parameters, the 24-layer "
          "Wav2Vec2-BERT included; only its first 16 layers are used).",
    hub_page="https://huggingface.co/HKUSTAudio/xcodec2",
)

FAMILY = FamilySpec(
    name="xcodec2",
    label="X-Codec2",
    loader="xy_tokenizer.codecs.xcodec2.loader",
    variants=(XCODEC2,),
    description="Wav2Vec2-BERT + BigCodec encoders, one FSQ codebook (65 536 codes, 50 Hz), Vocos decoder at 16 kHz.",
    semantic_model_variant=None,
)
