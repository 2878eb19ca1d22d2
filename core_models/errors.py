"""Errors that reach the user as one line of text.

Every failure the user can cause (a bad path, a broken file, a model that does
not fit) is raised as a :class:`LesionLoopError` subclass with a message that
makes sense on its own. The command line prints it on stderr and exits with
status 2; the viewer shows it in a dialog. Anything else is a bug.
"""
from __future__ import annotations


class LesionLoopError(Exception):
    """Base class: a failure explained to the user in one line."""

    exit_code = 2


class InputError(LesionLoopError):
    """The input path or file cannot be read as a CT series or label map."""


class ModelError(LesionLoopError):
    """A model or checkpoint is missing, unreadable or does not fit."""


class ResourceError(LesionLoopError):
    """The request would need more memory or disk than is available."""
