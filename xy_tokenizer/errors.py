"""Exceptions of the engine. Messages say what went wrong and what to do."""


class XYTokenizerError(Exception):
    """Base class of every error the engine raises on purpose."""


class ConfigError(XYTokenizerError):
    """A YAML config that cannot describe an XY-Tokenizer model."""


class CheckpointError(XYTokenizerError):
    """A checkpoint that cannot be loaded (unreadable, unsafe, wrong keys or shapes)."""


class AudioError(XYTokenizerError):
    """Audio that cannot be used (unreadable, empty, non-finite, too short)."""


class TokenFileError(XYTokenizerError):
    """A token file with the wrong dtype, shape or value range."""


class Cancelled(XYTokenizerError):
    """The caller asked to stop; raised between windows."""
