"""The NeuCodec / X-Codec2 network: semantic branch, acoustic branch, FSQ, Vocos decoder.

Module names follow the released checkpoints (``CodecEnc``, ``SemanticEncoder_module``,
``generator``, ``fc_prior``, ``fc_post_a``, ``semantic_model``) so their tensors load unchanged.
The semantic model is transformers' ``Wav2Vec2BertModel`` used as a library; only its first
:data:`SEMANTIC_LAYERS` conformer layers run (the reference reads ``hidden_states[16]``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from .modules import CodecEnc, Generator, SemanticEncoder

#: The reference reads ``hidden_states[16]``: the output of the 16th conformer layer.
SEMANTIC_LAYERS = 16
#: Samples per token at 16 kHz (the acoustic encoder's total stride).
ENCODER_HOP = 320
#: Released sizes of ``facebook/w2v-bert-2.0`` (used when only tensors are known).
W2V_BERT_DEFAULTS: dict[str, Any] = {
    "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
    "conv_depthwise_kernel_size": 31, "left_max_position_embeddings": 64, "right_max_position_embeddings": 8,
    "feature_projection_input_dim": 160, "position_embeddings_type": "relative_key", "hidden_act": "swish",
    "layer_norm_eps": 1e-5, "add_adapter": False, "use_intermediate_ffn_before_adapter": False,
    "mask_time_prob": 0.05,
}


@dataclass(frozen=True)
class Dims:
    """Sizes of one NeuCodec-layout network (released NeuCodec values by default)."""

    semantic_hidden: int = 1024      # Wav2Vec2-BERT hidden size
    semantic_code: int = 1024        # SemanticEncoder output channels
    semantic_channels: int = 1024    # SemanticEncoder inner channels
    ngf: int = 48                    # CodecEnc first width
    acoustic_hidden: int = 1024      # CodecEnc output channels
    vq_dim: int = 2048               # fc_prior output = FSQ input
    decoder_dim: int = 1024
    decoder_depth: int = 12
    decoder_heads: int = 16
    n_fft: int = 1920
    hop: int = 480                   # output samples per token
    #: Zeros added on each side of the padded clip before the feature extractor (X-Codec2: 160).
    semantic_pad: int = 0

    @property
    def output_sample_rate(self) -> int:
        return self.hop * 50


NEUCODEC_DIMS = Dims()
XCODEC2_DIMS = replace(NEUCODEC_DIMS, n_fft=1280, hop=320, semantic_pad=160)


def w2v_bert_config(values: dict[str, Any] | None = None, *, layers: int | None = None):
    """A ``Wav2Vec2BertConfig`` from released defaults updated with ``values``; SDPA attention."""
    from transformers import Wav2Vec2BertConfig

    merged = dict(W2V_BERT_DEFAULTS)
    merged.update({k: v for k, v in (values or {}).items() if not k.startswith("_")})
    if layers is not None:
        merged["num_hidden_layers"] = layers
    config = Wav2Vec2BertConfig(**{k: v for k, v in merged.items()
                                   if k not in ("architectures", "transformers_version", "dtype", "torch_dtype")})
    config._attn_implementation = "sdpa"
    return config


def build_semantic_model(config) -> nn.Module:
    """A ``Wav2Vec2BertModel`` (eval mode) of ``config``, without weight initialisation cost."""
    from transformers import Wav2Vec2BertModel

    with _no_init():
        model = Wav2Vec2BertModel(config)
    return model.eval()


class _no_init:
    """Skip nn.init while building (weights are loaded or filled afterwards)."""

    def __enter__(self):
        self._saved = {}
        for name in ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
                     "xavier_normal_", "trunc_normal_", "constant_", "zeros_", "ones_"):
            self._saved[name] = getattr(nn.init, name)
            setattr(nn.init, name, lambda tensor, *a, **k: tensor)
        return self

    def __exit__(self, *exc):
        for name, fn in self._saved.items():
            setattr(nn.init, name, fn)
        return False


class NeuCodecNet(nn.Module):
    """The whole network. Encode: (B, N) padded 16 kHz waveform + (B, Tf, 160) features -> codes (B, T).
    Decode: codes (B, T) -> (B, hop T) waveform at ``dims.output_sample_rate``.
    """

    def __init__(self, dims: Dims, semantic_model: nn.Module, *, semantic_in_file: bool) -> None:
        super().__init__()
        self.dims = dims
        #: X-Codec2 files carry ``semantic_model.*``; NeuCodec files do not (loaded from w2v-bert-2.0).
        self.semantic_in_file = semantic_in_file
        self.semantic_model = semantic_model
        self.SemanticEncoder_module = SemanticEncoder(dims.semantic_hidden, dims.semantic_code, dims.semantic_channels)
        self.CodecEnc = CodecEnc(dims.ngf, dims.acoustic_hidden)
        self.generator = Generator(dims.vq_dim, dims.decoder_dim, dims.decoder_depth, dims.decoder_heads,
                                   dims.n_fft, dims.hop)
        self.fc_prior = nn.Linear(dims.semantic_code + dims.acoustic_hidden, dims.vq_dim)
        self.fc_post_a = nn.Linear(dims.vq_dim, dims.decoder_dim)

    # -- layout ---------------------------------------------------------------------------
    def release_state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors under the names of the released file (NeuCodec: without ``semantic_model.*``)."""
        state = self.state_dict()
        if not self.semantic_in_file:
            state = {k: v for k, v in state.items() if not k.startswith("semantic_model.")}
        return state

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.fc_prior.weight.dtype

    # -- encode ---------------------------------------------------------------------------
    def semantic_hidden(self, feats: torch.Tensor) -> torch.Tensor:
        """feats: (B, Tf, 160) -> the 16th conformer layer's output (B, Tf, semantic_hidden)."""
        model = self.semantic_model
        hidden, _ = model.feature_projection(feats)
        for layer in model.encoder.layers[:SEMANTIC_LAYERS]:
            hidden = layer(hidden)
        return hidden

    def encode(self, wav: torch.Tensor, feats: torch.Tensor, *, intermediates: dict | None = None) -> torch.Tensor:
        """wav: (B, N) padded clips (N a multiple of 320), feats: (B, Tf, 160) -> codes (B, T) int64.

        T = min(Tf, N / 320) (NeuCodec drops the last acoustic frame; X-Codec2 has equal counts).
        ``intermediates``, when given, is filled with the reference's named intermediate arrays.
        """
        dtype = self.compute_dtype
        hidden = self.semantic_hidden(feats.to(dtype))
        semantic = self.SemanticEncoder_module(hidden.transpose(1, 2))
        acoustic = self.CodecEnc(wav.unsqueeze(1).to(dtype))
        frames = min(semantic.shape[-1], acoustic.shape[1])
        concat = torch.cat([semantic[..., :frames], acoustic[:, :frames].transpose(1, 2)], dim=1)
        prior = self.fc_prior(concat.transpose(1, 2))
        quantizer = self.generator.quantizer
        z = quantizer.project(prior)
        q, codes = quantizer.quantize(z)
        if intermediates is not None:
            intermediates.update(sem_hidden=hidden, sem_enc=semantic, acoustic=acoustic,
                                 concat=concat.transpose(1, 2), prior=prior, fsq_z=z, fsq_q=q)
        return codes

    # -- decode ---------------------------------------------------------------------------
    def decode(self, codes: torch.Tensor, *, intermediates: dict | None = None) -> torch.Tensor:
        """codes: (B, T) int -> waveform (B, hop T) float32."""
        emb = self.generator.quantizer.dequantize(codes)
        post = self.fc_post_a(emb.to(self.compute_dtype))
        backbone = self.generator.backbone(post)
        params = self.generator.head.spectrum_params(backbone)
        if intermediates is not None:
            intermediates.update(post_emb=emb, post_a=post, backbone=backbone, head=params)
        return self.generator.head.synthesize(params)
