"""The XY-Tokenizer network: one window of audio <-> one window of codes.

Windowing, batching, devices and progress live in :mod:`xy_tokenizer.codec`; this module
only computes what the reference computes for tensors that are already padded.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from xy_tokenizer.codecs.xy.checkpoint import HEAD_KEY, compare, load_state_dict_strict, normalize_keys
from xy_tokenizer.codecs.xy.config import BUILTIN_VARIANTS, ModelConfig
from xy_tokenizer.errors import CheckpointError
from xy_tokenizer.io.checkpoint import read_state_dict
from xy_tokenizer.codecs.xy.features import LogMel, mel_frames
from xy_tokenizer.codecs.xy.modules import AcousticDecoder, Adapter, AudioEncoder, Downsample, ResidualVQ, Upsample, Vocos


class XYTokenizerModel(nn.Module):
    """The full codec network with the reference's sub-module names.

    Built by :meth:`from_config` (random weights) or :meth:`from_checkpoint`.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        s = config.section
        self.feature = LogMel()
        self.semantic_encoder = AudioEncoder(**s("semantic_encoder"))
        self.semantic_encoder_adapter = Adapter(**s("semantic_encoder_adapter"))
        self.acoustic_encoder = AudioEncoder(**s("acoustic_encoder"))
        self.pre_rvq_adapter = Adapter(**s("pre_rvq_adapter"))
        self.downsample = Downsample(**s("downsample"))
        self.quantizer = ResidualVQ(**s("quantizer"))
        self.post_rvq_adapter = Adapter(**s("post_rvq_adapter"))
        self.upsample = Upsample(**s("upsample"))
        self.acoustic_decoder = AcousticDecoder(**s("acoustic_decoder"))
        self.vocos = Vocos(**s("vocos"))
        self.compute_dtype = torch.float32

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_config(cls, config: ModelConfig | str | Path) -> "XYTokenizerModel":
        """A model with random weights of the shapes ``config`` describes (a ModelConfig,
        a YAML path, or a builtin variant name such as ``"16k"``)."""
        if not isinstance(config, ModelConfig):
            path = Path(config)
            config = ModelConfig.from_yaml(path) if path.suffix in (".yaml", ".yml") else ModelConfig.builtin(str(config))
        model = cls(config)
        model.quantizer.fold()
        return model.eval()

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, config: ModelConfig | str | Path | None = None, *, trust: bool = False
    ) -> "XYTokenizerModel":
        """Load a released (or compatible) checkpoint file strictly.

        ``config`` may be a YAML path or a ModelConfig; without one the released variant is
        recognised from the weights. ``trust=True`` allows pickled objects beyond tensors
        (only for files the user trusts).
        """
        state = read_state_dict(Path(checkpoint), trust=trust)
        return cls.from_state(state, config, source=str(checkpoint))

    @classmethod
    def from_state(cls, state: Mapping[str, torch.Tensor], config: ModelConfig | str | Path | None = None, *,
                   source: str = "<state dict>") -> "XYTokenizerModel":
        """Build from tensors already read (reference key names; ``enhanced_vocos.`` accepted)."""
        if config is not None and not isinstance(config, ModelConfig):
            config = ModelConfig.from_yaml(config)
        config, state = resolve_config(dict(state), config, source=source)
        # Build without allocating or initialising weights, then adopt the checkpoint's tensors.
        with torch.device("meta"):
            model = cls(config)
        load_state_dict_strict(model, state, source=source)
        model.feature = LogMel()  # its buffers are computed, not stored, so rebuild them off meta
        model.quantizer.fold()
        return model.eval()

    def set_dtype(self, dtype: torch.dtype) -> "XYTokenizerModel":
        """Cast the network's parameters to ``dtype``; the quantizer, positions, mel front end
        and inverse STFT stay float32."""
        for name, child in self.named_children():
            if name in ("quantizer", "feature"):
                continue
            for param in child.parameters():
                param.data = param.data.to(dtype)
        self.compute_dtype = dtype
        return self

    # -- one window -----------------------------------------------------------------------
    @torch.inference_mode()
    def encode_window(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """wave: (B, S) at 16 kHz, zero-padded; lengths: (B,) valid samples.

        Returns codes (num_quantizers, B, S // 1280) int64 and their valid lengths (B,).
        """
        mel = self.feature(wave).to(self.compute_dtype)
        mel_lengths = mel_frames(lengths)
        semantic, enc_lengths = self.semantic_encoder(mel, mel_lengths)
        semantic = self.semantic_encoder_adapter(semantic, enc_lengths)
        acoustic, _ = self.acoustic_encoder(mel, mel_lengths)
        x = self.pre_rvq_adapter(torch.cat([semantic, acoustic], dim=-1), enc_lengths)
        x, token_lengths = self.downsample(x, enc_lengths)
        return self.quantizer.encode(x, token_lengths), token_lengths

    @torch.inference_mode()
    def quantized(self, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """codes: (k, B, T), lengths: (B,) -> the quantizer's output (B, output_dim, T) float32
        (frames beyond the valid length hold ``output_proj``'s bias, as in the reference)."""
        return self.quantizer.decode(codes, lengths).transpose(1, 2)

    @torch.inference_mode()
    def decode_window(self, codes: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """codes: (k, B, T) int64, k <= num_quantizers; lengths: (B,) valid tokens.

        Returns audio (B, T * decoder_upsample_rate) float32 at the output rate.
        """
        x = self.quantizer.decode(codes).to(self.compute_dtype)
        x = self.post_rvq_adapter(x, lengths)
        x, lengths50 = self.upsample(x, lengths)
        mel, _ = self.acoustic_decoder(x, lengths50)
        return self.vocos(mel).float()


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Key -> shape of the state dict a model built from ``config`` has (no weights made)."""
    with torch.device("meta"):
        model = XYTokenizerModel(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def resolve_config(
    state: dict[str, torch.Tensor], config: ModelConfig | None, source: str
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """The config to build and the renamed state dict; recognises released variants."""
    state = normalize_keys(state)
    if config is not None:
        return config, state
    head = state.get(HEAD_KEY)
    tried = []
    for name in BUILTIN_VARIANTS:
        candidate = ModelConfig.builtin(name)
        if head is not None and head.shape[0] != candidate.n_fft + 2:
            tried.append(f"{name}: {HEAD_KEY} has {head.shape[0]} rows, not n_fft + 2 = {candidate.n_fft + 2}")
            continue
        problems = compare(state, expected_shapes(candidate))
        if not problems:
            return candidate, state
        tried.append(f"{name}: {problems[0]}")
    head_text = f"head width {tuple(head.shape)[0]} (n_fft + 2)" if head is not None else f"no {HEAD_KEY}"
    raise CheckpointError(
        f"{source}: the weights match none of the released XY-Tokenizer variants ({head_text}). "
        + "; ".join(tried)
        + ". If this is a custom model, pass its YAML config (--config / config=...)."
    )
