"""Torch modules of NeuCodec / X-Codec2, with the released checkpoints' parameter names.

Shapes use B = batch, C = channels, N = samples, T = frames. Every module computes what the
reference computes in eval mode (dropout off), including its quirks:

* SemanticEncoder: the reference's ReLU is in place, so the skip adds relu(h), not h;
* FSQ: the tanh bound is applied twice (ResidualFSQ, then FSQ), rounding is half-to-even
  (``torch.round``), codes = sum_d (q_d + 2) 4^d with dimension 0 least significant;
* decoder attention: torchtune's RoPE is applied to a (B, heads, T, D) tensor, so it rotates by
  the head index (q and k alike, so q.k is unchanged up to rounding); reproduced as is;
* ISTFT head: magnitude = min(exp(x), 100); irfft ignores the imaginary parts of the DC and
  Nyquist bins; the overlap-added Hann^2 envelope divides after trimming ("same" padding);
* weight norm: ``w = g v / ||v||`` per output channel (``weight_g``/``weight_v``); SnakeBeta's
  ``alpha``/``beta`` are log-scale and ``beta`` is loaded from the file's ``...act.beta`` (X-Codec2
  0.1.5 under new transformers silently dropped it); the alias-free filters are the stored buffers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: SnakeBeta's guard against dividing by zero.
SNAKE_EPS = 1e-9
#: Taps of the alias-free resampling filters stored in the checkpoints.
FILTER_TAPS = 12
#: Up/down-sampling ratio around each SnakeBeta.
ALIAS_RATIO = 2
#: Dilations of the three residual units of an encoder block.
DILATIONS = (1, 3, 9)
#: Strides of the five acoustic encoder blocks (product 320 = the token hop).
ENCODER_STRIDES = (2, 2, 4, 4, 5)
#: ResNet blocks of the decoder: GroupNorm groups and eps.
GROUPS = 32
GROUP_NORM_EPS = 1e-6
RMS_EPS = 1e-6
FINAL_LN_EPS = 1e-6
ROPE_BASE = 10000.0
#: The ISTFT head clips magnitudes at this value after exp.
MAX_MAGNITUDE = 1e2
#: FSQ: levels per dimension (4^8 = 65 536 codes) and the bound's eps.
FSQ_LEVELS = (4, 4, 4, 4, 4, 4, 4, 4)
FSQ_EPS = 1e-3


class WNConv1d(nn.Module):
    """Conv1d with old-style weight norm (``weight_g: (out, 1, 1)``, ``weight_v: (out, in, k)``).

    ``w = g v / ||v||`` with the norm per output channel, recomputed on each call as the reference does.
    """

    def __init__(self, cin: int, cout: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> None:
        super().__init__()
        self.weight_g = nn.Parameter(torch.empty(cout, 1, 1))
        self.weight_v = nn.Parameter(torch.empty(cout, cin, kernel))
        self.bias = nn.Parameter(torch.empty(cout))
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, N) -> (B, out, N')."""
        weight = torch._weight_norm(self.weight_v, self.weight_g, 0)
        return F.conv1d(x, weight, self.bias, stride=self.stride, padding=self.padding, dilation=self.dilation)


