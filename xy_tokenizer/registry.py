"""One registry of codec families and their released variants. Importing it does not import torch.

Download, the first-run panel, ``--variant`` choices, :func:`xy_tokenizer.load` detection and the
README's table all read this. A family is one package under ``xy_tokenizer/codecs/`` whose
``__init__`` defines ``FAMILY`` (a :class:`~xy_tokenizer.codecs.spec.FamilySpec`); adding a
family is one line in :data:`FAMILY_PACKAGES`. Tests and plugins may also call
:func:`register_family` at run time.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterable

from xy_tokenizer.codecs.spec import FamilySpec, Variant
from xy_tokenizer.errors import ConfigError

#: Family packages, in the order ``load`` tries them and lists show them.
FAMILY_PACKAGES: tuple[str, ...] = (
    "xy_tokenizer.codecs.xy",
    "xy_tokenizer.codecs.xcodec",
)

_families: dict[str, FamilySpec] = {}
_loaded = False


def _ensure() -> None:
    global _loaded
    if _loaded:
        return
    for package in FAMILY_PACKAGES:
        spec = importlib.import_module(package).FAMILY
        _families.setdefault(spec.name, spec)
    _loaded = True


def register_family(spec: FamilySpec) -> None:
    """Add (or replace) a family at run time; its variants become known everywhere."""
    _ensure()
    _families[spec.name] = spec


def unregister_family(name: str) -> None:
    """Remove a family added with :func:`register_family` (tests)."""
    _ensure()
    _families.pop(name, None)


def families() -> list[FamilySpec]:
    _ensure()
    return list(_families.values())


def family(name: str) -> FamilySpec:
    _ensure()
    try:
        return _families[name]
    except KeyError:
        raise ConfigError(f"unknown codec family {name!r}; known: {', '.join(_families)}") from None


def loader(name: str) -> ModuleType:
    """The module implementing :class:`~xy_tokenizer.codecs.spec.Loader` for a family (imported now)."""
    return importlib.import_module(family(name).loader)


def variants(families_: Iterable[str] | None = None) -> list[Variant]:
    """Every released variant, family by family."""
    _ensure()
    wanted = None if families_ is None else set(families_)
    return [v for f in _families.values() if wanted is None or f.name in wanted for v in f.variants]


def find_variant(name: str) -> Variant | None:
    """The variant with this id or alias, else None."""
    for v in variants():
        if name in v.names():
            return v
    return None


def variant(name: str) -> Variant:
    """The variant with this id or alias; :class:`ConfigError` listing the choices otherwise."""
    found = find_variant(name)
    if found is None:
        raise ConfigError(f"unknown variant {name!r}; choose one of {', '.join(choices())}")
    return found


def choices() -> list[str]:
    """Names accepted by ``--variant``: every id and alias."""
    return [n for v in variants() for n in v.names()]


def markdown_table() -> str:
    """The README's table of released variants."""
    rows = ["| variant | family | Hub repository | rates (in -> out) | tokens | bitrate | licence |",
            "|---|---|---|---|---|---|---|"]
    for v in variants():
        ck = v.checkpoint_file
        repo = ck.repo_id if ck else "-"
        names = " / ".join(f"`{n}`" for n in v.names())
        tokens = f"{v.num_quantizers} x {v.codebook_size} at {v.frame_rate:g} Hz"
        rows.append(f"| {names} | {family(v.family).label} | {repo} | {v.input_sample_rate // 1000} -> "
                    f"{v.output_sample_rate // 1000} kHz | {tokens} | {v.bitrate / 1000:g} kbps | {v.licence} |")
    return "\n".join(rows)
