"""Errors the engine raises on purpose; each message says what is wrong and how to fix it.

Pages catch ``PondError`` (and only it) to show a clear message; anything else is a bug.
"""


class PondError(Exception):
    """Base class of every error Pond raises deliberately."""


class ImportFormatError(PondError):
    """A file cannot be imported as a whole (empty, not a table, no user or time column...)."""


class InsufficientDataError(PondError):
    """An analysis has too little data to give a meaningful answer."""


class ConvergenceError(PondError):
    """A model fit did not converge or produced non-finite values."""


class WarehouseLockedError(PondError):
    """Another process holds the warehouse file for writing."""


class WarehouseError(PondError):
    """The warehouse file is missing, unreadable or from a newer Pond version."""
