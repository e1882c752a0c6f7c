"""The engine's exception classes.

Every error the engine raises on purpose derives from :class:`Sam2EngineError`, so callers (the
napari plugin, scripts) can catch all of them with one ``except`` clause and show the message as
it is: messages are written for users and say what went wrong and what to do about it.

Invalid arguments (an unknown model name, a bad shape) stay plain :class:`ValueError` /
:class:`TypeError`, as Python users expect.
"""

from __future__ import annotations


class Sam2EngineError(Exception):
    """Base class of every error raised on purpose by ``sam2_engine``."""


class CheckpointError(Sam2EngineError):
    """A checkpoint file is missing, unreadable, corrupt, or not in the expected format."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint's keys or tensor shapes do not fit the model it is loaded into.

    Attributes:
        missing: keys the model expects but the checkpoint lacks.
        unexpected: keys the checkpoint has but the model does not know.
        mismatched: ``(key, expected_shape, found_shape)`` for keys present in both.
        source: where the checkpoint came from (a file path or a description).
        identified: the preset the checkpoint seems to be, or ``None`` if none fits.
    """

    def __init__(
        self,
        message: str,
        *,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] | None = None,
        source: str = "",
        identified: str | None = None,
    ) -> None:
        super().__init__(message)
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = list(mismatched or [])
        self.source = source
        self.identified = identified


class CacheError(Sam2EngineError):
    """The checkpoint cache folder cannot be used: ``$NAPARI_SAM2_HOME`` (or the default cache
    location) is a file, or it cannot be created or written."""


class DownloadError(Sam2EngineError):
    """Downloading a checkpoint failed (HTTP error, offline, truncated, wrong hash, disk)."""


class ModelNotFoundError(Sam2EngineError, FileNotFoundError):
    """A model's checkpoint is not in the cache and downloading was not allowed.

    Also a :class:`FileNotFoundError`, so generic ``except FileNotFoundError`` code catches it.
    """


class PromptError(Sam2EngineError, ValueError):
    """Points, labels, a box or a mask prompt are malformed or outside the image."""


class ImageInputError(Sam2EngineError, ValueError):
    """An image has the wrong shape, dtype or values (NaN, empty)."""


class VideoStateError(Sam2EngineError):
    """A video session cannot do what was asked (unknown object, nothing to propagate)."""


class InsufficientMemoryError(Sam2EngineError, MemoryError):
    """The machine lacks the memory a model size or a frame needs (checked up front, from an
    estimate; see ``sam2_engine.resources``). Also a :class:`MemoryError`.

    Attributes:
        needed: the estimated bytes.
        available: the bytes available when checked.
    """

    def __init__(self, message: str, *, needed: int = 0, available: int = 0) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available
