"""Errors and warnings raised by the frame sources.

Every error is a ``ValueError`` subclass, so callers that treat bad input generically can catch
``ValueError``; each message names the argument or file that caused it.
"""

from __future__ import annotations


class FrameSourceError(ValueError):
    """Input that cannot become a frame source: a bad argument, or an unsupported, corrupt or
    inconsistent file. The message names the argument or the file."""


class FrameFileNotFoundError(FrameSourceError, FileNotFoundError):
    """The path given as a video does not exist (also a ``FileNotFoundError``)."""


class FrameReadError(FrameSourceError):
    """A frame could not be read from a source that opened fine (a truncated or corrupt file,
    an image of the wrong shape in a folder). The message names the frame and the file."""


class FrameSourceWarning(UserWarning):
    """Something worth knowing about a source: a slow fallback, or an estimate."""
