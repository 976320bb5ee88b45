"""Identify and load X-Codec checkpoints (the :class:`~xy_tokenizer.codecs.spec.Loader` protocol).

Accepted layouts:

- the release's flat state dict (``encoder.block.*``, ``decoder_2.*``,
  ``quantizer.vq.layers.*._codebook.embed``, ``semantic_model.*``, ``fc_prior`` ...), with the
  semantic positional conv under either weight-norm key form (``weight_g/weight_v`` or
  ``parametrizations.weight.original0/1``);
- the same wrapped as ``{"codec_model": state_dict}`` (YuE's derivative files), or with every
  key prefixed ``codec_model.``;
- the converted ``hf-audio/xcodec-*`` layout (transformers ``XcodecModel`` names:
  ``acoustic_encoder``, ``acoustic_decoder``, ``fc``/``fc1``/``fc2``,
  ``quantizer.quantizers.N.codebook.*``), weight norm folded or as parametrizations.

Sizes come from the tensor shapes; a YAML (``config=``, or ``config.yaml`` / the variant's
YAML beside the checkpoint) is checked against them. The semantic model's architecture is the
base-size HuBERT / WavLM config unless a ``config.json`` says otherwise (``semantic_model=``
folder, or ``tiny_widths.semantic_model_dir`` in the YAML).
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from xy_tokenizer.codecs.runtime import pick_device, pick_dtype
from xy_tokenizer.io.checkpoint import read_state_dict
from xy_tokenizer.errors import CheckpointError, ConfigError

from ..spec import CheckpointSource
from . import CUSTOM, FAMILY, SEMANTIC_KIND
from .codec import XCodec
from .model import (
    HUBERT_BASE,
    SAMPLE_RATE,
    WAVLM_BASE_PLUS,
    XCodecDims,
    XCodecNetwork,
    dims_from_state,
    fold_weight_norm,
    hf_to_release,
    random_release_state,
    semantic_kind,
)

#: Keys every release checkpoint has (with the semantic model's), in the reference's names.
RELEASE_MARKERS = ("encoder.block.0.weight_v", "decoder_2.model.0.weight_v",
                   "quantizer.vq.layers.0._codebook.embed", "fc_prior.weight")
#: The same in transformers' converted layout.
HF_MARKERS = ("acoustic_encoder.conv1", "acoustic_decoder.conv1", "quantizer.quantizers.0.codebook.embed", "fc.weight")
WRAPPER = "codec_model"
#: Default variant per semantic kind when the file name does not say which release it is
#: (the releases of one kind have identical shapes).
_DEFAULT_BY_KIND = {"hubert": "xcodec_hubert_librispeech", "wavlm": "xcodec_wavlm_mls"}
_YAML_NAMES = ("config.yaml",)


def unwrap(state: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """The flat state dict inside ``{"codec_model": ...}`` or behind ``codec_model.`` prefixes."""
    if isinstance(state.get(WRAPPER), Mapping):
        state = state[WRAPPER]
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    prefix = WRAPPER + "."
    if tensors and all(k.startswith(prefix) for k in tensors):
        tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def layout(state: Mapping[str, Any]) -> str | None:
    """``"release"``, ``"hf"`` (converted transformers names) or None (not X-Codec)."""
    if semantic_kind(state) is None:
        return None
    if all(k in state for k in RELEASE_MARKERS):
        return "release"
    if all(any(key == m or key.startswith(m + ".") for key in state) for m in HF_MARKERS):
        return "hf"
    return None


def to_release(state: Mapping[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Any accepted layout as a release state dict."""
    state = unwrap(state)
    kind = layout(state)
    if kind == "release":
        return dict(state)
    if kind is None:
        raise CheckpointError(f"{source}: not an X-Codec checkpoint (expected keys such as "
                              f"{', '.join(RELEASE_MARKERS)} and semantic_model.*)")
    folded: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        m = re.match(r"^(acoustic_(?:en|de)coder\..*)\.parametrizations\.weight\.original([01])$", key)
        if m is None:
            folded[key] = value
        elif m[2] == "0":
            folded[f"{m[1]}.weight"] = fold_weight_norm(value.float(), state[f"{m[1]}.parametrizations.weight.original1"].float())
    n_down = _count(folded, r"^acoustic_encoder\.block\.(\d+)\.")
    n_up = _count(folded, r"^acoustic_decoder\.block\.(\d+)\.")
    stub = XCodecDims(down_ratios=(1,) * n_down, up_ratios=(1,) * n_up)
    try:
        return hf_to_release(folded, stub)
    except KeyError as exc:
        raise CheckpointError(f"{source}: converted X-Codec layout lacks {exc.args[0]}") from None


