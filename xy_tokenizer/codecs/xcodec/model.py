"""The X-Codec network: transformers' ``XcodecModel`` loaded from the release's own key layout.

The released ``.pth`` files are flat state dicts of the reference ``SoundStream`` (keys
``encoder.block.*``, ``decoder_2.model.*``, ``encoder_semantic.*``, ``semantic_model.*``,
``quantizer.vq.layers.N._codebook.*``, ``fc_prior``/``fc_post1``/``fc_post2``). transformers'
``XcodecModel`` computes the same network (it was checked code-for-code and audio-for-audio on
the tiny fixture), so this module maps the release keys onto it in memory: DAC weight norm
(``weight_g``/``weight_v``) is folded into plain weights, the DAC layer indices become named
layers, the semantic conv wrappers lose their ``.conv`` level, the codebooks and the three
linears are renamed. :func:`release_state_dict` is the inverse (weight norm re-split with
``g = ||w||``), so a loaded model can be written back in the release layout.

Shapes: a waveform batch is ``(B, S)`` at 16 kHz; latents are ``(B, C, T)`` with ``T`` frames
at 50 Hz; codes are ``(levels, B, T)`` as in the reference (levels first).
"""
from __future__ import annotations

import math
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from xy_tokenizer.errors import CheckpointError, ConfigError

#: Samples per token frame at 16 kHz (product of the DAC strides 8*5*4*2).
HOP = 320
SAMPLE_RATE = 16000
#: Zero samples added on each side before the semantic model (and the acoustic re-pad).
SEMANTIC_PAD = HOP // 2
#: The shortest input the reference encodes (its first acoustic pass fails below this).
MIN_INPUT_SAMPLES = 312
#: Bits of one code; the reference hard-codes 10 (1024 codes) in its level count.
BITS_PER_CODE = 10
#: Residual units per semantic encoder block and their dilations (release: 2 blocks x 2 units).
SEMANTIC_BLOCK_DILATIONS = (1, 1)
SEMANTIC_STRIDES = (1, 1)
DAC_DILATIONS = (1, 3, 9)

#: Semantic teachers of the releases (``semantic_techer`` in the YAML) and their configs. Only
#: the architecture is needed: the weights are in the X-Codec checkpoint itself.
SEMANTIC_TEACHERS = {
    "hubert_base": "facebook/hubert-base-ls960",
    "hubert_base_general": "ZhenYe234/hubert_base_general_audio",
    "wavlm_base_plus": "microsoft/wavlm-base-plus",
}
_BASE = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
    "hidden_act": "gelu", "layer_norm_eps": 1e-5,
    "conv_dim": [512] * 7, "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_bias": False, "feat_extract_norm": "group", "feat_extract_activation": "gelu",
    "num_conv_pos_embeddings": 128, "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": False,
}
#: HuBERT base (facebook/hubert-base-ls960; hubert_base_general_audio has the same size).
HUBERT_BASE = {"model_type": "hubert", **_BASE, "feat_proj_layer_norm": True}
#: WavLM base plus (microsoft/wavlm-base-plus): HuBERT base plus the gated relative position bias.
WAVLM_BASE_PLUS = {"model_type": "wavlm", **_BASE, "num_buckets": 320, "max_bucket_distance": 800}

#: Reference release layout: sizes the reference hard-codes (not in the YAML).
RELEASE_ENCODER_DIM = 64
RELEASE_DECODER_DIM = 1024

_WN_SUFFIXES = ("weight_g", "weight_v")
_POS_CONV = "semantic_model.encoder.pos_conv_embed.conv."
_POS_NEW = ("parametrizations.weight.original0", "parametrizations.weight.original1")
_POS_OLD = ("weight_g", "weight_v")
_SHOW = 6


