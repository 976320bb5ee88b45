"""Open a checkpoint file or folder, find the family it belongs to, and load the codec.

:func:`open_source` reads the tensors once (safely: :func:`~xy_tokenizer.io.checkpoint.read_state_dict`);
each registered family's loader is asked in turn whether it recognises them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from xy_tokenizer import registry
from xy_tokenizer.codecs.base import Codec
from xy_tokenizer.codecs.spec import CheckpointSource
from xy_tokenizer.errors import CheckpointError
from xy_tokenizer.io.fsutil import read_json_object

#: Weight files looked for inside a checkpoint folder, in this order.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.ckpt", "model.pth", "model.pt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pth", ".pt")


def _weights_in(folder: Path) -> Path:
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(
            f"{folder}: a folder with no checkpoint in it (looked for {', '.join(WEIGHT_FILES)}); "
            "pass the checkpoint file itself")
    raise CheckpointError(f"{folder}: several checkpoint files ({', '.join(p.name for p in found)}); pass one of them")


def open_source(path: str | Path, *, trust: bool = False) -> CheckpointSource:
    """Read a checkpoint file (or the one weight file of a folder) and its ``config.json``."""
    from xy_tokenizer.io.checkpoint import read_state_dict

    path = Path(path)
    if path.is_dir():
        weights = _weights_in(path)
    elif path.exists():
        weights = path
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")
    state = read_state_dict(weights, trust=trust)
    config_json = read_json_object(weights.parent / "config.json")
    return CheckpointSource(path=weights, state=state, files=(weights,), config_json=config_json,
                            extra={"folder": weights.parent if path.is_dir() else None})


def recognise(source: CheckpointSource) -> tuple[str, str]:
    """``(family, variant)`` of the tensors; :class:`CheckpointError` if no family knows them."""
    tried = []
    for spec in registry.families():
        found = registry.loader(spec.name).recognise(source)
        if found is not None:
            return spec.name, found
        tried.append(spec.label)
    sample = ", ".join(list(source.state)[:4])
    raise CheckpointError(
        f"{source.path}: not a checkpoint of any known codec family ({', '.join(tried)}); "
        f"its first keys are {sample}. Pass a checkpoint of a released variant (see `xytok download --help`).")


#: ``find(variant, checkpoint) -> folder | None``: where an installed semantic encoder is.
SemanticFinder = Callable[[str, Path], "Path | None"]


def load_codec(checkpoint: str | Path, config: Any = None, *, semantic_model: str | Path | None = None,
               device: str = "auto", dtype: str = "float32", trust: bool = False,
               find_semantic_model: SemanticFinder | None = None) -> Codec:
    """Detect the family of ``checkpoint`` and load it (see :func:`xy_tokenizer.load`).

    Without ``semantic_model``, ``find_semantic_model(variant, weights_path)`` is asked for the
    installed semantic encoder of families that keep it apart from the codec (NeuCodec).
    """
    source = open_source(checkpoint, trust=trust)
    family, variant = recognise(source)
    if semantic_model is None and find_semantic_model is not None:
        semantic_model = find_semantic_model(variant, source.path)
    return registry.loader(family).load(source, variant=variant, config=config, semantic_model=semantic_model,
                                        device=device, dtype=dtype)
