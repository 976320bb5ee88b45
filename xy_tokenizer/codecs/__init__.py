"""Codec families behind one interface (:class:`~xy_tokenizer.codecs.base.Codec`).

One sub-package per family (``xy/``, ``xcodec/``, ``neucodec/``). Each package's
``__init__`` is torch-free and defines ``FAMILY`` (a :class:`~xy_tokenizer.codecs.spec.FamilySpec`);
the registry (:mod:`xy_tokenizer.registry`) lists the families and imports a family's loader
only when a checkpoint of it is loaded.
"""
