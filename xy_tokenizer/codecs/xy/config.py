"""Model configuration: both reference YAML layouts and the configs of the released variants.

Two YAML layouts exist. The paper release keeps ``generator_params.sample_rate``; the
MOSS-TTSD releases use ``input_sample_rate``, ``output_sample_rate``,
``encoder_downsample_rate`` and ``decoder_upsample_rate``. Both carry one ``*_kwargs``
mapping per sub-module under ``generator_params``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import yaml

from xy_tokenizer.codecs.xy.constants import INPUT_SAMPLE_RATE, SAMPLES_PER_TOKEN
from xy_tokenizer.errors import ConfigError

#: Released variants: name -> (builtin YAML file, short alias, human description).
BUILTIN_VARIANTS: dict[str, tuple[str, str, str]] = {
    "xy_tokenizer_16k": ("xy_tokenizer_16k.yaml", "16k", "XY-Tokenizer (paper release), 16 kHz out"),
    "xy_tokenizer_ttsd_24k": ("xy_tokenizer_ttsd_24k.yaml", "24k", "XY-Tokenizer-TTSD-V0, 24 kHz out"),
    "moss_ttsd_32k": ("moss_ttsd_32k.yaml", "32k", "MOSS-TTSD v0.7 tokenizer, 32 kHz out"),
}

_SECTIONS = (
    "semantic_encoder_kwargs",
    "semantic_encoder_adapter_kwargs",
    "acoustic_encoder_kwargs",
    "pre_rvq_adapter_kwargs",
    "downsample_kwargs",
    "quantizer_kwargs",
    "post_rvq_adapter_kwargs",
    "upsample_kwargs",
    "acoustic_decoder_kwargs",
    "vocos_kwargs",
)


@dataclass
class ModelConfig:
    """Everything needed to build the network, in the reference's own parameter names."""

    input_sample_rate: int
    output_sample_rate: int
    encoder_downsample_rate: int
    decoder_upsample_rate: int
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "<dict>"

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> "ModelConfig":
        """Parse either YAML layout (a mapping with ``generator_params``)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a YAML mapping with 'generator_params', got {type(data).__name__}")
        gp = data.get("generator_params", data)
        if not isinstance(gp, Mapping):
            raise ConfigError(f"{source}: 'generator_params' must be a mapping")
        missing = [s for s in _SECTIONS if s not in gp]
        if missing:
            raise ConfigError(
                f"{source}: not an XY-Tokenizer config, missing {', '.join(missing)} under generator_params"
            )
        for name in _SECTIONS:
            if not isinstance(gp[name], Mapping):
                raise ConfigError(f"{source}: generator_params.{name} must be a mapping of settings, "
                                  f"got {_kind(gp[name])}; fix the config file")
        sections = {s: dict(gp[s]) for s in _SECTIONS}
        if not source.startswith(_BUILTIN_SOURCE):
            _check_value_types(sections, source)
        vocos = sections["vocos_kwargs"]

        def whole(mapping: Mapping[str, Any], key: str, where: str, default: Any = None) -> int:
            return _whole_number(mapping.get(key, default), f"{where}{key}", source)

        if "input_sample_rate" in gp or "output_sample_rate" in gp:
            in_rate = whole(gp, "input_sample_rate", "generator_params.", INPUT_SAMPLE_RATE)
            out_rate = whole(gp, "output_sample_rate", "generator_params.", in_rate)
            down = whole(gp, "encoder_downsample_rate", "generator_params.", SAMPLES_PER_TOKEN)
            up = whole(gp, "decoder_upsample_rate", "generator_params.", SAMPLES_PER_TOKEN * out_rate // in_rate)
        elif "sample_rate" in gp or "sample_rate" in data:
            in_rate = out_rate = (whole(gp, "sample_rate", "generator_params.") if "sample_rate" in gp
                                  else whole(data, "sample_rate", ""))
            down = up = SAMPLES_PER_TOKEN
        else:
            raise ConfigError(f"{source}: no sample rate (need 'sample_rate' or 'input_sample_rate')")
        if in_rate != INPUT_SAMPLE_RATE or down != SAMPLES_PER_TOKEN:
            raise ConfigError(
                f"{source}: input {in_rate} Hz / {down} samples per token is not supported "
                f"(XY-Tokenizer encodes {INPUT_SAMPLE_RATE} Hz with {SAMPLES_PER_TOKEN} samples per token)"
            )
        hop = whole(vocos, "hop_size", "generator_params.vocos_kwargs.")
        # The acoustic decoder yields 2 mel frames per 50 Hz frame, 8 per token.
        if up != 8 * hop:
            raise ConfigError(
                f"{source}: decoder_upsample_rate {up} does not match the vocoder hop {hop} (expected {8 * hop})"
            )
        if up * in_rate != down * out_rate:
            raise ConfigError(f"{source}: output rate {out_rate} does not match decoder_upsample_rate {up}")
        return cls(in_rate, out_rate, down, up, sections, source)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "ModelConfig":
        """Read a reference YAML file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
        return cls.from_dict(data, source=str(path))

    @classmethod
    def builtin(cls, variant: str) -> "ModelConfig":
        """Config of a released variant, by name (``xy_tokenizer_16k``) or alias (``16k``)."""
        name = resolve_variant(variant)
        filename = BUILTIN_VARIANTS[name][0]
        text = resources.files("xy_tokenizer.codecs.xy").joinpath("configs", filename).read_text(encoding="utf-8")
        return cls.from_dict(yaml.safe_load(text), source=f"{_BUILTIN_SOURCE}{name}")

    # -- derived facts ----------------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        return self.sections[f"{name}_kwargs"]

    @property
    def n_fft(self) -> int:
        return int(self.section("vocos")["n_fft"])

    @property
    def num_quantizers(self) -> int:
        return int(self.section("quantizer")["num_quantizers"])

    @property
    def codebook_size(self) -> int:
        return int(self.section("quantizer")["codebook_size"])

    def matches(self, other: "ModelConfig") -> bool:
        """Same architecture and rates (the source is ignored)."""
        return (
            self.output_sample_rate == other.output_sample_rate
            and self.decoder_upsample_rate == other.decoder_upsample_rate
            and self.sections == other.sections
        )

    def variant_name(self) -> str:
        """The released variant this config describes, or ``custom-<rate>``."""
        for name in BUILTIN_VARIANTS:
            if self.matches(ModelConfig.builtin(name)):
                return name
        return f"custom-{self.output_sample_rate // 1000}k"


