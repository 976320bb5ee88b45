"""The HF-format XY-Tokenizer release (``OpenMOSS-Team/XY_Tokenizer_TTSD_V0_hf``) in reference terms.

That release stores the same network as ``config.json`` + weights for ``trust_remote_code``
modelling code. Its tensors differ from the reference's only in names, and its config holds the
reference's ``generator_params`` sections under ``params``:

| HF-format key or field | reference |
|---|---|
| ``<module>.layers.N.mlp.fc1.*`` / ``mlp.fc2.*`` | ``<module>.layers.N.fc1.*`` / ``fc2.*`` |
| ``*.parametrizations.weight.original0`` / ``original1`` | ``*.weight_g`` / ``*.weight_v`` |
| ``quantizer.{input,output}_proj.weight`` (weight norm removed) | ``weight_g = ‖w‖`` per output channel, ``weight_v = w`` |
| ``*.positional_embedding.weight`` | ``*.positional_embedding`` |
| a ``codec_model.`` or ``xy_tokenizer.`` prefix on every key (fused exports) | no prefix |
| ``config.json``: ``params.<section>_kwargs`` + top-level ``input_sample_rate``, ``output_sample_rate``, ``encoder_downsample_rate``, ``decoder_upsample_rate`` | YAML ``generator_params`` |

Everything else (``enhanced_vocos.``, shapes, dtypes) is as in the reference.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from xy_tokenizer.codecs.xy.config import ModelConfig

#: ``model_type`` of the HF-format config.
HF_MODEL_TYPE = "xy_tokenizer"
#: Prefixes fused exports put before every key.
HF_PREFIXES = ("codec_model.", "xy_tokenizer.")
_RATE_FIELDS = ("input_sample_rate", "output_sample_rate", "encoder_downsample_rate", "decoder_upsample_rate")
_WEIGHT_NORMED = ("quantizer.input_proj", "quantizer.output_proj")


def is_hf_layout(state: Mapping[str, Any], config_json: Mapping[str, Any] | None = None) -> bool:
    """True for HF-format names (or a config.json of that release beside the weights)."""
    if config_json is not None and config_json.get("model_type") == HF_MODEL_TYPE:
        return True
    return any(".mlp.fc1." in k or k.endswith("positional_embedding.weight") or
               (k.startswith(_WEIGHT_NORMED) and ".parametrizations." in k) for k in state)


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in HF_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def to_reference_keys(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors under the reference's names (see the module table)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in _strip_prefix(state).items():
        key = key.replace(".mlp.fc1.", ".fc1.").replace(".mlp.fc2.", ".fc2.")
        key = key.replace(".parametrizations.weight.original0", ".weight_g")
        key = key.replace(".parametrizations.weight.original1", ".weight_v")
        if key.endswith(".positional_embedding.weight"):
            key = key[: -len(".weight")]
        out[key] = value
    for module in _WEIGHT_NORMED:
        plain = out.pop(f"{module}.weight", None)
        if plain is not None and f"{module}.weight_v" not in out:
            # w = g v / ||v|| with the norm over every axis but the output channel: g = ||w||, v = w.
            out[f"{module}.weight_g"] = torch.linalg.vector_norm(plain.float(), dim=tuple(range(1, plain.dim())),
                                                                 keepdim=True).to(plain.dtype)
            out[f"{module}.weight_v"] = plain
    return out


def config_from_json(data: Mapping[str, Any], source: str) -> ModelConfig | None:
    """The reference config a HF-format ``config.json`` describes, or None if it has no ``params``."""
    params = data.get("params")
    if not isinstance(params, Mapping):
        return None
    generator = dict(params)
    for field in _RATE_FIELDS:
        if field in data:
            generator[field] = data[field]
    return ModelConfig.from_dict({"generator_params": generator}, source=source)