@dataclass
class XCodecDims:
    """Every size of an X-Codec network (release: D 256, 64/1024 widths, HuBERT/WavLM base)."""

    acoustic_dim: int = 256                  # D: acoustic latent channels
    encoder_dim: int = RELEASE_ENCODER_DIM   # first DAC encoder width
    decoder_dim: int = RELEASE_DECODER_DIM   # first DAC decoder width
    down_ratios: tuple[int, ...] = (8, 5, 4, 2)
    up_ratios: tuple[int, ...] = (8, 5, 4, 2)
    num_quantizers: int = 8
    codebook_size: int = 1024
    semantic: dict = field(default_factory=lambda: dict(HUBERT_BASE))

    @property
    def semantic_kind(self) -> str:
        return self.semantic["model_type"]

    @property
    def semantic_dim(self) -> int:
        return int(self.semantic["hidden_size"])

    @property
    def latent_dim(self) -> int:
        return self.acoustic_dim + self.semantic_dim

    @property
    def hop(self) -> int:
        return math.prod(self.down_ratios)

    def is_release(self) -> bool:
        base = HUBERT_BASE if self.semantic_kind == "hubert" else WAVLM_BASE_PLUS
        return (self.acoustic_dim, self.encoder_dim, self.decoder_dim, self.down_ratios, self.up_ratios,
                self.num_quantizers, self.codebook_size) == (256, 64, 1024, (8, 5, 4, 2), (8, 5, 4, 2), 8, 1024) \
            and all(self.semantic.get(k) == v for k, v in base.items())

    def xcodec_config(self):
        """The transformers ``XcodecConfig`` of these sizes."""
        from transformers import XcodecConfig

        bandwidth = self.num_quantizers * BITS_PER_CODE * SAMPLE_RATE / self.hop / 1000
        return XcodecConfig(
            target_bandwidths=[bandwidth],
            sample_rate=SAMPLE_RATE,
            codebook_size=self.codebook_size,
            channel_ratios=[1] * len(SEMANTIC_STRIDES),
            strides=list(SEMANTIC_STRIDES),
            block_dilations=list(SEMANTIC_BLOCK_DILATIONS),
            acoustic_model_config={
                "encoder_hidden_size": self.encoder_dim, "decoder_hidden_size": self.decoder_dim,
                "hidden_size": self.acoustic_dim, "downsampling_ratios": list(self.down_ratios),
                "upsampling_ratios": list(self.up_ratios),
            },
            semantic_model_config=dict(self.semantic),
        )


# -- key mapping ---------------------------------------------------------------------------------
def _acoustic_pairs(n_down: int, n_up: int) -> list[tuple[str, str, str]]:
    """``(release prefix, transformers prefix, kind)`` of every DAC layer; kind "wn" or "snake"."""
    pairs = [("encoder.block.0", "acoustic_encoder.conv1", "wn")]

    def unit(rel: str, hf: str) -> None:
        pairs.extend([(f"{rel}.block.0", f"{hf}.snake1", "snake"), (f"{rel}.block.1", f"{hf}.conv1", "wn"),
                      (f"{rel}.block.2", f"{hf}.snake2", "snake"), (f"{rel}.block.3", f"{hf}.conv2", "wn")])

    for i in range(n_down):
        rel, hf = f"encoder.block.{i + 1}", f"acoustic_encoder.block.{i}"
        for u in range(len(DAC_DILATIONS)):
            unit(f"{rel}.block.{u}", f"{hf}.res_unit{u + 1}")
        pairs += [(f"{rel}.block.3", f"{hf}.snake1", "snake"), (f"{rel}.block.4", f"{hf}.conv1", "wn")]
    pairs += [(f"encoder.block.{n_down + 1}", "acoustic_encoder.snake1", "snake"),
              (f"encoder.block.{n_down + 2}", "acoustic_encoder.conv2", "wn"),
              ("decoder_2.model.0", "acoustic_decoder.conv1", "wn")]
    for i in range(n_up):
        rel, hf = f"decoder_2.model.{i + 1}", f"acoustic_decoder.block.{i}"
        pairs += [(f"{rel}.block.0", f"{hf}.snake1", "snake"), (f"{rel}.block.1", f"{hf}.conv_t1", "wn")]
        for u in range(len(DAC_DILATIONS)):
            unit(f"{rel}.block.{u + 2}", f"{hf}.res_unit{u + 1}")
    pairs += [(f"decoder_2.model.{n_up + 1}", "acoustic_decoder.snake1", "snake"),
              (f"decoder_2.model.{n_up + 2}", "acoustic_decoder.conv2", "wn")]
    return pairs


_SIMPLE = (("fc_prior.", "fc."), ("fc_post1.", "fc1."), ("fc_post2.", "fc2."))
_CODEBOOK_REL = re.compile(r"^quantizer\.vq\.layers\.(\d+)\._codebook\.(\w+)$")
_CODEBOOK_HF = re.compile(r"^quantizer\.quantizers\.(\d+)\.codebook\.(\w+)$")
_SEM_RES_CONV2 = re.compile(r"res_units\.\d+\.conv2\.weight$")


