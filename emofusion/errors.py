"""Errors the library raises for problems a user can fix.

Library code raises these (or a subclass defined next to the code that detects the problem, e.g.
`emofusion.data.cache.CacheError`); it never prints or exits. Only `emofusion.cli.main` turns an
`EmofusionError` into a one-line message and exit status 2, so the same call from Python gets a
normal exception it can catch.
"""

from __future__ import annotations


class EmofusionError(Exception):
    """Base class: a problem the user can fix (a bad path or option, files that do not fit together)."""


class UsageError(EmofusionError):
    """An option, argument or input path that cannot work as given."""


class ModelsNotFound(EmofusionError, FileNotFoundError):
    """The models directory, or a named model in it, is not there (the message says how to get one)."""


class ModelLoadError(EmofusionError):
    """A model is there but cannot be made to run here (damaged file, backend unavailable)."""
