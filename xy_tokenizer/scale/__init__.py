"""Tokenizing corpora at scale: Parquet token shards and the Ray Data pipeline that writes them.

:mod:`.shards` is the shard format (schema, deterministic names, atomic writes, resume state;
needs pyarrow), :mod:`.sources` reads a job's inputs (folders, path manifests, Parquet audio
tables), :mod:`.ray_pipeline` runs ``xytok encode --engine ray`` (needs ``ray[data]``), :mod:`.cli` is its
command-line side.
Reading shards back: :mod:`xy_tokenizer.datasets`. Importing this package imports neither
pyarrow nor ray.
"""