def _plain_to_hf(key: str) -> str | None:
    """Transformers name of a release key outside the DAC (None: not an X-Codec key)."""
    for rel, hf in _SIMPLE:
        if key.startswith(rel):
            return hf + key[len(rel):]
    m = _CODEBOOK_REL.match(key)
    if m:
        return f"quantizer.quantizers.{m[1]}.codebook.{m[2]}"
    if key.startswith(("encoder_semantic.", "decoder_semantic.")):
        return key.replace(".conv.conv.", ".conv.").replace(".conv1.conv.", ".conv1.").replace(".conv2.conv.", ".conv2.")
    if key.startswith("semantic_model."):
        return key
    return None


def _plain_to_release(key: str) -> str:
    for rel, hf in _SIMPLE:
        if key.startswith(hf):
            return rel + key[len(hf):]
    m = _CODEBOOK_HF.match(key)
    if m:
        return f"quantizer.vq.layers.{m[1]}._codebook.{m[2]}"
    if key.startswith(("encoder_semantic.", "decoder_semantic.")) and not _SEM_RES_CONV2.search(key):
        head, _, leaf = key.rpartition(".")
        return f"{head}.conv.{leaf}"
    return key


def normalise_pos_conv(state: Mapping[str, torch.Tensor], form: Iterable[str] = _POS_NEW) -> dict[str, torch.Tensor]:
    """The state with the semantic positional conv's weight norm under ``form``'s key names.

    Releases saved by older transformers use ``weight_g``/``weight_v``, newer ones
    ``parametrizations.weight.original0``/``original1``: the same two tensors.
    """
    g_name, v_name = tuple(form)
    out = dict(state)
    for g_old, v_old in (_POS_OLD, _POS_NEW):
        if _POS_CONV + g_old in out and (g_old, v_old) != (g_name, v_name):
            out[_POS_CONV + g_name] = out.pop(_POS_CONV + g_old)
            out[_POS_CONV + v_name] = out.pop(_POS_CONV + v_old)
    return out


def fold_weight_norm(g: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``g * v / ||v||`` with the norm over every axis but 0 (``torch.nn.utils.weight_norm``, dim 0)."""
    return torch._weight_norm(v, g, 0)


def release_to_hf(state: Mapping[str, torch.Tensor], dims: XCodecDims, source: str) -> dict[str, torch.Tensor]:
    """Map a release state dict onto ``XcodecModel``'s names (weight norm folded).

    Raises :class:`CheckpointError` naming ``source`` and the keys when a DAC layer lacks one
    of its tensors or a key belongs to no X-Codec layer.
    """
    state = normalise_pos_conv(state)
    used: set[str] = set()
    out: dict[str, torch.Tensor] = {}
    missing: list[str] = []
    for rel, hf, kind in _acoustic_pairs(len(dims.down_ratios), len(dims.up_ratios)):
        names = [f"{rel}.alpha"] if kind == "snake" else [f"{rel}.weight_g", f"{rel}.weight_v", f"{rel}.bias"]
        absent = [n for n in names if n not in state]
        if absent:
            missing += absent
            continue
        used.update(names)
        if kind == "snake":
            out[f"{hf}.alpha"] = state[names[0]]
        else:
            g, v = state[names[0]], state[names[1]]
            if g.dim() != v.dim() or g.shape[0] != v.shape[0]:
                raise CheckpointError(f"{source}: {names[0]} {tuple(g.shape)} does not fit {names[1]} {tuple(v.shape)}")
            out[f"{hf}.weight"] = fold_weight_norm(g.float(), v.float()).to(v.dtype)
            out[f"{hf}.bias"] = state[names[2]]
    if missing:
        raise CheckpointError(f"{source}: not a complete X-Codec checkpoint; missing {len(missing)} keys: "
                              f"{', '.join(missing[:_SHOW])}{' ...' if len(missing) > _SHOW else ''}")
    foreign = []
    for key, value in state.items():
        if key in used:
            continue
        hf = _plain_to_hf(key)
        if hf is None:
            foreign.append(key)
        else:
            out[hf] = value
    if foreign:
        raise CheckpointError(f"{source}: {len(foreign)} keys belong to no X-Codec layer: "
                              f"{', '.join(foreign[:_SHOW])}{' ...' if len(foreign) > _SHOW else ''}")
    return out


def hf_to_release(state: Mapping[str, torch.Tensor], dims: XCodecDims) -> dict[str, torch.Tensor]:
    """Inverse of :func:`release_to_hf`: the reference's key names, weight norm as ``g = ||w||, v = w``."""
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for rel, hf, kind in _acoustic_pairs(len(dims.down_ratios), len(dims.up_ratios)):
        if kind == "snake":
            out[f"{rel}.alpha"] = state[f"{hf}.alpha"]
            used.add(f"{hf}.alpha")
            continue
        w = state[f"{hf}.weight"]
        out[f"{rel}.bias"] = state[f"{hf}.bias"]
        out[f"{rel}.weight_g"] = torch.linalg.vector_norm(w.float(), dim=tuple(range(1, w.dim())), keepdim=True).to(w.dtype)
        out[f"{rel}.weight_v"] = w
        used.update((f"{hf}.weight", f"{hf}.bias"))
    for key, value in state.items():
        if key not in used:
            out[_plain_to_release(key)] = value
    return out


# -- sizes from tensors ------------------------------------------------------------------------------
def _count(state: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m[1]) for k in state for m in [rx.match(k)] if m}
    return max(found) + 1 if found else 0


