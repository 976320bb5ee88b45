"""The inputs of a corpus job: folders, manifests of paths, Parquet audio tables.

* a **folder**: its audio files, recursively (as ``xytok encode`` finds them); ``path`` is relative
  to the folder;
* a **manifest** (``.csv``, ``.jsonl``, or ``.parquet`` without a bytes column): a ``path``
  column of audio files (relative ones are relative to the manifest's folder) and an optional
  ``rel`` column, the name its row gets in the shards (default: the path as written, made
  relative to the manifest's folder when it lies under it);
* a **Parquet audio table** (``.parquet`` with a binary ``bytes`` or ``audio`` column, or a
  struct ``audio`` column with a ``bytes`` field, as Hugging Face datasets write): the encoded
  audio file in that column and its name in ``rel`` or ``path``. Only the name column is read
  here; the bytes are read by the pipeline's tasks.

Each input file is known by a unique relative ``path`` (POSIX); a second input with the same
``path`` is left out with a problem.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.scale.shards import require_pyarrow

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".parquet")
PATH_COLUMN, REL_COLUMN = "path", "rel"
BYTES_COLUMNS = ("bytes", "audio")


@dataclass
class AudioTable:
    """A Parquet file whose rows hold encoded audio: ``name_column`` and ``bytes_column``
    (``bytes_field`` set when the bytes are a field of a struct column)."""

    path: Path
    name_column: str
    bytes_column: str
    bytes_field: str | None = None


@dataclass
class Inputs:
    """Files by relative path (``files``: path -> absolute source file) and audio tables
    (``tables``: table -> its row names)."""

    files: dict[str, str] = field(default_factory=dict)
    tables: list[tuple[AudioTable, list[str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def paths(self) -> list[str]:
        return list(self.files) + [name for _, names in self.tables for name in names]

    def __len__(self) -> int:
        return len(self.files) + sum(len(names) for _, names in self.tables)


def _bytes_column(schema: Any) -> tuple[str, str | None] | None:
    pa = require_pyarrow()
    for name in BYTES_COLUMNS:
        if name not in schema.names:
            continue
        kind = schema.field(name).type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            return name, None
        if pa.types.is_struct(kind) and kind.get_field_index("bytes") >= 0:
            return name, "bytes"
    return None


def _read_manifest(path: Path) -> Any:
    pa = require_pyarrow()
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(str(path), convert_options=pcsv.ConvertOptions(
                column_types={PATH_COLUMN: pa.string(), REL_COLUMN: pa.string()}))
        if suffix == ".jsonl":
            import pyarrow.json as pjson

            return pjson.read_json(str(path))
        return pa.parquet.read_table(str(path))
    except XYTokenizerError:
        raise
    except Exception as exc:
        raise XYTokenizerError(f"{path}: cannot be read as a manifest ({exc})") from exc


def _default_rel(raw: str, manifest_dir: Path) -> str:
    given = Path(raw)
    if not given.is_absolute():
        return PurePosixPath(given.as_posix()).as_posix()
    try:
        return given.relative_to(manifest_dir).as_posix()
    except ValueError:
        return PurePosixPath(*given.parts[1:]).as_posix()


def _add(inputs: Inputs, rel: str, source: str, origin: str, seen: set[str]) -> bool:
    if not rel or rel.startswith("/") or ".." in PurePosixPath(rel).parts:
        inputs.problems.append(f"{origin}: row name {rel!r} must be a relative path inside the output; left out")
        return False
    if rel in seen:
        inputs.problems.append(f"{source}: left out, another input already has the name {rel!r}")
        return False
    seen.add(rel)
    return True


def read_inputs(inputs: Sequence[str | Path]) -> Inputs:
    """Expand folders, manifests and audio tables into :class:`Inputs` (see the module docstring)."""
    from xy_tokenizer.jobs.inputs import collect_inputs

    found = Inputs()
    seen: set[str] = set()
    for raw in inputs:
        root = Path(raw)
        if root.is_dir():
            items, problems = collect_inputs([root], "audio")
            found.problems.extend(problems)
            for item in items:
                rel = item.rel.as_posix()
                if _add(found, rel, str(item.path), str(root), seen):
                    found.files[rel] = str(item.path.resolve())
            continue
        if not root.is_file():
            found.problems.append(f"{root}: no such file or folder")
            continue
        if root.suffix.lower() not in MANIFEST_SUFFIXES:
            raise XYTokenizerError(f"{root}: the ray engine takes folders, manifests ({', '.join(MANIFEST_SUFFIXES)}) "
                                   "and Parquet audio tables; list single files in a manifest")
        if root.suffix.lower() == ".parquet":
            pq = require_pyarrow().parquet
            try:
                file_schema = pq.read_schema(str(root))
            except Exception as exc:
                raise XYTokenizerError(f"{root}: cannot be read as Parquet ({exc})") from exc
            holder = _bytes_column(file_schema)
            if holder is not None:
                name_column = next((c for c in (REL_COLUMN, PATH_COLUMN) if c in file_schema.names), None)
                if name_column is None:
                    raise XYTokenizerError(f"{root}: an audio table needs a '{REL_COLUMN}' or '{PATH_COLUMN}' "
                                           "column naming each row's file")
                names = [str(n) for n in pq.read_table(str(root), columns=[name_column]).column(name_column).to_pylist()]
                kept = [n for n in names if _add(found, n, f"{root} row {n!r}", str(root), seen)]
                found.tables.append((AudioTable(root.resolve(), name_column, *holder), kept))
                continue
        table = _read_manifest(root)
        if PATH_COLUMN not in table.column_names:
            raise XYTokenizerError(f"{root}: a manifest needs a '{PATH_COLUMN}' column of audio files "
                                   f"(and optionally '{REL_COLUMN}'); it has {', '.join(table.column_names)}")
        paths = [str(p) for p in table.column(PATH_COLUMN).to_pylist()]
        rels = (table.column(REL_COLUMN).to_pylist() if REL_COLUMN in table.column_names else [None] * len(paths))
        base = root.resolve().parent
        for raw_path, rel in zip(paths, rels):
            source = Path(raw_path) if Path(raw_path).is_absolute() else base / raw_path
            name = str(rel) if rel else _default_rel(raw_path, base)
            if _add(found, name, str(source), str(root), seen):
                found.files[name] = str(source)
    return found
