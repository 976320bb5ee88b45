"""DistillNeuCodec (``neuphonic/distill-neucodec``): NeuCodec's quantiser and 24 kHz decoder behind
a DistilHuBERT semantic branch and a smaller acoustic encoder.

UNVERIFIED: no reference fixture exists for this variant. The layout matches the released key
list (``tests/fixtures/manifests/distill_neucodec.json``) and the computation follows the
published architecture as read, but its tokens have not been compared with the reference's.

Encode, for a clip padded as NeuCodec pads it (``N = 320 K``):

* semantic: the padded clip with 160 zeros on each side (normalised over the clip when the
  DistilHuBERT ``preprocessor_config.json`` says ``do_normalize``) -> transformers' ``HubertModel``
  ``last_hidden_state`` (B, K, 768) -> SemanticEncoder(768 -> 1024 -> 768);
* acoustic (``codec_encoder``): a multi-scale first block (trend pooling |x| at 1, 5, 11, 21, 45
  samples, k7 convs, 1x1 convs, GELU, the raw waveform appended), three ConvNeXt-style stages
  (depthwise k7, 1x1 to 4C, Snake, GRN, 1x1 back) each followed by a stride-4 conv (32 -> 64 -> 128
  -> 256), two more units at 256, a k3 conv to 512 (hop 64); then causal local attention with a
  dynamic position bias (window 1500, 2 layers), a stride-5 conv (hop 320), causal local attention
  (window 300, 3 layers) -> (B, K, 512) -> ``fc_sq_prior`` (512 -> 768);
* ``fc_prior`` over [semantic 768, acoustic 768] -> NeuCodec's FSQ; T = K = floor(S / 320) + 1.

Quirks kept: the GRN's norm is taken over time and channels together, so its response factor
is g / (g + eps), about 1; weight norm via ``parametrizations.weight.original0/1``.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .codec import NeuCodecCodec, _Window
from .model import ENCODER_HOP
from .modules import Generator, SemanticEncoder

#: float32 machine epsilon, the eps of the distill encoder's Snake and GRN.
F32_EPS = 1.1920928955078125e-07
FIRST_POOLS = (1, 5, 11, 21, 45)
FIRST_KERNEL = 7
FIRST_EACH = 4
ENCODER_DIMS = (32, 64, 128, 256)
ENCODER_STRIDES = (4, 4, 4)
LAST_UNITS = 2
FEATURE_DIM = 512
ATTN_HEADS = 6
ATTN_HEAD_DIM = FEATURE_DIM // 4
FF_MULT = 4
COMPRESS = 5
LOCAL_WINDOW = 300
DOWN_DEPTH = 2
LOCAL_DEPTH = 3
SEMANTIC_PAD = 160
SEMANTIC_HIDDEN = 768
#: DistilHuBERT (ntu-spml/distilhubert) sizes.
DISTILHUBERT_CONFIG = {"hidden_size": 768, "num_hidden_layers": 2, "num_attention_heads": 12,
                       "intermediate_size": 3072, "feat_extract_norm": "group", "conv_bias": False}


def _wn_conv(cin: int, cout: int, kernel: int, **kw) -> nn.Module:
    return weight_norm(nn.Conv1d(cin, cout, kernel, **kw))


def _wn_linear(cin: int, cout: int) -> nn.Module:
    return weight_norm(nn.Linear(cin, cout))


class _TrendPool(nn.Module):
    def __init__(self, kernel: int) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kernel == 1:
            return x
        args = dict(kernel_size=self.kernel, stride=1, padding=self.kernel // 2)
        return F.avg_pool1d(F.max_pool1d(x.abs(), **args), **args)


class FirstBlock(nn.Module):
    """(B, 1, N) -> (B, 32, N)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(_TrendPool(k), _wn_conv(1, FIRST_EACH, FIRST_KERNEL, padding=FIRST_KERNEL // 2))
            for k in FIRST_POOLS)
        hidden = FIRST_EACH * len(FIRST_POOLS)
        self.conv_1 = _wn_conv(hidden, 4 * hidden, 1)
        self.conv_2 = _wn_conv(4 * hidden + 1, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.cat([b(x) for b in self.blocks], dim=1)
        h = F.gelu(self.conv_1(h))
        return self.conv_2(torch.cat([h, x], dim=1))


class _Snake(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, 1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + F32_EPS).reciprocal() * torch.sin(self.alpha * x).pow(2)


class _GRN(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels))
        self.beta = nn.Parameter(torch.zeros(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.norm(x, p=2, dim=[1, 2], keepdim=True)
        n = g / (g.mean(dim=-1, keepdim=True) + F32_EPS)
        return self.gamma * (x * n) + self.beta + x


class _ConvUnit(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dw_conv = _wn_conv(dim, dim, 7, padding=3, groups=dim)
        self.pw_conv1 = _wn_linear(dim, 4 * dim)
        self.act = _Snake(4 * dim)
        self.grn = _GRN(4 * dim)
        self.pw_conv2 = _wn_linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dw_conv(x).permute(0, 2, 1)
        h = self.pw_conv2(self.grn(self.act(self.pw_conv1(h))))
        return h.permute(0, 2, 1)


class _Residual(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.module = _ConvUnit(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.module(x)


class ConvEncoder(nn.Module):
    """(B, 1, N) -> (B, 512, N / 64)."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = [FirstBlock(ENCODER_DIMS[0])]
        for cin, cout, stride in zip(ENCODER_DIMS[:-1], ENCODER_DIMS[1:], ENCODER_STRIDES):
            blocks += [nn.Sequential(_Residual(cin)), nn.Sequential(_wn_conv(cin, cout, stride, stride=stride), nn.Identity())]
        blocks += [nn.Sequential(*(_Residual(ENCODER_DIMS[-1]) for _ in range(LAST_UNITS))),
                   _wn_conv(ENCODER_DIMS[-1], FEATURE_DIM, 3, padding=1)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class _DynamicPositionBias(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, heads))

    def forward(self, window: int) -> torch.Tensor:
        """-> (heads, window, 2 window): bias by |i - j| for a query window and its look-back."""
        dev = self.mlp[0].weight.device
        span = 2 * window
        bias = self.mlp(torch.arange(span, dtype=torch.float, device=dev).unsqueeze(-1))
        i = torch.arange(span - window, span, device=dev)
        j = torch.arange(span, device=dev)
        return bias[(i[:, None] - j[None, :]).abs()].permute(2, 0, 1)


def _look_back(x: torch.Tensor, pad_value: float) -> torch.Tensor:
    """(B, W, w, ...) -> (B, W, 2w, ...): each window preceded by the previous one (padded first)."""
    prev = F.pad(x, (0, 0) * (x.dim() - 3) + (0, 0, 1, 0), value=pad_value)[:, :-1]
    return torch.cat([prev, x], dim=2)


class _LocalMHA(nn.Module):
    """Pre-norm causal local attention (window w, one window of look-back), bias added to the scores."""

    def __init__(self, window: int) -> None:
        super().__init__()
        self.window = window
        self.norm = nn.LayerNorm(FEATURE_DIM)
        self.to_qkv = nn.Linear(FEATURE_DIM, 3 * ATTN_HEADS * ATTN_HEAD_DIM, bias=False)
        self.to_out = nn.Linear(ATTN_HEADS * ATTN_HEAD_DIM, FEATURE_DIM, bias=False)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        w = self.window
        q, k, v = self.to_qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (t.view(b, n, ATTN_HEADS, ATTN_HEAD_DIM).transpose(1, 2).reshape(b * ATTN_HEADS, n, ATTN_HEAD_DIM)
                   for t in (q, k, v))
        padded = math.ceil(n / w) * w
        if padded != n:
            q, k, v = (F.pad(t, (0, 0, 0, padded - n)) for t in (q, k, v))
        windows = padded // w
        bq = q.view(-1, windows, w, ATTN_HEAD_DIM) * ATTN_HEAD_DIM ** -0.5
        bk = _look_back(k.view(-1, windows, w, ATTN_HEAD_DIM), -1.0)
        bv = _look_back(v.view(-1, windows, w, ATTN_HEAD_DIM), -1.0)
        pos = torch.arange(padded, device=x.device).view(1, windows, w)
        pos_k = _look_back(pos.unsqueeze(-1), -1).squeeze(-1)
        sim = bq @ bk.transpose(-1, -2)
        sim = sim + bias.repeat(b, 1, 1).unsqueeze(1).to(sim.dtype)
        masked = (pos.unsqueeze(-1) < pos_k.unsqueeze(-2)) | (pos_k.unsqueeze(-2) == -1)
        sim = sim.masked_fill(masked, -torch.finfo(sim.dtype).max)
        out = (sim.softmax(dim=-1) @ bv).reshape(-1, padded, ATTN_HEAD_DIM)[:, :n]
        out = out.view(b, ATTN_HEADS, n, ATTN_HEAD_DIM).transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class _GEGLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = x.chunk(2, dim=-1)
        return x * F.gelu(gate)


def _feed_forward() -> nn.Sequential:
    inner = int(FEATURE_DIM * FF_MULT * 2 / 3)
    return nn.Sequential(nn.LayerNorm(FEATURE_DIM), nn.Linear(FEATURE_DIM, 2 * inner, bias=False), _GEGLU(),
                         nn.Dropout(0.0), nn.Linear(inner, FEATURE_DIM, bias=False))


class LocalTrans(nn.Module):
    """(B, n, 512) -> (B, n, 512): ``depth`` x [local attention + GEGLU feed-forward], residual."""

    def __init__(self, window: int, depth: int) -> None:
        super().__init__()
        self.window = window
        self.dynamic_pos_bias = _DynamicPositionBias(FEATURE_DIM // 2, ATTN_HEADS)
        self.layers = nn.ModuleList(nn.ModuleList([_LocalMHA(window), _feed_forward()]) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.dynamic_pos_bias(self.window)
        for attn, ff in self.layers:
            x = attn(x, bias) + x
            x = ff(x) + x
        return x


class _DownTrans(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.trans = LocalTrans(LOCAL_WINDOW * COMPRESS, DOWN_DEPTH)
        self.down_layer = _wn_conv(FEATURE_DIM, FEATURE_DIM, COMPRESS, stride=COMPRESS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_layer(self.trans(x).permute(0, 2, 1)).permute(0, 2, 1)


class CompressedLocalEncoder(nn.Module):
    """(B, 512, n) -> (B, n / 5, 512). ``cache_token`` is empty in the release (cache size 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.cache_token = nn.Parameter(torch.zeros(1, 0, FEATURE_DIM))
        self.down_trans = _DownTrans()
        self.local_trans = LocalTrans(LOCAL_WINDOW, LOCAL_DEPTH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.local_trans(self.down_trans(x.permute(0, 2, 1)))


class DistillCodecEncoder(nn.Module):
    """Waveform (B, 1, 320 K) -> (B, K, 512)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ConvEncoder()
        self.en_encoder = CompressedLocalEncoder()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.en_encoder(self.encoder(x))


def distilhubert_config(values: dict | None = None):
    from transformers import HubertConfig

    merged = dict(DISTILHUBERT_CONFIG)
    merged.update({k: v for k, v in (values or {}).items()
                   if not k.startswith("_") and k not in ("architectures", "transformers_version", "dtype", "torch_dtype")})
    config = HubertConfig(**merged)
    config._attn_implementation = "sdpa"
    return config


class DistillNet(nn.Module):
    """DistillNeuCodec. Encode: (B, N) padded clips + (B, N + 320) semantic input -> codes (B, N / 320).
    Decode: as NeuCodec, (B, T) -> (B, 480 T) at 24 kHz."""

    def __init__(self, semantic_model: nn.Module, dims) -> None:
        super().__init__()
        self.dims = dims
        self.semantic_in_file = False
        self.semantic_model = semantic_model
        self.SemanticEncoder_module = SemanticEncoder(SEMANTIC_HIDDEN, SEMANTIC_HIDDEN, 1024)
        self.codec_encoder = DistillCodecEncoder()
        self.generator = Generator(dims.vq_dim, dims.decoder_dim, dims.decoder_depth, dims.decoder_heads,
                                   dims.n_fft, dims.hop)
        self.fc_prior = nn.Linear(2 * SEMANTIC_HIDDEN, dims.vq_dim)
        self.fc_sq_prior = nn.Linear(FEATURE_DIM, SEMANTIC_HIDDEN)
        self.fc_post_a = nn.Linear(dims.vq_dim, dims.decoder_dim)

    def release_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("semantic_model.")}

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.fc_prior.weight.dtype

    def encode(self, wav: torch.Tensor, semantic_input: torch.Tensor, *, intermediates: dict | None = None) -> torch.Tensor:
        dtype = self.compute_dtype
        acoustic = self.fc_sq_prior(self.codec_encoder(wav.unsqueeze(1).to(dtype))).transpose(1, 2)
        hidden = self.semantic_model(semantic_input.to(dtype)).last_hidden_state
        semantic = self.SemanticEncoder_module(hidden.transpose(1, 2))
        frames = min(acoustic.shape[-1], semantic.shape[-1])
        concat = torch.cat([semantic[..., :frames], acoustic[..., :frames]], dim=1)
        prior = self.fc_prior(concat.transpose(1, 2))
        quantizer = self.generator.quantizer
        z = quantizer.project(prior)
        q, codes = quantizer.quantize(z)
        if intermediates is not None:
            intermediates.update(sem_hidden=hidden, sem_enc=semantic, acoustic=acoustic, prior=prior, fsq_z=z, fsq_q=q)
        return codes

    def decode(self, codes: torch.Tensor, *, intermediates: dict | None = None) -> torch.Tensor:
        emb = self.generator.quantizer.dequantize(codes)
        post = self.fc_post_a(emb.to(self.compute_dtype))
        return self.generator.head(self.generator.backbone(post))


def semantic_input(padded: np.ndarray, do_normalize: bool) -> np.ndarray:
    """DistilHuBERT input of a padded clip (N,) -> (N + 320,) float32 (zero-mean unit-var if asked)."""
    x = np.pad(np.asarray(padded, dtype=np.float32), (SEMANTIC_PAD, SEMANTIC_PAD))
    if do_normalize:
        x = ((x - x.mean()) / np.sqrt(x.var() + 1e-7)).astype(np.float32)
    return x



class DistillNeuCodecCodec(NeuCodecCodec):
    """A loaded DistillNeuCodec (16 kHz in, 24 kHz out). Unverified against the reference."""

    family = "neucodec"

    def __init__(self, net: DistillNet, *, do_normalize: bool = True, **kwargs) -> None:
        super().__init__(net, **kwargs)
        self.do_normalize = do_normalize

    def num_frames(self, num_samples: int) -> int:
        """``floor(S / 320) + 1``: both branches give K frames of the padded clip."""
        return int(num_samples) // ENCODER_HOP + 1 if num_samples > 0 else 0

    @property
    def min_input_samples(self) -> int:
        return 1

    def features(self, padded: np.ndarray) -> np.ndarray:
        """DistilHuBERT input of the padded clip: (N,) -> (N + 320,)."""
        return semantic_input(padded, self.do_normalize)

    def _window_inputs(self, padded: np.ndarray, feats: np.ndarray, w: _Window) -> tuple[np.ndarray, np.ndarray]:
        end = w.start + w.length + ENCODER_HOP - w.length % ENCODER_HOP
        return padded[w.start:end], feats[w.start:end + 2 * SEMANTIC_PAD]