_BUILTIN_SOURCE = "builtin:"


def _kind(value: Any) -> str:
    return "nothing (null)" if value is None else f"{type(value).__name__} {value!r}"


def _whole_number(value: Any, key: str, source: str) -> int:
    """``value`` as an int; a :class:`ConfigError` naming the file and the key otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ConfigError(f"{source}: {key} must be a whole number, got {_kind(value)}; fix the config file")
    return int(value)


@functools.lru_cache(maxsize=1)
def _builtin_value_types() -> dict[tuple[str, str], set[type]]:
    """(section, key) -> the YAML value types the released configs use there (int implies float)."""
    types: dict[tuple[str, str], set[type]] = {}
    for filename, _, _ in BUILTIN_VARIANTS.values():
        text = resources.files("xy_tokenizer.codecs.xy").joinpath("configs", filename).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        gp = data.get("generator_params", data)
        for section in _SECTIONS:
            for key, value in (gp.get(section) or {}).items():
                if value is not None:
                    types.setdefault((section, key), set()).add(type(value))
    return types


def _type_ok(value: Any, allowed: set[type]) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return bool(allowed & {int, float})
    return type(value) in allowed


def _type_names(allowed: set[type]) -> str:
    names = {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list",
             dict: "a mapping"}
    return " or ".join(sorted(names.get(t, t.__name__) for t in allowed))


def _check_value_types(sections: Mapping[str, Mapping[str, Any]], source: str) -> None:
    """Each setting the released configs have must have the type they give it (a number where a
    number is, ...), so a wrong value is reported here, naming its key, not as a TypeError deep
    in the network's constructor."""
    reference = _builtin_value_types()
    for section, values in sections.items():
        for key, value in values.items():
            allowed = reference.get((section, key))
            if allowed is not None and not _type_ok(value, allowed):
                raise ConfigError(f"{source}: generator_params.{section}.{key} must be {_type_names(allowed)}, "
                                  f"got {_kind(value)}; fix the config file")


def resolve_variant(variant: str) -> str:
    """Full variant name from a name or alias; ConfigError listing the choices otherwise."""
    for name, (_, alias, _) in BUILTIN_VARIANTS.items():
        if variant in (name, alias):
            return name
    choices = ", ".join(f"{alias} ({name})" for name, (_, alias, _) in BUILTIN_VARIANTS.items())
    raise ConfigError(f"unknown variant {variant!r}; choose one of {choices}")