def dims_from_state(state: Mapping[str, torch.Tensor], source: str, semantic: dict | None = None) -> XCodecDims:
    """Every size of the network, read off the release's tensor shapes.

    ``semantic``: the semantic model's config where known (a ``config.json``); what the shapes
    cannot tell (attention heads, strides of the feature extractor) comes from it, else from
    the base-size config of the detected kind.
    """
    def shape(key: str) -> tuple[int, ...]:
        value = state.get(key)
        if value is None:
            raise CheckpointError(f"{source}: not an X-Codec checkpoint, {key} is missing")
        return tuple(value.shape)

    n_down = _count(state, r"^encoder\.block\.(\d+)\.") - 3
    n_up = _count(state, r"^decoder_2\.model\.(\d+)\.") - 3
    if n_down < 1 or n_up < 1:
        raise CheckpointError(f"{source}: not an X-Codec checkpoint (no DAC encoder.block.* / decoder_2.model.* layers)")
    down = tuple(shape(f"encoder.block.{i + 1}.block.4.weight_v")[2] // 2 for i in range(n_down))
    up = tuple(shape(f"decoder_2.model.{i + 1}.block.1.weight_v")[2] // 2 for i in range(n_up))
    n_q = _count(state, r"^quantizer\.vq\.layers\.(\d+)\._codebook\.")
    bins, _ = shape("quantizer.vq.layers.0._codebook.embed")
    return XCodecDims(
        acoustic_dim=shape(f"encoder.block.{n_down + 2}.weight_v")[0],
        encoder_dim=shape("encoder.block.0.weight_v")[0],
        decoder_dim=shape("decoder_2.model.0.weight_v")[0],
        down_ratios=down, up_ratios=up, num_quantizers=n_q, codebook_size=bins,
        semantic=semantic_config_from_state(state, source, semantic),
    )


def semantic_kind(state: Mapping[str, Any]) -> str | None:
    """``"wavlm"`` / ``"hubert"`` from the semantic model's keys, None without them."""
    if not any(k.startswith("semantic_model.") for k in state):
        return None
    wavlm = any(".attention.gru_rel_pos" in k or ".attention.rel_attn_embed" in k for k in state
                if k.startswith("semantic_model."))
    return "wavlm" if wavlm else "hubert"


def semantic_config_from_state(state: Mapping[str, torch.Tensor], source: str, given: dict | None = None) -> dict:
    """The semantic model's config: the sizes its tensors show, the rest from ``given`` or base."""
    kind = semantic_kind(state)
    if kind is None:
        raise CheckpointError(f"{source}: no semantic_model.* tensors; X-Codec checkpoints carry the semantic "
                              "model's weights (pass semantic_model=<HF folder> for a file without them)")
    given = dict(given or {})
    if given.get("model_type", kind) != kind:
        raise ConfigError(f"{source}: the checkpoint's semantic model is {kind}, the given config is "
                          f"{given['model_type']}; pass the matching config")
    cfg = dict(HUBERT_BASE if kind == "hubert" else WAVLM_BASE_PLUS)
    cfg.update({k: v for k, v in given.items() if not k.startswith("_")})
    p = "semantic_model."
    n_conv = _count(state, r"^semantic_model\.feature_extractor\.conv_layers\.(\d+)\.")
    convs = [tuple(state[f"{p}feature_extractor.conv_layers.{i}.conv.weight"].shape) for i in range(n_conv)]
    strides = list(cfg["conv_stride"])
    if len(strides) != n_conv:
        raise ConfigError(f"{source}: the semantic model has {n_conv} feature-extractor convs, its config "
                          f"{len(strides)} strides; pass semantic_model=<HF folder> with the matching config.json")
    hidden = state[f"{p}feature_projection.projection.weight"].shape[0]
    pos_v = state.get(f"{_POS_CONV}{_POS_NEW[1]}", state.get(f"{_POS_CONV}{_POS_OLD[1]}"))
    if pos_v is None:
        raise CheckpointError(f"{source}: the semantic model's positional conv weights are missing "
                              f"({_POS_CONV}weight_g/weight_v or parametrizations.weight.original0/1)")
    cfg.update(
        hidden_size=hidden,
        num_hidden_layers=_count(state, r"^semantic_model\.encoder\.layers\.(\d+)\."),
        intermediate_size=state[f"{p}encoder.layers.0.feed_forward.intermediate_dense.weight"].shape[0],
        conv_dim=[c[0] for c in convs], conv_kernel=[c[2] for c in convs],
        conv_bias=f"{p}feature_extractor.conv_layers.0.conv.bias" in state,
        feat_extract_norm="layer" if f"{p}feature_extractor.conv_layers.1.layer_norm.weight" in state else "group",
        num_conv_pos_embeddings=pos_v.shape[2],
        num_conv_pos_embedding_groups=hidden // pos_v.shape[1],
    )
    if kind == "hubert":
        cfg["feat_proj_layer_norm"] = f"{p}feature_projection.layer_norm.weight" in state
    rel = state.get(f"{p}encoder.layers.0.attention.rel_attn_embed.weight")
    if rel is not None:
        cfg["num_buckets"], cfg["num_attention_heads"] = int(rel.shape[0]), int(rel.shape[1])
    elif "num_attention_heads" not in given and hidden != HUBERT_BASE["hidden_size"]:
        if hidden % 64:
            raise ConfigError(f"{source}: cannot tell the semantic model's attention heads from its tensors "
                              f"(hidden size {hidden}); pass semantic_model=<HF folder> or its config.json")
        cfg["num_attention_heads"] = hidden // 64
    return cfg


# -- the network ------------------------------------------------------------------------------------
class XCodecNetwork(nn.Module):
    """An ``XcodecModel`` and the steps of the reference's encode/decode, each callable alone.

    The quantizer always runs in float32 (codebooks and distances), whatever the compute dtype.
    """

    def __init__(self, dims: XCodecDims, *, meta: bool = True) -> None:
        super().__init__()
        from transformers import XcodecModel

        self.dims = dims
        config = dims.xcodec_config()
        if dims.semantic_kind == "wavlm":
            config.semantic_model_config._attn_implementation = "eager"
        with torch.device("meta") if meta else nullcontext():
            self.model = XcodecModel(config)
        self.model.eval()
        self.compute_dtype = torch.float32

    # -- weights ----------------------------------------------------------------------------
    def load_release(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        """Load a release state dict (strict: every tensor present with its shape)."""
        self.load_hf(release_to_hf(state, self.dims, source), source, release=True)

    def load_hf(self, hf_state: Mapping[str, torch.Tensor], source: str, *, release: bool = False) -> None:
        own = self.model.state_dict()
        hf_state = normalise_pos_conv(hf_state, _pos_form(own))
        name = (lambda k: _release_name(k, self.dims)) if release else (lambda k: k)
        missing = [name(k) for k in own if k not in hf_state]
        extra = [name(k) for k in hf_state if k not in own]
        wrong = [f"{name(k)} {tuple(v.shape)} (expected {tuple(own[k].shape)})"
                 for k, v in hf_state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
        problems = []
        if missing:
            problems.append(f"missing {len(missing)} keys: {', '.join(missing[:_SHOW])}{' ...' if len(missing) > _SHOW else ''}")
        if extra:
            problems.append(f"{len(extra)} unexpected keys: {', '.join(extra[:_SHOW])}{' ...' if len(extra) > _SHOW else ''}")
        if wrong:
            problems.append(f"{len(wrong)} wrong shapes: {', '.join(wrong[:_SHOW])}{' ...' if len(wrong) > _SHOW else ''}")
        if problems:
            raise CheckpointError(f"{source}: does not fit an X-Codec model of the sizes its tensors show; "
                                  + "; ".join(problems))
        for i, q in enumerate(self.model.quantizer.quantizers):
            inited = hf_state[f"quantizer.quantizers.{i}.codebook.inited"]
            if not bool((inited.float() == 1.0).all()):
                raise CheckpointError(
                    f"{source}: codebook of level {i} (quantizer.vq.layers.{i}._codebook.inited) is not "
                    "initialised (inited 0): an untrained checkpoint; the reference would run k-means on "
                    "the input and overwrite it. Use a trained X-Codec checkpoint.")
        tensors = {k: v.detach().to(torch.float32).contiguous() for k, v in hf_state.items()}
        self.model.load_state_dict(tensors, strict=True, assign=True)
        self.model.eval()

    def release_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights in the release's layout and key names (``{key: tensor}``)."""
        return hf_to_release(self.model.state_dict(), self.dims)

    def set_dtype(self, dtype: torch.dtype) -> None:
        """Compute dtype of the networks; the codebooks stay float32."""
        self.compute_dtype = dtype
        self.model.to(dtype)
        self.model.quantizer.to(torch.float32)

    # -- encode steps (wav: (B, S) float at 16 kHz) ---------------------------------------------------
    def semantic_hidden(self, wav: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """All hidden states of the semantic model, each ``(B, Ts, S)``: input of layer 1, then every layer."""
        padded = F.pad(wav.to(self.compute_dtype), (SEMANTIC_PAD, SEMANTIC_PAD))
        return tuple(self.model.semantic_model(padded, output_hidden_states=True).hidden_states)

    def semantic_features(self, wav: torch.Tensor) -> torch.Tensor:
        """Mean of the hidden states, channels first: ``(B, S, Ts)``."""
        return torch.stack(self.semantic_hidden(wav), dim=1).mean(dim=1).transpose(1, 2)

    def acoustic(self, wav: torch.Tensor, frames: int) -> tuple[torch.Tensor, bool]:
        """DAC encoder output ``(B, D, frames)`` and whether the centred re-pad was needed.

        The reference runs the encoder on the raw samples and, when that gives another frame
        count than the semantic branch, again on the input zero-padded 160 samples each side.
        """
        x = wav.to(self.compute_dtype).unsqueeze(1)
        out = self.model.acoustic_encoder(x)
        if out.shape[-1] == frames:
            return out, False
        return self.model.acoustic_encoder(F.pad(x, (SEMANTIC_PAD, SEMANTIC_PAD))), True

    def encode_steps(self, wav: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate of one encode: ``sem_feat (B,S,T)``, ``sem_enc (B,S,T)``,
        ``ac_enc (B,D,T)``, ``ac_repadded`` (bool tensor), ``pre_rvq (B,D+S,T)`` float32."""
        feat = self.semantic_features(wav)
        sem = self.model.encoder_semantic(feat)
        ac, repadded = self.acoustic(wav, sem.shape[-1])
        if ac.shape[-1] != sem.shape[-1]:
            raise CheckpointError(f"the acoustic encoder gives {ac.shape[-1]} frames for {wav.shape[-1]} samples, "
                                  f"the semantic branch {sem.shape[-1]}: the model's strides do not fit hop {HOP}")
        fused = torch.cat([ac, sem], dim=1)
        latent = self.model.fc(fused.transpose(1, 2)).transpose(1, 2)
        return {"sem_feat": feat, "sem_enc": sem, "ac_enc": ac, "ac_repadded": torch.tensor(repadded),
                "pre_rvq": latent.float()}

    def latent(self, wav: torch.Tensor) -> torch.Tensor:
        """Fused latent ``(B, D+S, T)`` float32 for waveforms ``(B, S)`` of one length."""
        return self.encode_steps(wav)["pre_rvq"]

    def quantize(self, latent: torch.Tensor, levels: int) -> torch.Tensor:
        """Residual VQ in float32: codes ``(levels, B, T)`` int64.

        Per level: ``argmax -(|r|^2 - 2 r.E + |E|^2)`` (first index on ties), ``r -= E[code]``.
        """
        residual = latent.float().transpose(1, 2)  # (B, T, C)
        codes = []
        for q in self.model.quantizer.quantizers[:levels]:
            embed = q.codebook.embed.float()  # (K, C)
            dist = -(residual.pow(2).sum(-1, keepdim=True) - 2 * residual @ embed.t() + embed.pow(2).sum(-1))
            idx = dist.max(dim=-1).indices
            residual = residual - F.embedding(idx, embed)
            codes.append(idx)
        return torch.stack(codes)

    def dequantize(self, codes: torch.Tensor) -> torch.Tensor:
        """Sum of the selected codebook rows: codes ``(k, B, T)`` -> ``(B, D+S, T)`` float32."""
        out = None
        for level, q in zip(codes, self.model.quantizer.quantizers):
            row = F.embedding(level, q.codebook.embed.float())
            out = row if out is None else out + row
        return out.transpose(1, 2)

    def decode_latent(self, latent: torch.Tensor) -> torch.Tensor:
        """``fc_post2`` and the DAC decoder: ``(B, D+S, T)`` -> ``(B, HOP*T)`` float32."""
        post = self.model.fc2(latent.to(self.compute_dtype).transpose(1, 2)).transpose(1, 2)
        return self.model.acoustic_decoder(post)[:, 0].float()

    def post(self, latent: torch.Tensor) -> torch.Tensor:
        """``fc_post2(latent)``: ``(B, D+S, T)`` -> ``(B, D, T)`` (the decoder input)."""
        return self.model.fc2(latent.to(self.compute_dtype).transpose(1, 2)).transpose(1, 2)

    def codebook_tensor(self) -> torch.Tensor:
        """``(levels, codebook_size, D+S)`` float32."""
        return torch.stack([q.codebook.embed.float() for q in self.model.quantizer.quantizers])


def _pos_form(own: Mapping[str, Any]) -> tuple[str, str]:
    return _POS_NEW if _POS_CONV + _POS_NEW[0] in own else _POS_OLD


def _release_name(hf_key: str, dims: XCodecDims) -> str:
    """Release name of a transformers key, for messages (weight -> weight_g/v)."""
    for rel, hf, _ in _acoustic_pairs(len(dims.down_ratios), len(dims.up_ratios)):
        if hf_key.startswith(hf + "."):
            leaf = hf_key[len(hf) + 1:]
            return f"{rel}.{'weight_g/weight_v' if leaf == 'weight' else leaf}"
    return _plain_to_release(hf_key)


def random_release_state(dims: XCodecDims, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the release layout for ``dims``, at plausible scales (benchmarks).

    Built from the module shapes on the meta device, so nothing full size is allocated twice.
    """
    net = XCodecNetwork(dims, meta=True)
    layout = hf_to_release_shapes(net.model.state_dict(), dims)
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in layout.items():
        if key.endswith(("alpha", "weight_g", "layer_norm.weight", "original0", "inited")):
            t = torch.ones(shape)
        elif key.endswith(("bias", "cluster_size", "embed_avg", "masked_spec_embed")):
            t = torch.zeros(shape)
        else:  # weights, weight_v, codebooks: unit variance per output after the fan-in
            fan_in = math.prod(shape[1:]) if len(shape) > 1 else 1
            t = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        out[key] = t
    return out


def hf_to_release_shapes(state: Mapping[str, torch.Tensor], dims: XCodecDims) -> dict[str, tuple[int, ...]]:
    """Release key -> shape for a transformers state dict (meta tensors welcome)."""
    out: dict[str, tuple[int, ...]] = {}
    used: set[str] = set()
    for rel, hf, kind in _acoustic_pairs(len(dims.down_ratios), len(dims.up_ratios)):
        if kind == "snake":
            out[f"{rel}.alpha"] = tuple(state[f"{hf}.alpha"].shape)
            used.add(f"{hf}.alpha")
            continue
        w = tuple(state[f"{hf}.weight"].shape)
        out[f"{rel}.bias"] = tuple(state[f"{hf}.bias"].shape)
        out[f"{rel}.weight_g"] = (w[0],) + (1,) * (len(w) - 1)
        out[f"{rel}.weight_v"] = w
        used.update((f"{hf}.weight", f"{hf}.bias"))
    for key, value in state.items():
        if key not in used:
            out[_plain_to_release(key)] = tuple(value.shape)
    return out
