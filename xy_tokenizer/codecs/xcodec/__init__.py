"""X-Codec ("Codec Does Matter", Ye et al. 2024): semantic + acoustic RVQ speech/audio codec.

16 kHz in and out, 50 token frames per second, 8 residual levels of 1024 codes (4 kbps; the
first k levels are the codes at k x 0.5 kbps). The released ``.pth`` files (Hub repo
``ZhenYe234/xcodec``) are flat float32 state dicts that include the semantic model's weights
(HuBERT base or WavLM base plus), so nothing else is downloaded; the YAML is optional (every
size is read off the tensor shapes).

This module is torch-free: it only describes the family. :mod:`.loader` (torch, transformers)
identifies and loads checkpoints; :mod:`.codec` is the :class:`~xy_tokenizer.codecs.base.Codec`.
"""
from __future__ import annotations

from ..spec import FamilySpec, HubFile, Variant

REPO_ID = "ZhenYe234/xcodec"
HUB_PAGE = f"https://huggingface.co/{REPO_ID}"
#: Every release .pth is 710 MB on the Hub (177,500,746 float32 values = 710,002,984 bytes of
#: tensor data plus pickle framing); the exact byte count was not seen, so this is approximate.
CHECKPOINT_SIZE_APPROX = 710_000_000
LICENCE = "unknown"
_LICENCE_NOTE = ("No licence is declared on the Hub repo ZhenYe234/xcodec nor in github zhenye234/xcodec "
                 "(no LICENSE file, none in the README); ask the authors before redistributing.")
_COMMON = dict(family="xcodec", input_sample_rate=16000, output_sample_rate=16000, frame_rate=50.0,
               num_quantizers=8, codebook_size=1024, licence=LICENCE, hub_page=HUB_PAGE)


def _files(checkpoint: str, yaml: str) -> tuple[HubFile, ...]:
    return (HubFile(REPO_ID, checkpoint, size=CHECKPOINT_SIZE_APPROX, role="checkpoint"),
            HubFile(REPO_ID, yaml, role="config"))


VARIANTS = (
    Variant(id="xcodec_hubert_librispeech", label="X-Codec speech (HuBERT, LibriSpeech)",
            aliases=("xcodec", "xcodec-hubert", "xcodec-hubert-librispeech"),
            files=_files("xcodec_speech_hubert_librispeech.pth", "config_hubert.yaml"),
            notes="Semantic teacher facebook/hubert-base-ls960 (weights inside the checkpoint). " + _LICENCE_NOTE,
            **_COMMON),
    Variant(id="xcodec_wavlm_mls", label="X-Codec speech (WavLM, MLS)",
            aliases=("xcodec-wavlm", "xcodec-wavlm-mls"),
            files=_files("xcodec_speech_wavlm_mls.pth", "config_wavlm.yaml"),
            notes="Semantic teacher microsoft/wavlm-base-plus (weights inside the checkpoint). " + _LICENCE_NOTE,
            **_COMMON),
    Variant(id="xcodec_wavlm_more_data", label="X-Codec speech (WavLM, more data)",
            aliases=("xcodec-wavlm-more-data",),
            files=_files("xcodec_speech_wavlm_more_data.pth", "config_wavlm.yaml"),
            notes="Semantic teacher microsoft/wavlm-base-plus (weights inside the checkpoint). " + _LICENCE_NOTE,
            **_COMMON),
    Variant(id="xcodec_hubert_general", label="X-Codec general audio (HuBERT)",
            aliases=("xcodec-general", "xcodec-hubert-general"),
            files=_files("xcodec_hubert_general_audio.pth", "config_hubert_general.yaml"),
            notes="Semantic teacher ZhenYe234/hubert_base_general_audio (weights inside the checkpoint). "
                  + _LICENCE_NOTE,
            **_COMMON),
    Variant(id="xcodec_hubert_general_v2", label="X-Codec general audio (HuBERT, more data)",
            aliases=("xcodec-general-v2", "xcodec-hubert-general-v2"),
            files=_files("xcodec_hubert_general_audio_v2.pth", "config_hubert_general.yaml"),
            notes="Semantic teacher ZhenYe234/hubert_base_general_audio (weights inside the checkpoint). "
                  + _LICENCE_NOTE,
            **_COMMON),
)

FAMILY = FamilySpec(
    name="xcodec",
    label="X-Codec",
    loader="xy_tokenizer.codecs.xcodec.loader",
    variants=VARIANTS,
    description=("Semantic (HuBERT/WavLM) + acoustic (DAC) features fused and quantised by an 8 x 1024 "
                 "RVQ at 50 Hz: 0.5 kbps per level, 4 kbps at all levels; 16 kHz in and out."),
)

#: Which semantic model architecture each variant carries ("hubert" or "wavlm").
SEMANTIC_KIND = {
    "xcodec_hubert_librispeech": "hubert",
    "xcodec_wavlm_mls": "wavlm",
    "xcodec_wavlm_more_data": "wavlm",
    "xcodec_hubert_general": "hubert",
    "xcodec_hubert_general_v2": "hubert",
}
CUSTOM = "xcodec-custom"

__all__ = ["FAMILY", "VARIANTS", "SEMANTIC_KIND", "CUSTOM", "REPO_ID"]