def _count(state: Mapping[str, Any], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m[1]) for k in state for m in [rx.match(k)] if m}
    return max(found) + 1 if found else 0


# -- the Loader protocol -------------------------------------------------------------------------------
def recognise(source: CheckpointSource) -> str | None:
    """The variant these tensors are, ``"xcodec-custom"`` for other sizes, None if not X-Codec.

    The releases of one semantic kind have identical shapes, so the file name picks among them
    (``xcodec_speech_wavlm_more_data.pth`` -> ``xcodec_wavlm_more_data``); an unknown name
    gives the first release of that kind.
    """
    state = unwrap(source.state)
    if layout(state) is None:
        return None
    try:
        dims = dims_from_state(to_release(state, str(source.path)), str(source.path))
    except (CheckpointError, ConfigError, KeyError):
        return CUSTOM
    if not dims.is_release():
        return CUSTOM
    name = Path(source.path).name
    for variant in FAMILY.variants:
        ckpt = variant.checkpoint_file
        if ckpt is not None and ckpt.filename == name and SEMANTIC_KIND[variant.id] == dims.semantic_kind:
            return variant.id
    return _DEFAULT_BY_KIND[dims.semantic_kind]


def load(source: CheckpointSource, *, variant: str, config: Any = None,
         semantic_model: str | Path | None = None, device: str = "auto", dtype: str = "float32") -> XCodec:
    """Build the codec from recognised tensors.

    config: a YAML path or its parsed dict (release layout, ``generator.config``); default the
    ``config.yaml`` or the variant's YAML beside the checkpoint, if present. Its sizes must
    agree with the tensors. semantic_model: a Hugging Face folder whose ``config.json`` gives the
    semantic model's architecture (and whose weights are used only if the checkpoint has none).
    """
    dev, dt = pick_device(device), _dtype(dtype)
    known = {n: v.id for v in FAMILY.variants for n in v.names()}
    variant = known.get(variant, variant or CUSTOM)
    path = Path(source.path)
    name = str(path)
    state = unwrap(source.state)
    yaml_cfg, yaml_path = _read_yaml(config, path, variant)
    folder = Path(semantic_model) if semantic_model is not None else _yaml_semantic_dir(yaml_cfg, yaml_path or path)
    semantic_cfg = _semantic_config(folder, source.config_json)
    if semantic_kind(state) is None and folder is not None:
        state = {**state, **_semantic_weights(folder)}
    state = to_release(state, name)
    dims = dims_from_state(state, name, semantic_cfg)
    if yaml_cfg is not None:
        _check_yaml(yaml_cfg, dims, yaml_path or name)
    net = XCodecNetwork(dims)
    net.load_release(state, name)
    return XCodec.ready(net, device=dev, dtype=dt, variant=variant, checkpoint_path=path)


def from_variant(variant: str, *, device: str = "auto", dtype: str = "float32", seed: int = 0) -> XCodec:
    """A full-size model of a released variant with random weights (benchmarks, layout tests)."""
    dev, dt = pick_device(device), _dtype(dtype)
    known = _find(variant)
    kind = SEMANTIC_KIND[known]
    dims = XCodecDims(semantic=dict(HUBERT_BASE if kind == "hubert" else WAVLM_BASE_PLUS))
    net = XCodecNetwork(dims)
    net.load_release(random_release_state(dims, seed), f"random weights of {known}")
    return XCodec.ready(net, device=dev, dtype=dt, variant=known, checkpoint_path=None)


