"""Errors that reach the user as one clear message instead of a traceback."""


class UserError(Exception):
    """A problem with the user's files or config: printed as-is, exit code 2.

    The message must say which file / key / row, what was expected, and how to fix it.
    """


class InternalInvariantError(RuntimeError):
    """A bug in chatprep itself (e.g. an accounting invariant broke). Never caught silently."""
