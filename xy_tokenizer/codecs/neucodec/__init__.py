"""NeuCodec family (Neuphonic): Wav2Vec2-BERT semantic + BigCodec acoustic encoder, one FSQ
codebook of 4^8 = 65 536 codes at 50 Hz, Vocos/ISTFT decoder; 16 kHz in, 24 kHz out.

Torch-free: the registry reads :data:`FAMILY`; the network lives in ``loader`` / ``model`` /
``modules`` / ``codec`` (imported on first load). X-Codec2, the parent design with a 16 kHz
head and the semantic weights inside its file, is the ``xcodec2`` family
(:mod:`xy_tokenizer.codecs.xcodec2`), built from the same modules.
"""
from __future__ import annotations

from ..spec import FamilySpec, HubFile, Variant

#: Wav2Vec2-BERT that NeuCodec loads beside its checkpoint (the reference's ``hidden_states[16]``).
W2V_BERT_FILES = (
    HubFile("facebook/w2v-bert-2.0", "config.json", role="semantic_model"),
    HubFile("facebook/w2v-bert-2.0", "model.safetensors", size=2_322_063_736, role="semantic_model"),
    HubFile("facebook/w2v-bert-2.0", "preprocessor_config.json", role="semantic_model"),
)

NEUCODEC = Variant(
    id="neucodec",
    family="neucodec",
    label="NeuCodec (Neuphonic), 0.8 kbps, 24 kHz out",
    files=(
        HubFile("neuphonic/neucodec", "pytorch_model.bin"),
        HubFile("neuphonic/neucodec", "meta.yaml", size=37, role="metadata"),
        *W2V_BERT_FILES,
    ),
    input_sample_rate=16000,
    output_sample_rate=24000,
    frame_rate=50.0,
    num_quantizers=1,
    codebook_size=65536,
    licence="apache-2.0",
    licence_url="https://huggingface.co/neuphonic/neucodec",
    notes=("Licence as declared in the model card and meta.yaml (seen on a duplicate of neuphonic/neucodec); "
           "the repo may require accepting terms on the Hub. Needs facebook/w2v-bert-2.0 beside it. "
           "The released file holds training-only tensors (fc_post_s, SemanticDecoder_module, and more), "
           "which are ignored and reported."),
    hub_page="https://huggingface.co/neuphonic/neucodec",
)

DISTILL_NEUCODEC = Variant(
    id="distill_neucodec",
    family="neucodec",
    label="DistillNeuCodec (Neuphonic), 0.8 kbps, 24 kHz out",
    files=(
        HubFile("neuphonic/distill-neucodec", "pytorch_model.bin"),
        HubFile("neuphonic/distill-neucodec", "meta.yaml", role="metadata"),
        HubFile("ntu-spml/distilhubert", "config.json", role="semantic_model"),
        HubFile("ntu-spml/distilhubert", "pytorch_model.bin", role="semantic_model"),
        HubFile("ntu-spml/distilhubert", "preprocessor_config.json", role="semantic_model"),
    ),
    input_sample_rate=16000,
    output_sample_rate=24000,
    frame_rate=50.0,
    num_quantizers=1,
    codebook_size=65536,
    licence="unknown",
    notes="DistilHuBERT semantic model and a smaller acoustic encoder; same quantiser and decoder as NeuCodec. "
          "UNVERIFIED: this engine's DistillNeuCodec matches the released key layout but has not been compared "
          "with the reference (no fixture).",
    hub_page="https://huggingface.co/neuphonic/distill-neucodec",
)

FAMILY = FamilySpec(
    name="neucodec",
    label="NeuCodec",
    loader="xy_tokenizer.codecs.neucodec.loader",
    variants=(NEUCODEC, DISTILL_NEUCODEC),
    description="Wav2Vec2-BERT + BigCodec encoders, one FSQ codebook (65 536 codes, 50 Hz), Vocos decoder at 24 kHz.",
    semantic_model_variant="w2v_bert_2",
)
