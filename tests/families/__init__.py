"""Codec families that exist only in the tests (registered at run time)."""