class SnakeBeta(nn.Module):
    """y = x + sin^2(exp(alpha) x) / (exp(beta) + 1e-9), per channel; ``alpha, beta: (C,)``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.exp(self.alpha).unsqueeze(0).unsqueeze(-1)
        beta = torch.exp(self.beta).unsqueeze(0).unsqueeze(-1)
        return x + (1.0 / (beta + SNAKE_EPS)) * torch.pow(torch.sin(x * alpha), 2)


class _UpSample(nn.Module):
    """x2 upsampling with the stored 12-tap filter (``filter: (1, 1, 12)``), replicate padding."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filter", torch.zeros(1, 1, FILTER_TAPS))
        self.pad = FILTER_TAPS // ALIAS_RATIO - 1
        self.crop_left = self.pad * ALIAS_RATIO + (FILTER_TAPS - ALIAS_RATIO) // 2
        self.crop_right = self.pad * ALIAS_RATIO + (FILTER_TAPS - ALIAS_RATIO + 1) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, N) -> (B, C, 2N)."""
        channels = x.shape[1]
        x = F.pad(x, (self.pad, self.pad), mode="replicate")
        x = ALIAS_RATIO * F.conv_transpose1d(x, self.filter.expand(channels, -1, -1), stride=ALIAS_RATIO,
                                             groups=channels)
        return x[..., self.crop_left:-self.crop_right]


class _LowPass(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("filter", torch.zeros(1, 1, FILTER_TAPS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, 2N) -> (B, C, N)."""
        channels = x.shape[1]
        x = F.pad(x, (FILTER_TAPS // 2 - 1, FILTER_TAPS // 2), mode="replicate")
        return F.conv1d(x, self.filter.expand(channels, -1, -1), stride=ALIAS_RATIO, groups=channels)


class _DownSample(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lowpass = _LowPass()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lowpass(x)


class AntiAliasedSnake(nn.Module):
    """Upsample x2, SnakeBeta, downsample x2: (B, C, N) -> (B, C, N)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.act = SnakeBeta(channels)
        self.upsample = _UpSample()
        self.downsample = _DownSample()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(self.act(self.upsample(x)))


class ResidualUnit(nn.Module):
    """x + conv1x1(act(conv7_dilated(act(x)))): (B, C, N) -> (B, C, N)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            AntiAliasedSnake(channels),
            WNConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            AntiAliasedSnake(channels),
            WNConv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class EncoderBlock(nn.Module):
    """Three residual units, act, strided conv: (B, C, N) -> (B, 2C, N / stride)."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            *(ResidualUnit(channels, d) for d in DILATIONS),
            AntiAliasedSnake(channels),
            WNConv1d(channels, 2 * channels, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class CodecEnc(nn.Module):
    """BigCodec acoustic encoder: waveform (B, 1, N) -> (B, N / 320, hidden)."""

    def __init__(self, ngf: int, hidden: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [WNConv1d(1, ngf, 7, padding=3)]
        channels = ngf
        for stride in ENCODER_STRIDES:
            blocks.append(EncoderBlock(channels, stride))
            channels *= 2
        self.conv_blocks = nn.Sequential(*blocks)
        self.conv_final_block = nn.Sequential(AntiAliasedSnake(channels), WNConv1d(channels, hidden, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_final_block(self.conv_blocks(x)).transpose(1, 2)


class SemanticEncoder(nn.Module):
    """Conv adapter on the semantic hidden states: (B, in, T) -> (B, code_dim, T).

    The reference's ReLU is in place, so its skip connection adds relu(h), not h.
    """

    def __init__(self, cin: int, code_dim: int, channels: int) -> None:
        super().__init__()
        self.initial_conv = nn.Conv1d(cin, channels, 3, padding=1, bias=False)
        self.residual_blocks = nn.Sequential(
            nn.ReLU(), nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1))
        self.final_conv = nn.Conv1d(channels, code_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.initial_conv(x))
        return self.final_conv(self.residual_blocks(h) + h)


class FSQ(nn.Module):
    """One finite scalar quantiser with 4^8 codes (vector_quantize_pytorch ResidualFSQ, 1 level).

    ``project_in: Linear(dim -> 8)``, ``project_out: Linear(8 -> dim)``. Quantisation runs in float32.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project_in = nn.Linear(dim, len(FSQ_LEVELS))
        self.project_out = nn.Linear(len(FSQ_LEVELS), dim)
        levels = torch.tensor(FSQ_LEVELS, dtype=torch.int32)
        self.register_buffer("_levels", levels, persistent=False)
        self.register_buffer("_basis", torch.cumprod(torch.tensor((1, *FSQ_LEVELS[:-1])), 0).to(torch.int64),
                             persistent=False)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        levels = self._levels
        half_l = (levels - 1) * (1 + FSQ_EPS) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        shift = (offset / half_l).atanh()
        return (z + shift).tanh() * half_l - offset

    def project(self, latent: torch.Tensor) -> torch.Tensor:
        """latent: (B, T, dim) -> z: (B, T, 8) float32."""
        weight = self.project_in.weight.float()
        bias = self.project_in.bias.float()
        return F.linear(latent.float(), weight, bias)

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z: (B, T, 8) -> (q / 2: (B, T, 8) float32, codes: (B, T) int64). The bound is applied twice."""
        q = torch.round(self.bound(self.bound(z)))
        codes = ((q + 2).to(torch.int64) * self._basis).sum(-1)
        return q / 2, codes

    def code_vectors(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (...) int -> (..., 8) float32 code vectors (values in {-1, -0.5, 0, 0.5})."""
        digits = (codes.to(torch.int64).unsqueeze(-1) // self._basis) % self._levels
        return (digits - 2).float() / 2

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: (B, T) -> (B, T, dim) in project_out's dtype."""
        vectors = self.code_vectors(codes).to(self.project_out.weight.dtype)
        return self.project_out(vectors)


class ResnetBlock(nn.Module):
    """x + conv2(swish(GN(conv1(swish(GN(x)))))): (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(GROUPS, channels, eps=GROUP_NORM_EPS)
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(GROUPS, channels, eps=GROUP_NORM_EPS)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        h = h * torch.sigmoid(h)
        h = self.conv1(h)
        h = self.norm2(h)
        h = h * torch.sigmoid(h)
        return x + self.conv2(h)


class RMSNorm(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + RMS_EPS)).type_as(x) * self.weight


def _head_axis_rope(x: torch.Tensor) -> torch.Tensor:
    """The reference's torchtune RoPE applied to x: (B, H, T, D), which rotates by the *head* index.

    q and k of a head get the same rotation, so q.k is unchanged up to rounding; kept for fidelity.
    """
    heads, dim = x.shape[1], x.shape[-1]
    theta = 1.0 / (ROPE_BASE ** (torch.arange(0, dim, 2, device=x.device)[: dim // 2].float() / dim))
    angles = torch.outer(torch.arange(heads, device=x.device, dtype=theta.dtype), theta)
    cos = angles.cos().view(1, heads, 1, dim // 2)
    sin = angles.sin().view(1, heads, 1, dim // 2)
    pairs = x.float().reshape(*x.shape[:-1], dim // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    out = torch.stack([x0 * cos - x1 * sin, x1 * cos + x0 * sin], -1)
    return out.flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(dim, 3 * dim, bias=False)
        self.c_proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C) -> (B, T, C); full (non-causal) attention, no mask."""
        b, t, c = x.shape
        qkv = self.c_attn(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = _head_axis_rope(qkv[0]), _head_axis_rope(qkv[1]), qkv[2]
        y = F.scaled_dot_product_attention(q, k, v)
        return self.c_proj(y.transpose(1, 2).reshape(b, t, c))


class MLP(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim, bias=False)
        self.fc2 = nn.Linear(4 * dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.silu(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.att_norm = RMSNorm(dim)
        self.ffn_norm = RMSNorm(dim)
        self.att = Attention(dim, heads)
        self.mlp = MLP(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.att(self.att_norm(x))
        return x + self.mlp(self.ffn_norm(x))


class VocosBackbone(nn.Module):
    """(B, T, C) -> (B, T, C): embed conv, 2 ResNet blocks, transformers, 2 ResNet blocks, LayerNorm."""

    def __init__(self, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Conv1d(dim, dim, 7, padding=3)
        self.prior_net = nn.Sequential(ResnetBlock(dim), ResnetBlock(dim))
        self.transformers = nn.Sequential(*(TransformerBlock(dim, heads) for _ in range(depth)))
        self.post_net = nn.Sequential(ResnetBlock(dim), ResnetBlock(dim))
        self.final_layer_norm = nn.LayerNorm(dim, eps=FINAL_LN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prior_net(self.embed(x.transpose(1, 2)))
        x = self.transformers(x.transpose(1, 2))
        x = self.post_net(x.transpose(1, 2))
        return self.final_layer_norm(x.transpose(1, 2))


class _ISTFT(nn.Module):
    def __init__(self, n_fft: int) -> None:
        super().__init__()
        self.register_buffer("window", torch.hann_window(n_fft))


class ISTFTHead(nn.Module):
    """Linear to log-magnitude and phase, inverse STFT ("same" padding): (B, T, C) -> (B, hop T) float32."""

    def __init__(self, dim: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.out = nn.Linear(dim, n_fft + 2)
        self.istft = _ISTFT(n_fft)

    def spectrum_params(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, C) -> (B, n_fft + 2, T) float32: rows [0, n_fft/2] log-magnitude, the rest phase."""
        return self.out(x).float().transpose(1, 2)

    def synthesize(self, params: torch.Tensor) -> torch.Tensor:
        """params: (B, n_fft + 2, T) -> waveform (B, hop T) float32."""
        log_mag, phase = params.chunk(2, dim=1)
        mag = torch.clip(torch.exp(log_mag), max=MAX_MAGNITUDE)
        spec = mag * (torch.cos(phase) + 1j * torch.sin(phase))
        frames = spec.shape[-1]
        window = self.istft.window.float()
        win = self.n_fft
        pad = (win - self.hop) // 2
        # irfft ignores the imaginary parts of the DC and Nyquist bins, as the reference's does.
        ifft = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * window[None, :, None]
        size = (frames - 1) * self.hop + win
        y = F.fold(ifft, output_size=(1, size), kernel_size=(1, win), stride=(1, self.hop))[:, 0, 0, pad:-pad]
        wsq = window.square().expand(1, frames, -1).transpose(1, 2)
        envelope = F.fold(wsq, output_size=(1, size), kernel_size=(1, win), stride=(1, self.hop)).squeeze()[pad:-pad]
        return y / envelope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.synthesize(self.spectrum_params(x))


class Generator(nn.Module):
    """``generator.*``: the quantiser, the Vocos backbone and the ISTFT head."""

    def __init__(self, vq_dim: int, dim: int, depth: int, heads: int, n_fft: int, hop: int) -> None:
        super().__init__()
        self.quantizer = FSQ(vq_dim)
        self.backbone = VocosBackbone(dim, depth, heads)
        self.head = ISTFTHead(dim, n_fft, hop)
