"""Install a checkpoint file or model folder the user already has (``xytok install PATH``).

The weights are recognised first (:func:`xy_tokenizer.codecs.loading.open_source` and
:func:`~xy_tokenizer.codecs.loading.recognise`): a file no registered family knows is refused
with the detector's message, before anything is copied. The install lands in
``models/<name>-<sha256[:12]>/`` (``<name>``: the file's stem or the folder's name; the hash is
the weight file's), laid out and recorded as :mod:`xy_tokenizer.hub.records` describes, all or
nothing. Installing the same weights twice copies them once.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from xy_tokenizer import registry
from xy_tokenizer.codecs.spec import Variant
from xy_tokenizer.errors import CheckpointError
from xy_tokenizer.hub import records
from xy_tokenizer.hub.records import (RECORD_FORMAT, RECORD_NAME, ROLE_CHECKPOINT, ROLE_SEMANTIC, InstallError,
                                      StagingArea, place_file)
from xy_tokenizer.io import paths
from xy_tokenizer.io.fsutil import sha256_file

#: Files beside a checkpoint file that its loader reads too, so they are installed with it.
COMPANION_FILES = ("config.json", "preprocessor_config.json")
ROLE_CONFIG = "config"
ROLE_OTHER = "other"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
LOCAL_LICENCE = "as stated by the files' source"


def install_model(path: str | Path, *, variant: str | None = None, semantic_model: str | Path | None = None,
                  make_default: bool = True, link: bool = False, trust: bool = False) -> Path:
    """Install a checkpoint file, or a model folder, as a model; return what
    :func:`xy_tokenizer.load` accepts (the installed file, or the installed folder).

    ``variant`` names the released variant the weights are (for variants whose tensors look
    alike; it must be of the family the weights are recognised as). ``semantic_model`` is an
    HF-format folder (``config.json`` + weights) installed with it, for families whose semantic
    encoder is separate (NeuCodec's ``facebook/w2v-bert-2.0``). ``link`` hard-links instead of
    copying where the file system allows (then do not edit the source files afterwards).

    Raises :class:`CheckpointError` for a missing, unreadable or unrecognised file (naming it)
    and :class:`InstallError` for a variant of another family or a models folder that cannot be
    written; nothing is installed then.
    """
    from xy_tokenizer.codecs.loading import open_source, recognise

    source = Path(path).expanduser()
    if not source.exists():
        raise CheckpointError(f"{source}: no such file or folder; pass a checkpoint file or a model folder")
    opened = open_source(source, trust=trust)
    family, recognised = recognise(opened)
    spec = _variant_for(source, family, recognised, variant)
    weights = Path(opened.path)
    sha256 = sha256_file(weights)
    name = _UNSAFE_NAME.sub("_", source.stem if source.is_file() else source.name).strip("._") or "model"
    target = paths.models_dir() / f"{name}-{sha256[:12]}"

    existing = records.read_install(target)
    if existing is not None and (semantic_model is None or existing.semantic_model is not None):
        install = existing
    else:
        install = _install(source, weights, target, family, recognised, spec, semantic_model, link)
    if make_default:
        records.make_default(install)
    return install.checkpoint


def _variant_for(source: Path, family: str, recognised: str, wanted: str | None) -> Variant | None:
    """The registry variant to record: the one asked for (same family only) or the one recognised."""
    if wanted is None:
        return registry.find_variant(recognised)
    spec = registry.find_variant(wanted)
    if spec is None:
        raise InstallError(f"unknown variant {wanted!r}; choose one of {', '.join(registry.choices())}")
    if spec.family != family:
        raise InstallError(
            f"{source} holds {registry.family(family).label} weights ({recognised}), not {spec.id} "
            f"({registry.family(spec.family).label}); leave out --variant or name a {family} variant")
    return spec


def _install(source: Path, weights: Path, target: Path, family: str, recognised: str, spec: Variant | None,
             semantic_model: str | Path | None, link: bool) -> records.Installed:
    semantic_dest = _semantic_dest(spec)
    semantic_source = None
    if semantic_model is not None:
        semantic_source = Path(semantic_model).expanduser()
        if not (semantic_source / "config.json").is_file():
            raise InstallError(f"{semantic_source}: not an HF-format model folder (no config.json in it); pass the "
                               "folder that holds the semantic model's config.json and weights")
        semantic_dest = semantic_dest or _UNSAFE_NAME.sub("_", semantic_source.name)
    with StagingArea(target.name) as area:
        try:
            if source.is_dir():
                copied = _copy_tree(source, area.install, link)
                checkpoint = "."
            else:
                copied = [weights.name]
                place_file(weights, area.install / weights.name, link=link)
                for companion in COMPANION_FILES:
                    if (weights.parent / companion).is_file():
                        place_file(weights.parent / companion, area.install / companion, link=link)
                        copied.append(companion)
                checkpoint = weights.name
            if semantic_source is not None:
                copied += [f"{semantic_dest}/{rel}" for rel in
                           _copy_tree(semantic_source, area.install / semantic_dest, link)]
            weight_rel = weights.relative_to(source).as_posix() if source.is_dir() else weights.name
            has_semantic = semantic_dest is not None and (area.install / semantic_dest / "config.json").is_file()
            entries = [_entry(area.install, rel, weight_rel, semantic_dest if has_semantic else None)
                       for rel in copied]
            record = {"format": RECORD_FORMAT, "variant": spec.id if spec is not None else recognised,
                      "recognised": recognised, "family": family,
                      "label": spec.label if spec is not None else f"{registry.family(family).label} (custom size)",
                      "licence": spec.licence if spec is not None else LOCAL_LICENCE,
                      "licence_url": spec.licence_url if spec is not None else None,
                      "origin": "local", "source": str(source.resolve()), "checkpoint": checkpoint,
                      "semantic_model": semantic_dest if has_semantic else None,
                      "files": records.record_files(entries), "installed_at": records.now_utc()}
            records.write_json(area.install / RECORD_NAME, record)
        except OSError as exc:
            raise InstallError(f"cannot install {source} into {paths.models_dir()} ({exc.strerror or exc}); free some "
                               "space or check the permissions. Nothing was installed.") from exc
        area.commit(target)
    installed = records.read_install(target)
    if installed is None:
        raise InstallError(f"{target}: the install is not complete; run `xytok install` again")
    return installed


def _semantic_dest(spec: Variant | None) -> str | None:
    """Where the variant's semantic encoder goes in its folder (as a download would put it)."""
    if spec is None:
        return None
    own = records.semantic_destination(spec)
    if own is not None:
        return own
    dependency = records.semantic_dependency(spec)
    repo = records.main_repo(dependency) if dependency is not None else None
    return repo.split("/")[-1] if repo else None


def _copy_tree(folder: Path, into: Path, link: bool) -> list[str]:
    """Copy the regular files under ``folder`` (hidden ones and install records left out) into
    ``into``; return their relative POSIX paths."""
    copied = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            file = Path(root) / name
            if name.startswith(".") or name == RECORD_NAME or not file.is_file():
                continue
            rel = file.relative_to(folder).as_posix()
            place_file(file, into / rel, link=link)
            copied.append(rel)
    if not copied:
        raise InstallError(f"{folder}: a folder with no files to install")
    return copied


def _entry(folder: Path, rel: str, weights: str, semantic_dest: str | None) -> dict:
    file = folder / rel
    if rel == weights:
        role = ROLE_CHECKPOINT
    elif semantic_dest is not None and (semantic_dest == "." or rel.startswith(semantic_dest + "/")):
        role = ROLE_SEMANTIC
    elif rel in COMPANION_FILES or rel.endswith((".yaml", ".yml")):
        role = ROLE_CONFIG
    else:
        role = ROLE_OTHER
    return {"path": rel, "role": role, "size": file.stat().st_size, "sha256": sha256_file(file)}