# -- helpers ----------------------------------------------------------------------------------------
def _find(variant: str) -> str:
    for v in FAMILY.variants:
        if variant in v.names():
            return v.id
    names = ", ".join(v.id for v in FAMILY.variants)
    raise ConfigError(f"unknown X-Codec variant {variant!r}; known: {names}")


def _dtype(dtype: str | torch.dtype) -> torch.dtype:
    dt = pick_dtype(dtype)
    if dt not in (torch.float32, torch.bfloat16):
        raise ConfigError(f"X-Codec runs in float32 or bfloat16, not {dt}; pass dtype='float32' or 'bfloat16'")
    return dt


def _read_yaml(config: Any, ckpt: Path, variant: str) -> tuple[dict | None, Path | None]:
    if isinstance(config, Mapping):
        return dict(config), None
    if config is None:
        names = list(_YAML_NAMES)
        for v in FAMILY.variants:
            if v.id == variant:
                names += [f.filename for f in v.files if f.role == "config"]
        found = next((ckpt.parent / n for n in names if (ckpt.parent / n).is_file()), None)
        if found is None:
            return None, None
        config = found
    path = Path(config)
    if not path.is_file():
        raise ConfigError(f"{path}: no such X-Codec YAML config")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML file ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a YAML mapping with generator.config, got {type(data).__name__}")
    return dict(data), path


def _generator(cfg: Mapping) -> Mapping:
    gen = cfg.get("generator", {})
    if isinstance(gen, Mapping) and isinstance(gen.get("config"), Mapping):
        return gen["config"]
    return cfg


def _yaml_semantic_dir(cfg: Mapping | None, beside: Path) -> Path | None:
    """``tiny_widths.semantic_model_dir`` (fixture YAMLs only), relative to the YAML or checkpoint."""
    if cfg is None:
        return None
    tiny = cfg.get("tiny_widths")
    if isinstance(tiny, Mapping) and tiny.get("semantic_model_dir"):
        return beside.parent / str(tiny["semantic_model_dir"])
    return None


def _semantic_config(folder: Path | None, beside: dict | None) -> dict | None:
    if folder is not None:
        cfg_path = folder / "config.json" if folder.is_dir() else folder
        if not cfg_path.is_file():
            raise ConfigError(f"{folder}: no config.json; pass the semantic model's Hugging Face folder")
        try:
            data = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{cfg_path}: unreadable JSON ({exc})") from None
        if data.get("model_type") not in ("hubert", "wavlm"):
            raise ConfigError(f"{cfg_path}: model_type {data.get('model_type')!r}; X-Codec's semantic model is "
                              "HuBERT or WavLM")
        return data
    if beside is not None and beside.get("model_type") in ("hubert", "wavlm"):
        return beside
    return None


def _semantic_weights(folder: Path) -> dict[str, torch.Tensor]:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return {f"semantic_model.{k}": v for k, v in read_state_dict(folder / name).items()}
    raise CheckpointError(f"{folder}: no model.safetensors or pytorch_model.bin for the semantic model")


def _check_yaml(cfg: Mapping, dims: XCodecDims, where: Path | str) -> None:
    gen = _generator(cfg)
    checks = {
        "D": dims.acoustic_dim,
        "ratios": list(dims.down_ratios),
        "bins": dims.codebook_size,
        "sample_rate": SAMPLE_RATE,
    }
    bad = [f"{k}: {gen[k]!r} (tensors: {want!r})" for k, want in checks.items()
           if k in gen and (list(gen[k]) if isinstance(gen[k], (list, tuple)) else gen[k]) != want]
    teacher = str(gen.get("semantic_techer", ""))
    if teacher and ("wavlm" in teacher) != (dims.semantic_kind == "wavlm"):
        bad.append(f"semantic_techer: {teacher!r} (tensors: {dims.semantic_kind})")
    if bad:
        raise ConfigError(f"{where}: generator.config does not match the checkpoint: {'; '.join(bad)}; "
                          "pass the YAML that came with this checkpoint (or none: sizes are read from the tensors)")
