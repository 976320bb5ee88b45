"""Building blocks of the XY-Tokenizer network, with the reference's parameter names.

Sequence tensors travel as ``(B, T, C)`` inside transformer stacks and as ``(B, C, T)`` at
convolution boundaries; every block takes the valid lengths ``lengths: (B,)`` of its input
and zeroes the frames at or beyond them where the reference does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``(B, size)`` bool, True on valid frames."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Sinusoidal positions ``(length, channels)``: rows ``[sin(t), cos(t)]``."""
    inc = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2, dtype=torch.float32))
    t = torch.arange(length, dtype=torch.float32)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class SelfAttention(nn.Module):
    """Non-causal multi-head attention; keys beyond the valid length are excluded."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        self.heads = heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model, bias=False)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        """x: (B, T, C); key_mask: (B, 1, 1, T) bool or None (all valid) -> (B, T, C)."""
        b, t, c = x.shape
        shape = (b, t, self.heads, c // self.heads)
        q = self.q_proj(x).view(shape).transpose(1, 2)
        k = self.k_proj(x).view(shape).transpose(1, 2)
        v = self.v_proj(x).view(shape).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))


class TransformerLayer(nn.Module):
    """Pre-norm layer: attention then GELU feed-forward, each with a residual."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int) -> None:
        super().__init__()
        self.self_attn = SelfAttention(d_model, heads)
        self.self_attn_layer_norm = nn.LayerNorm(d_model)
        self.fc1 = nn.Linear(d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, d_model)
        self.final_layer_norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), key_mask)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class TransformerStack(nn.Module):
    """Positions + layers + final LayerNorm + zeroing of invalid frames."""

    def __init__(self, d_model: int, heads: int, ffn_dim: int, num_layers: int, max_positions: int) -> None:
        super().__init__()
        self.register_buffer("positional_embedding", sinusoids(max_positions, d_model))
        self.layers = nn.ModuleList(TransformerLayer(d_model, heads, ffn_dim) for _ in range(num_layers))
        self.layer_norm = nn.LayerNorm(d_model)

    def run_stack(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C) -> (B, T, C) with frames >= lengths zeroed."""
        t = x.shape[1]
        if t > self.positional_embedding.shape[0]:
            raise ValueError(f"{t} frames exceed the {self.positional_embedding.shape[0]} positions of this block")
        x = (x.float() + self.positional_embedding[:t].float()).to(x.dtype)
        valid = length_mask(lengths, t)
        # Without padded frames the mask is all True: leave it out so SDPA can use a fused kernel.
        key_mask = None if bool(valid.all()) else valid[:, None, None, :]
        for layer in self.layers:
            x = layer(x, key_mask)
        x = self.layer_norm(x)
        return x * valid[..., None].to(x.dtype)


class AudioEncoder(TransformerStack):
    """Log-mel ``(B, 80, F)`` -> ``(B, F/2, d_model)`` (``semantic_encoder``, ``acoustic_encoder``)."""

    def __init__(self, num_mel_bins: int, d_model: int, encoder_layers: int, encoder_attention_heads: int,
                 encoder_ffn_dim: int, max_audio_seconds: int = 30, kernel_size: int = 3, stride_size: int = 2,
                 **_: object) -> None:
        super().__init__(d_model, encoder_attention_heads, encoder_ffn_dim, encoder_layers,
                         max_audio_seconds * 100 // stride_size)
        self.conv1 = nn.Conv1d(num_mel_bins, d_model, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(d_model, d_model, kernel_size, stride=stride_size, padding=kernel_size // 2)
        self.stride = stride_size

    def forward(self, mel: torch.Tensor, mel_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        lengths = mel_lengths // self.stride
        return self.run_stack(x, lengths), lengths


class Adapter(TransformerStack):
    """``(B, T, input_dim)`` -> ``(B, T, output_dim)`` through a small transformer."""

    def __init__(self, input_dim: int, output_dim: int, d_model: int, encoder_layers: int,
                 encoder_attention_heads: int, encoder_ffn_dim: int, max_source_positions: int = 1500,
                 **_: object) -> None:
        super().__init__(d_model, encoder_attention_heads, encoder_ffn_dim, encoder_layers, max_source_positions)
        self.proj = nn.Linear(input_dim, d_model) if input_dim != d_model else None
        self.out_proj = nn.Linear(d_model, output_dim) if output_dim != d_model else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        x = self.run_stack(x, lengths)
        if self.out_proj is not None:
            x = self.out_proj(x)
        return x


class Downsample(nn.Module):
    """Groups of ``avg_pooler`` frames: ``(B, T, d)`` -> ``(B, T/4, 4d)`` (gated MLP + residual)."""

    def __init__(self, d_model: int, avg_pooler: int = 4, **_: object) -> None:
        super().__init__()
        self.group = avg_pooler
        wide = d_model * avg_pooler
        self.gate_proj = nn.Conv1d(d_model, wide, avg_pooler, stride=avg_pooler, bias=False)
        self.up_proj = nn.Conv1d(d_model, wide, avg_pooler, stride=avg_pooler, bias=False)
        self.down_proj = nn.Linear(wide, wide, bias=False)
        self.layer_norm = nn.LayerNorm(wide)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        rest = (-t) % self.group
        if rest:
            x = F.pad(x, (0, 0, 0, rest))
        xc = x.transpose(1, 2)
        h = F.silu(self.gate_proj(xc)) * self.up_proj(xc)
        grouped = x.reshape(b, -1, d * self.group)
        y = self.layer_norm(self.down_proj(h.transpose(1, 2)) + grouped)
        return y, lengths // self.group


class WeightNormConv1x1(nn.Module):
    """A weight-normalised 1x1 convolution, folded to a plain matrix by :meth:`fold`."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight_g = nn.Parameter(torch.ones(out_dim, 1, 1))
        self.weight_v = nn.Parameter(torch.randn(out_dim, in_dim, 1) / math.sqrt(in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.register_buffer("folded", torch.empty(0), persistent=False)

    def fold(self) -> None:
        """weight = g * v / ||v|| (norm per output channel); computed once."""
        with torch.no_grad():
            v = self.weight_v.float()
            norm = v.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
            self.folded = (self.weight_g.float() * v / norm)[..., 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, in) float32 -> (B, T, out) float32."""
        if self.folded.numel() == 0:
            self.fold()
        return F.linear(x.float(), self.folded, self.bias.float())


class Codebook(nn.Module):
    """One RVQ level; ``inited``, ``cluster_size``, ``embed_avg`` are training state kept for loading."""

    def __init__(self, codebook_size: int, codebook_dim: int) -> None:
        super().__init__()
        self.register_buffer("codebook", torch.randn(codebook_size, codebook_dim))
        self.register_buffer("inited", torch.ones(1, dtype=torch.bool))
        self.register_buffer("cluster_size", torch.ones(codebook_size))
        self.register_buffer("embed_avg", torch.zeros(codebook_size, codebook_dim))


class ResidualVQ(nn.Module):
    """8-level residual VQ, always in float32."""

    def __init__(self, input_dim: int, rvq_dim: int, output_dim: int, num_quantizers: int, codebook_size: int,
                 codebook_dim: int, **_: object) -> None:
        super().__init__()
        if codebook_dim != rvq_dim:
            raise ValueError(f"codebook_dim {codebook_dim} must equal rvq_dim {rvq_dim}")
        self.input_proj = WeightNormConv1x1(input_dim, rvq_dim)
        self.output_proj = WeightNormConv1x1(rvq_dim, output_dim)
        self.quantizers = nn.ModuleList(Codebook(codebook_size, codebook_dim) for _ in range(num_quantizers))

    def fold(self) -> None:
        self.input_proj.fold()
        self.output_proj.fold()

    def encode(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """x: (B, T, input_dim) -> codes (num_quantizers, B, T) int64."""
        residual = self.input_proj(x)
        valid = length_mask(lengths, residual.shape[1])[..., None].float()
        residual = residual * valid
        codes = []
        for level in self.quantizers:
            book = level.codebook.float()
            dist = (
                residual.pow(2).sum(-1, keepdim=True)
                - 2 * residual @ book.T
                + book.pow(2).sum(-1)[None, None, :]
            )
            idx = dist.argmin(dim=-1)
            codes.append(idx)
            residual = residual - F.embedding(idx, book) * valid
        return torch.stack(codes)

    def decode(self, codes: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """codes: (k, B, T) with k <= num_quantizers -> (B, T, output_dim) float32.

        With ``lengths`` the code sum is zeroed beyond each valid length before ``output_proj``.
        """
        total = None
        for level, idx in zip(self.quantizers, codes):
            vec = F.embedding(idx, level.codebook.float())
            total = vec if total is None else total + vec
        if lengths is not None:
            total = total * length_mask(lengths, total.shape[1])[..., None].float()
        return self.output_proj(total)


class Upsample(nn.Module):
    """``(B, T, 4d)`` -> ``(B, 4T, d)`` with a strided transposed convolution."""

    def __init__(self, d_model: int, stride: int = 4, **_: object) -> None:
        super().__init__()
        self.stride = stride
        self.up_conv = nn.ConvTranspose1d(d_model * stride, d_model, stride, stride=stride, bias=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.up_conv(x.transpose(1, 2)).transpose(1, 2), lengths * self.stride


class AcousticDecoder(TransformerStack):
    """``(B, T, d)`` at 50 Hz -> mel ``(B, 80, 2T)`` at 100 Hz."""

    def __init__(self, num_mel_bins: int, d_model: int, decoder_layers: int, decoder_attention_heads: int,
                 decoder_ffn_dim: int, max_audio_seconds: int = 30, kernel_size: int = 3, stride_size: int = 2,
                 **_: object) -> None:
        super().__init__(d_model, decoder_attention_heads, decoder_ffn_dim, decoder_layers,
                         max_audio_seconds * 100 // stride_size)
        self.stride = stride_size
        self.deconv1 = nn.ConvTranspose1d(d_model, d_model, kernel_size, stride=stride_size)
        self.deconv2 = nn.ConvTranspose1d(d_model, num_mel_bins, kernel_size, stride=1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = x.shape[1]
        x = self.run_stack(x, lengths).transpose(1, 2)
        x = F.gelu(self.deconv1(x))
        x = F.gelu(self.deconv2(x))
        return x[..., : t * self.stride], lengths * self.stride


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int, intermediate_dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, T) -> (B, C, T)."""
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class VocosBackbone(nn.Module):
    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int) -> None:
        super().__init__()
        self.embed = nn.Conv1d(input_channels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim) for _ in range(num_layers))
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """mel: (B, 80, F) -> (B, F, dim)."""
        x = self.embed(mel)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFT(nn.Module):
    """Inverse STFT with "same" padding: ``frames * hop`` samples out."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.hop = hop
        self.register_buffer("window", torch.hann_window(n_fft))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """spec: (B, n_fft/2+1, F) complex64 -> (B, F * hop) float32."""
        n_frames = spec.shape[-1]
        window = self.window.float()
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1, norm="backward") * window[None, :, None]
        out_len = (n_frames - 1) * self.hop + self.n_fft
        audio = F.fold(frames, output_size=(1, out_len), kernel_size=(1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        env = F.fold(
            window.square().expand(1, n_frames, -1).transpose(1, 2),
            output_size=(1, out_len), kernel_size=(1, self.n_fft), stride=(1, self.hop),
        ).squeeze()
        pad = (self.n_fft - self.hop) // 2
        audio = audio[:, pad:out_len - pad]
        env = env[pad:out_len - pad]
        return audio / env


class VocosHead(nn.Module):
    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = ISTFT(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, F, dim) -> audio (B, F * hop) float32."""
        y = self.out(x).transpose(1, 2).float()
        log_mag, phase = y.chunk(2, dim=1)
        mag = torch.clamp(torch.exp(log_mag), max=100.0)
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
        return self.istft(spec)


class Vocos(nn.Module):
    """Mel ``(B, 80, F)`` -> waveform ``(B, F * hop_size)``."""

    def __init__(self, input_channels: int, dim: int, intermediate_dim: int, num_layers: int, n_fft: int,
                 hop_size: int, **_: object) -> None:
        super().__init__()
        self.backbone = VocosBackbone(input_channels, dim, intermediate_dim, num_layers)
        self.head = VocosHead(dim, n_fft, hop_size)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(mel))
