"""What the registry knows about a family and its released variants, without importing torch.

Each family package (``xy_tokenizer/codecs/<family>/__init__.py``) defines ``FAMILY``, a
:class:`FamilySpec` whose ``variants`` describe the released checkpoints and whose ``loader``
names the module (imported on first use, torch allowed there) that implements the
:class:`Loader` protocol below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .base import Codec


@dataclass(frozen=True)
class HubFile:
    """One file of a Hub repository that a variant needs."""

    repo_id: str
    filename: str
    size: int | None = None          # bytes, where known
    sha256: str | None = None        # where known
    role: str = "checkpoint"         # "checkpoint", "config", "semantic_model", ...
    revision: str | None = None


@dataclass(frozen=True)
class Variant:
    """A released checkpoint: where it lives and what it computes."""

    id: str                          # "xy_tokenizer_16k", "xcodec_hubert_librispeech", ...
    family: str                      # "xy_tokenizer", "xcodec", "neucodec", ...
    label: str                       # "XY-Tokenizer (paper release), 16 kHz out"
    aliases: tuple[str, ...] = ()    # short names accepted by --variant ("16k")
    files: tuple[HubFile, ...] = ()  # everything a user downloads for it
    input_sample_rate: int = 16000
    output_sample_rate: int = 16000
    frame_rate: float = 50.0
    num_quantizers: int = 1
    codebook_size: int = 1024
    licence: str = "unknown"
    licence_url: str | None = None
    notes: str = ""
    hub_page: str | None = None

    @property
    def bitrate(self) -> float:
        return self.num_quantizers * math.log2(self.codebook_size) * self.frame_rate

    @property
    def checkpoint_file(self) -> HubFile | None:
        return next((f for f in self.files if f.role == "checkpoint"), None)

    @property
    def download_size(self) -> int | None:
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(sizes)  # type: ignore[arg-type]

    def names(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


@dataclass
class CheckpointSource:
    """A checkpoint file or folder being identified: its path and its tensors, read once.

    ``state`` maps every key to a tensor (read with ``weights_only=True`` unless trusted);
    ``config_json`` is the parsed ``config.json`` of a folder (or beside a file), if any.
    """

    path: Path
    state: Mapping[str, Any]
    files: tuple[Path, ...] = ()
    config_json: dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def shape(self, key: str) -> tuple[int, ...] | None:
        value = self.state.get(key)
        return None if value is None else tuple(value.shape)


class Loader(Protocol):
    """The module a family's ``FamilySpec.loader`` names (torch may be imported there)."""

    def recognise(self, source: CheckpointSource) -> str | None:
        """The variant id these tensors are, ``"<family>-custom"`` for this family's layout
        with other sizes, or ``None`` when they are not this family's."""

    def load(self, source: CheckpointSource, *, variant: str, config: Any = None,
             semantic_model: str | Path | None = None, device: str = "auto",
             dtype: str = "float32") -> "Codec":
        """Build the codec from recognised tensors."""

    def from_variant(self, variant: str, *, device: str = "auto", dtype: str = "float32",
                     seed: int = 0) -> "Codec":
        """A full-size model of a released variant with random weights (benchmarks)."""


@dataclass(frozen=True)
class FamilySpec:
    """A codec family: its name, its released variants and where its loader lives."""

    name: str                        # "xy_tokenizer"
    label: str                       # "XY-Tokenizer"
    loader: str                      # module path implementing :class:`Loader`
    variants: tuple[Variant, ...] = ()
    description: str = ""
    #: A separately downloaded semantic encoder this family needs at load time, if any.
    semantic_model_variant: str | None = None
    #: Torch-free module whose ``check_encode_options(**options)`` holds the family's rules for
    #: ``encode`` options (as its codecs apply them), so that a value can be checked before a
    #: model is loaded (the studio's Preferences). None: checked by the loaded codec only.
    encode_rules: str | None = None

    def check_encode_options(self, **options: Any) -> None:
        """Raise :class:`~xy_tokenizer.errors.XYTokenizerError` for ``encode`` options this
        family refuses, without loading a model; no-op when the family publishes no rules."""
        if self.encode_rules is not None:
            import importlib

            importlib.import_module(self.encode_rules).check_encode_options(**options)
