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
    "xy_tokenizer.codecs.neucodec",
    "xy_tokenizer.codecs.xcodec2",
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


def format_size(n: int | None) -> str:
    """Bytes as people read them (decimal units): ``2.32 GB``, ``37 B``; ``"?"`` when unknown."""
    if n is None:
        return "?"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def needed_variants(v: Variant) -> list[Variant]:
    """``v`` and, first, the separately installed semantic-encoder variant it needs (if registered)."""
    if any(f.role == "semantic_model" for f in v.files):
        return [v]
    name = family(v.family).semantic_model_variant
    dependency = find_variant(name) if name else None
    return [dependency, v] if dependency is not None and dependency.id != v.id else [v]


def total_download(v: Variant) -> tuple[int, bool]:
    """``(bytes, complete)``: the known sizes of every file ``v`` needs (dependency included),
    and whether every size is known."""
    sizes = [f.size for u in needed_variants(v) for f in u.files]
    return sum(s for s in sizes if s is not None), all(s is not None for s in sizes)


def download_size_text(v: Variant) -> str:
    total, complete = total_download(v)
    if complete:
        return format_size(total)
    return f"> {format_size(total)}" if total else "?"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    """The README's table of released variants (``xytok download --list --markdown`` prints it)."""
    rows = ["| variant (`--variant`) | family | what | rates (in -> out) | tokens | bitrate | download | licence |",
            "|---|---|---|---|---|---|---|---|"]
    for v in variants():
        names = " / ".join(f"`{n}`" for n in v.names())
        tokens = f"{v.num_quantizers} x {v.codebook_size} at {v.frame_rate:g} Hz"
        licence = f"[{v.licence}]({v.licence_url})" if v.licence_url else v.licence
        rows.append(f"| {names} | {_cell(family(v.family).label)} | {_cell(v.label)} | "
                    f"{v.input_sample_rate / 1000:g} -> "
                    f"{v.output_sample_rate / 1000:g} kHz | {tokens} | {v.bitrate / 1000:g} kbps | "
                    f"{download_size_text(v)} | {_cell(licence)} |")
    return "\n".join(rows)


def markdown_files_table() -> str:
    """The README's table of every file each variant needs, for copying them by hand."""
    rows = ["| variant | Hub repository | file | role | size | sha256 |", "|---|---|---|---|---|---|"]
    for v in variants():
        for f in v.files:
            rows.append(f"| `{v.id}` | {f.repo_id} | `{f.filename}` | {f.role} | {format_size(f.size)} | "
                        f"{f'`{f.sha256}`' if f.sha256 else '?'} |")
    return "\n".join(rows)
