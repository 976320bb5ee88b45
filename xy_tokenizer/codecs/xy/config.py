"""Model configuration: both reference YAML layouts and the configs of the released variants.

Two YAML layouts exist. The paper release keeps ``generator_params.sample_rate``; the
MOSS-TTSD releases use ``input_sample_rate``, ``output_sample_rate``,
``encoder_downsample_rate`` and ``decoder_upsample_rate``. Both carry one ``*_kwargs``
mapping per sub-module under ``generator_params``.
"""
from __future__ import annotations

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
        sections = {s: dict(gp[s]) for s in _SECTIONS}
        vocos = sections["vocos_kwargs"]
        if "input_sample_rate" in gp or "output_sample_rate" in gp:
            in_rate = int(gp.get("input_sample_rate", INPUT_SAMPLE_RATE))
            out_rate = int(gp.get("output_sample_rate", in_rate))
            down = int(gp.get("encoder_downsample_rate", SAMPLES_PER_TOKEN))
            up = int(gp.get("decoder_upsample_rate", SAMPLES_PER_TOKEN * out_rate // in_rate))
        elif "sample_rate" in gp or "sample_rate" in data:
            in_rate = out_rate = int(gp.get("sample_rate", data.get("sample_rate")))
            down = up = SAMPLES_PER_TOKEN
        else:
            raise ConfigError(f"{source}: no sample rate (need 'sample_rate' or 'input_sample_rate')")
        if in_rate != INPUT_SAMPLE_RATE or down != SAMPLES_PER_TOKEN:
            raise ConfigError(
                f"{source}: input {in_rate} Hz / {down} samples per token is not supported "
                f"(XY-Tokenizer encodes {INPUT_SAMPLE_RATE} Hz with {SAMPLES_PER_TOKEN} samples per token)"
            )
        hop = int(vocos["hop_size"])
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
        return cls.from_dict(yaml.safe_load(text), source=f"builtin:{name}")

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


def resolve_variant(variant: str) -> str:
    """Full variant name from a name or alias; ConfigError listing the choices otherwise."""
    for name, (_, alias, _) in BUILTIN_VARIANTS.items():
        if variant in (name, alias):
            return name
    choices = ", ".join(f"{alias} ({name})" for name, (_, alias, _) in BUILTIN_VARIANTS.items())
    raise ConfigError(f"unknown variant {variant!r}; choose one of {choices}")
