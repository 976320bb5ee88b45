"""Loader of NeuCodec and X-Codec2 checkpoints (the :class:`~xy_tokenizer.codecs.spec.Loader` protocol).

NeuCodec files (``neuphonic/neucodec`` ``pytorch_model.bin``) hold ``CodecEnc.*``,
``SemanticEncoder_module.*``, ``generator.*``, ``fc_prior.*``, ``fc_post_a.*`` and no
``semantic_model.*``; the Wav2Vec2-BERT comes from a separate ``facebook/w2v-bert-2.0`` folder
(``semantic_model=``). X-Codec2 files (``HKUSTAudio/xcodec2`` ``model.safetensors``) carry the
same codec tensors plus ``semantic_model.*``. Sizes are read from tensor shapes; the ISTFT head
width tells the output rate (1922 rows: n_fft 1920, 24 kHz; 1282: n_fft 1280, 16 kHz).

Every tensor the computation needs must be present with the right shape (else
:class:`CheckpointError` naming the file); other tensors (the release's ``fc_post_s`` /
``SemanticDecoder_module`` training head, anything else) are ignored and reported as
``codec.ignored_keys``.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xy_tokenizer.io.checkpoint import read_state_dict
from xy_tokenizer.errors import CheckpointError, ConfigError

from ..spec import CheckpointSource
from .codec import NeuCodecCodec, make_codec
from .model import (NEUCODEC_DIMS, SEMANTIC_LAYERS, XCODEC2_DIMS, Dims, NeuCodecNet, build_semantic_model,
                    w2v_bert_config)

log = logging.getLogger(__name__)

NEUCODEC = "neucodec"
XCODEC2 = "xcodec2"
DISTILL = "distill_neucodec"
#: Keys only DistillNeuCodec files have.
_DISTILL_KEYS = ("codec_encoder.encoder.blocks.0.conv_2.parametrizations.weight.original1", "fc_sq_prior.weight",
                 "fc_prior.weight", "generator.head.out.weight")
DISTILHUBERT_REPO = "ntu-spml/distilhubert"
SEMANTIC_PREFIX = "semantic_model."
#: Prefixes of the codec's own tensors (both families).
CODEC_PREFIXES = ("CodecEnc.", "SemanticEncoder_module.", "generator.", "fc_prior.", "fc_post_a.")
#: Keys whose shapes give the sizes.
_KEY_SEM_IN = "SemanticEncoder_module.initial_conv.weight"
_KEY_SEM_OUT = "SemanticEncoder_module.final_conv.weight"
_KEY_NGF = "CodecEnc.conv_blocks.0.weight_v"
_KEY_AC_OUT = "CodecEnc.conv_final_block.1.weight_v"
_KEY_PRIOR = "fc_prior.weight"
_KEY_POST = "fc_post_a.weight"
_KEY_HEAD = "generator.head.out.weight"
#: Tensors that make a complete Wav2Vec2-BERT inside a file (X-Codec2).
_SEMANTIC_CORE = ("feature_projection.projection.weight", "encoder.layers.0.self_attn.linear_q.weight",
                  "encoder.layers.0.self_attn.distance_embedding.weight")
_DEPTH_RE = re.compile(r"^generator\.backbone\.transformers\.(\d+)\.")
_LAYER_RE = re.compile(r"^encoder\.layers\.(\d+)\.")
#: Head dimension of the decoder's attention in the releases (heads = width / 64).
DECODER_HEAD_DIM = 64
#: Rows of the head: n_fft + 2; n_fft = 4 hop.
HOP_PER_NFFT = 4
#: Where the reference gets its semantic model, and what a NeuCodec user must download.
W2V_BERT_REPO = "facebook/w2v-bert-2.0"
W2V_BERT_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
#: Relative positions of Wav2Vec2-BERT's distance embedding to the right (left = rows - 1 - this).
W2V_RIGHT_POSITIONS = 8


def _family_of(state: Mapping[str, Any]) -> str | None:
    if not all(any(k.startswith(p) for k in state) for p in CODEC_PREFIXES):
        return None
    if _KEY_HEAD not in state or _KEY_PRIOR not in state:
        return None
    # X-Codec2 carries a whole Wav2Vec2-BERT and a 16 kHz head; stray semantic_model.* tensors in a
    # 24 kHz (NeuCodec) file are treated as extras (ignored and reported), not as X-Codec2.
    semantic_inside = all(SEMANTIC_PREFIX + k in state for k in _SEMANTIC_CORE)
    neucodec_head = tuple(state[_KEY_HEAD].shape)[:1] == (NEUCODEC_DIMS.n_fft + 2,)
    return XCODEC2 if semantic_inside and not neucodec_head else NEUCODEC


def _shape(state: Mapping[str, Any], key: str, path: Path | str, rank: int) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{path}: missing tensor {key!r}; not a complete NeuCodec/X-Codec2 checkpoint")
    shape = tuple(state[key].shape)
    if len(shape) != rank:
        raise CheckpointError(f"{path}: tensor {key!r} has shape {shape}, expected {rank} dimensions")
    return shape


def infer_dims(state: Mapping[str, Any], family: str, path: Path | str = "<checkpoint>",
               decoder_heads: int | None = None) -> Dims:
    """Sizes of the network stored in ``state`` (shapes only)."""
    channels, sem_hidden, _ = _shape(state, _KEY_SEM_IN, path, 3)
    sem_code = _shape(state, _KEY_SEM_OUT, path, 3)[0]
    ngf = _shape(state, _KEY_NGF, path, 3)[0]
    ac_hidden = _shape(state, _KEY_AC_OUT, path, 3)[0]
    vq_dim = _shape(state, _KEY_PRIOR, path, 2)[0]
    dec_dim = _shape(state, _KEY_POST, path, 2)[0]
    rows = _shape(state, _KEY_HEAD, path, 2)[0]
    n_fft = rows - 2
    if n_fft <= 0 or n_fft % HOP_PER_NFFT:
        raise CheckpointError(f"{path}: ISTFT head has {rows} outputs; expected n_fft + 2 with n_fft a multiple of 4")
    depth = len({int(m.group(1)) for k in state if (m := _DEPTH_RE.match(k))})
    heads = decoder_heads if decoder_heads is not None else max(1, dec_dim // DECODER_HEAD_DIM)
    if dec_dim % heads:
        raise ConfigError(f"decoder width {dec_dim} is not divisible by {heads} heads")
    base = XCODEC2_DIMS if family == XCODEC2 else NEUCODEC_DIMS
    return replace(base, semantic_hidden=sem_hidden, semantic_code=sem_code, semantic_channels=channels,
                   ngf=ngf, acoustic_hidden=ac_hidden, vq_dim=vq_dim, decoder_dim=dec_dim, decoder_depth=depth,
                   decoder_heads=heads, n_fft=n_fft, hop=n_fft // HOP_PER_NFFT)


def recognise(source: CheckpointSource) -> str | None:
    """``"neucodec"`` for the released NeuCodec sizes, ``"neucodec-custom"`` for its layout with
    other sizes, ``"distill_neucodec"`` for a DistillNeuCodec file of the released layout, ``None``
    for anything else (X-Codec2 files are the ``xcodec2`` family's)."""
    if all(k in source.state for k in _DISTILL_KEYS):
        expected = variant_net(DISTILL).release_state_dict()
        shapes_ok = all(k in source.state and tuple(source.state[k].shape) == tuple(v.shape) for k, v in expected.items())
        return DISTILL if shapes_ok else None
    return _recognise(source, NEUCODEC)


def _recognise(source: CheckpointSource, family: str) -> str | None:
    state = source.state
    if _family_of(state) != family:
        return None
    try:
        dims = infer_dims(state, family, source.path)
    except (CheckpointError, ConfigError):
        return None
    released = NEUCODEC_DIMS if family == NEUCODEC else XCODEC2_DIMS
    if dims != released:
        return f"{family}-custom"
    if family == XCODEC2:
        semantic = {k[len(SEMANTIC_PREFIX):]: v for k, v in state.items() if k.startswith(SEMANTIC_PREFIX)}
        if _semantic_values_from_shapes(semantic, source.path).get("hidden_size") != released.semantic_hidden:
            return f"{family}-custom"
    return family


# -- config ---------------------------------------------------------------------------------
def _decoder_heads(config: Any) -> int | None:
    """Decoder heads from ``config``: a mapping or a YAML/JSON file with ``decoder: {heads: N}``
    (or ``decoder_heads: N``); ``None`` when not given (then width / 64, as released)."""
    if config is None:
        return None
    if isinstance(config, (str, Path)):
        path = Path(config)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            config = json.loads(text)
        else:
            import yaml

            config = yaml.safe_load(text)
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a mapping or a YAML/JSON file, got {type(config).__name__}")
    heads = config.get("decoder_heads")
    if heads is None and isinstance(config.get("decoder"), Mapping):
        heads = config["decoder"].get("heads")
    if heads is None:
        return None
    if not isinstance(heads, int) or heads < 1:
        raise ConfigError(f"decoder heads must be a positive integer, got {heads!r}")
    return heads


def _semantic_values_from_shapes(state: Mapping[str, Any], path: Path | str) -> dict[str, Any]:
    """Wav2Vec2-BERT sizes read from its tensors (keys without the ``semantic_model.`` prefix)."""
    proj = state.get("feature_projection.projection.weight")
    dist = state.get("encoder.layers.0.self_attn.distance_embedding.weight")
    ffn = state.get("encoder.layers.0.ffn1.intermediate_dense.weight")
    conv = state.get("encoder.layers.0.conv_module.depthwise_conv.weight")
    if proj is None or dist is None or ffn is None or conv is None:
        return {}
    hidden, feat_in = proj.shape
    positions, head_dim = dist.shape
    layers = len({int(m.group(1)) for k in state if (m := _LAYER_RE.match(k))})
    return {"hidden_size": hidden, "feature_projection_input_dim": feat_in,
            "num_attention_heads": hidden // head_dim, "intermediate_size": ffn.shape[0],
            "conv_depthwise_kernel_size": conv.shape[-1], "num_hidden_layers": layers,
            "right_max_position_embeddings": W2V_RIGHT_POSITIONS,
            "left_max_position_embeddings": positions - 1 - W2V_RIGHT_POSITIONS,
            "output_hidden_size": hidden}


def _semantic_folder(semantic_model: str | Path | None, *, required: bool) -> Path | None:
    if semantic_model is None:
        if required:
            raise CheckpointError(
                f"NeuCodec needs its semantic model, {W2V_BERT_REPO} ({', '.join(W2V_BERT_FILES)}), which the "
                "checkpoint does not contain. Download it (e.g. `huggingface-cli download facebook/w2v-bert-2.0 "
                "config.json model.safetensors preprocessor_config.json --local-dir <folder>`) and pass that folder "
                "as semantic_model=")
        return None
    path = Path(semantic_model)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise CheckpointError(
            f"{path}: semantic model folder not found; it must hold {W2V_BERT_REPO}'s {', '.join(W2V_BERT_FILES)} "
            f"(download them from the Hub repo {W2V_BERT_REPO})")
    return path


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable JSON ({exc})") from None


def _check_preprocessor(folder: Path) -> None:
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return
    pre = _read_json(path)
    expected = {"feature_size": 80, "num_mel_bins": 80, "sampling_rate": 16000, "stride": 2}
    wrong = {k: pre.get(k) for k, v in expected.items() if k in pre and pre[k] != v}
    if wrong:
        raise CheckpointError(f"{path}: feature extractor settings {wrong} differ from w2v-bert-2.0's {expected}; "
                              "this engine computes the w2v-bert-2.0 features only")


# -- checking -------------------------------------------------------------------------------
def _compare(expected: Mapping[str, torch.Tensor], state: Mapping[str, Any], path: Path | str,
             what: str) -> None:
    missing = [k for k in expected if k not in state]
    wrong = [f"{k} {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
             for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing tensor(s): {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
        if wrong:
            parts.append(f"{len(wrong)} with the wrong shape: {', '.join(wrong[:5])}{' ...' if len(wrong) > 5 else ''}")
        raise CheckpointError(f"{path}: not a loadable {what}: " + "; ".join(parts))


def _assign(module: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    """Load ``state`` (already checked) into a meta-built module, taking ownership of the tensors."""
    own = module.state_dict()
    loaded = {k: state[k].to(torch.float32) if state[k].is_floating_point() else state[k] for k in own}
    module.load_state_dict(loaded, strict=True, assign=True)


def _materialise(net: NeuCodecNet) -> None:
    """Rebuild the non-persistent buffers left on the meta device by a meta build; check none is left."""
    _materialise_buffers_cpu(net)
    for name, tensor in list(net.named_parameters()) + list(net.named_buffers()):
        if tensor.is_meta:
            raise CheckpointError(f"internal error: {name} was not loaded")


def build_net(dims: Dims, semantic_config, *, semantic_in_file: bool, device: str | torch.device = "meta") -> NeuCodecNet:
    """The network of ``dims`` with the Wav2Vec2-BERT of ``semantic_config``, built on ``device``
    (``"meta"``: shapes only, no memory)."""
    with torch.device(device):
        return NeuCodecNet(dims, build_semantic_model(semantic_config), semantic_in_file=semantic_in_file).eval()


# -- load -----------------------------------------------------------------------------------
def load(source: CheckpointSource, *, variant: str, config: Any = None, semantic_model: str | Path | None = None,
         device: str = "auto", dtype: str = "float32") -> NeuCodecCodec:
    """Build a NeuCodec from recognised tensors; the Wav2Vec2-BERT from the ``semantic_model`` folder
    (for DistillNeuCodec: the DistilHuBERT folder)."""
    if variant == DISTILL or all(k in source.state for k in _DISTILL_KEYS):
        return _load_distill(source, semantic_model=semantic_model, device=device, dtype=dtype)
    return _load(source, NEUCODEC, variant=variant, config=config, semantic_model=semantic_model,
                 device=device, dtype=dtype)


def _load(source: CheckpointSource, family: str, *, variant: str, config: Any, semantic_model: str | Path | None,
          device: str, dtype: str) -> NeuCodecCodec:
    path = source.path
    state = source.state
    found = _family_of(state)
    if found != family:
        hint = {NEUCODEC: "an X-Codec2 file (it holds semantic_model.*): load it as xcodec2",
                XCODEC2: "a NeuCodec file (no semantic_model.*): load it as neucodec with semantic_model="}
        raise CheckpointError(f"{path}: not a {family} checkpoint" + (f"; it looks like {hint[family]}" if found else ""))
    dims = infer_dims(state, family, path, _decoder_heads(config))
    folder = _semantic_folder(semantic_model, required=family == NEUCODEC)

    if family == NEUCODEC:
        config_path = folder / "config.json"
        weights_path = folder / "model.safetensors"
        for needed in (config_path, weights_path):
            if not needed.is_file():
                raise CheckpointError(
                    f"{folder}: missing {needed.name}; the semantic model folder must hold {W2V_BERT_REPO}'s "
                    f"{', '.join(W2V_BERT_FILES)}")
        sem_values = _read_json(config_path)
        _check_preprocessor(folder)
        sem_state = read_state_dict(weights_path)
        sem_state = {k.removeprefix("wav2vec2_bert."): v for k, v in sem_state.items()}
        sem_path: Path | str = weights_path
    else:
        sem_state = {k[len(SEMANTIC_PREFIX):]: v for k, v in state.items() if k.startswith(SEMANTIC_PREFIX)}
        sem_values = _semantic_values_from_shapes(sem_state, path)
        if folder is not None:
            if (folder / "config.json").is_file():
                sem_values = _read_json(folder / "config.json")
            _check_preprocessor(folder)
        sem_path = path
    if int(sem_values.get("num_hidden_layers", SEMANTIC_LAYERS)) < SEMANTIC_LAYERS:
        raise CheckpointError(f"{sem_path}: the semantic model has {sem_values.get('num_hidden_layers')} layers; "
                              f"the codec reads the output of layer {SEMANTIC_LAYERS}")
    if int(sem_values.get("hidden_size", -1)) != dims.semantic_hidden:
        raise CheckpointError(
            f"{sem_path}: semantic model width {sem_values.get('hidden_size')} does not match the codec's "
            f"semantic encoder input {dims.semantic_hidden} ({path})")

    net = build_net(dims, w2v_bert_config(sem_values, layers=SEMANTIC_LAYERS), semantic_in_file=family == XCODEC2)
    codec_expected = {k: v for k, v in net.state_dict().items() if not k.startswith(SEMANTIC_PREFIX)}
    sem_expected = net.semantic_model.state_dict()
    _compare(codec_expected, state, path, f"{family} checkpoint")
    optional = {"masked_spec_embed"}
    _compare({k: v for k, v in sem_expected.items() if k not in optional}, sem_state, sem_path,
             "Wav2Vec2-BERT semantic model")
    if any(k not in sem_state for k in optional & set(sem_expected)):
        # Only used for training-time masking; give it a defined value.
        sem_state = dict(sem_state)
        sem_state["masked_spec_embed"] = torch.zeros(sem_expected["masked_spec_embed"].shape)
    _assign(net.semantic_model, sem_state)
    _assign_codec(net, state)
    _materialise(net)

    if family == XCODEC2:
        unused = sorted(k for k in state if k.startswith(SEMANTIC_PREFIX) and k[len(SEMANTIC_PREFIX):] not in sem_expected)
        ignored = sorted(k for k in state if not k.startswith(SEMANTIC_PREFIX) and k not in codec_expected)
    else:
        unused = []
        ignored = sorted(k for k in state if k not in codec_expected)
    if unused:
        log.info("%s: %d semantic tensors beyond layer %d are not needed (the reference discards them)",
                 path, len(unused), SEMANTIC_LAYERS)
    return make_codec(net, variant=variant, device=device, dtype=dtype, checkpoint_path=path,
                      ignored_keys=ignored, unused_keys=unused,
                      semantic_model_path=folder)


def _assign_codec(net: NeuCodecNet, state: Mapping[str, Any]) -> None:
    for name in ("SemanticEncoder_module", "CodecEnc", "generator", "fc_prior", "fc_post_a"):
        sub = getattr(net, name)
        prefix = name + "."
        _assign(sub, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})


# -- random full-size models ----------------------------------------------------------------
def variant_net(variant: str, *, device: str | torch.device = "meta") -> NeuCodecNet:
    """The network of a released variant (released sizes), built on ``device`` (default: meta).

    Its :meth:`~NeuCodecNet.release_state_dict` has exactly the released file's keys and shapes
    (X-Codec2: all 24 semantic layers, as in the file; only 16 run).
    """
    if variant == NEUCODEC:
        return build_net(NEUCODEC_DIMS, w2v_bert_config(layers=SEMANTIC_LAYERS), semantic_in_file=False,
                         device=device)
    if variant == XCODEC2:
        return build_net(XCODEC2_DIMS, w2v_bert_config(), semantic_in_file=True, device=device)
    if variant == DISTILL:
        from transformers import HubertModel

        from .distill import DistillNet, distilhubert_config

        with torch.device(device):
            return DistillNet(HubertModel(distilhubert_config()), NEUCODEC_DIMS).eval()
    raise ConfigError(f"unknown variant {variant!r} for NeuCodec/X-Codec2; use neucodec, distill_neucodec or xcodec2")


def _fill_random(net: NeuCodecNet, seed: int) -> None:
    """Plausible random weights: scaled normal matrices, unit norms, Hann/low-pass fixed buffers."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in list(net.named_parameters()) + list(net.named_buffers()):
            if not p.is_floating_point():
                continue
            leaf = name.rsplit(".", 1)[-1]
            if name.endswith("istft.window"):
                p.copy_(torch.hann_window(p.shape[0]))
            elif leaf == "filter":
                taps = torch.hann_window(p.shape[-1] + 2, periodic=False)[1:-1]
                p.copy_((taps / taps.sum()).view_as(p))
            elif leaf in ("alpha", "beta", "bias") or "layer_norm.bias" in name or "norm1.bias" in name:
                p.zero_()
            elif p.dim() == 1 or leaf in ("weight_g", "original0"):
                p.fill_(1.0)
            else:
                fan_in = max(1, p[0].numel())
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def from_variant(variant: str, *, device: str = "auto", dtype: str = "float32", seed: int = 0) -> NeuCodecCodec:
    """A full-size model of a released variant with random weights (benchmarks)."""
    net = variant_net(variant, device="meta")
    net = net.to_empty(device="cpu")
    _materialise_buffers_cpu(net)
    _fill_random(net, seed)
    if variant == DISTILL:
        from .distill import DistillNeuCodecCodec

        return make_codec(net, variant=variant, device=device, dtype=dtype, codec_class=DistillNeuCodecCodec)
    return make_codec(net, variant=variant, device=device, dtype=dtype)


def _load_distill(source: CheckpointSource, *, semantic_model: str | Path | None, device: str,
                  dtype: str) -> NeuCodecCodec:
    """DistillNeuCodec (unverified against the reference): codec tensors from the file, DistilHuBERT
    from the ``semantic_model`` folder (``ntu-spml/distilhubert``: config.json + weights)."""
    from transformers import HubertModel

    from .distill import DistillNeuCodecCodec, DistillNet, distilhubert_config

    path = source.path
    if semantic_model is None:
        raise CheckpointError(
            f"DistillNeuCodec needs its semantic model, {DISTILHUBERT_REPO}, which the checkpoint does not "
            "contain. Download it (e.g. `huggingface-cli download ntu-spml/distilhubert --local-dir <folder>`) "
            "and pass that folder as semantic_model=")
    folder = _semantic_folder(semantic_model, required=True)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder}: missing config.json; the folder must hold {DISTILHUBERT_REPO}")
    try:
        hubert = HubertModel.from_pretrained(folder, config=distilhubert_config(_read_json(folder / "config.json")))
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{folder}: cannot load DistilHuBERT ({str(exc).splitlines()[0][:200]})") from None
    pre_path = folder / "preprocessor_config.json"
    do_normalize = bool(_read_json(pre_path).get("do_normalize", True)) if pre_path.is_file() else True
    with torch.device("meta"):
        net = DistillNet(nn.Identity(), NEUCODEC_DIMS)
    expected = net.release_state_dict()
    _compare(expected, source.state, path, "DistillNeuCodec checkpoint")
    net = net.to_empty(device="cpu")
    net.load_state_dict({k: source.state[k] for k in expected}, strict=False)
    net.semantic_model = hubert.eval()
    _materialise(net)
    ignored = sorted(k for k in source.state if k not in expected)
    return make_codec(net, variant=DISTILL, device=device, dtype=dtype, codec_class=DistillNeuCodecCodec,
                      checkpoint_path=path, ignored_keys=ignored, semantic_model_path=folder, do_normalize=do_normalize)


def _materialise_buffers_cpu(net: NeuCodecNet) -> None:
    from .modules import FSQ

    fresh = FSQ(1)
    net.generator.quantizer._levels = fresh._levels
    net.generator.quantizer._basis = fresh._basis


#: Checkpoint file names looked for in a folder, in order.
CHECKPOINT_NAMES = ("pytorch_model.bin", "model.safetensors")


