"""The base of sinks writing a new file or store: through a partial, published at close."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.publish import Publication
from sam2_engine.sinks.base import LabelSink


class FileSink(LabelSink):
    """A sink writing ``<path>.partial``, published as ``<path>`` by a successful close.

    Creating one checks the output under the project's rules (:mod:`sam2_engine.publish`):
    an existing ``path`` is replaced only with ``overwrite`` and only if napari-sam2 wrote it;
    an output that is one of ``inputs`` (or inside or around one) is refused; a second writer
    of the same output is refused while the first runs. The provenance in :attr:`info`
    (model, checkpoint, frames...) is written into the file's own metadata before it is
    published, and :meth:`read_info` of its format reads it back.

    Subclasses set :attr:`folder` (a store directory rather than one file) and implement
    ``_create`` (lay out the empty partial), ``_store``, ``_flush`` and ``_write_info``.
    """

    folder = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any,
        *,
        threshold: float = 0.0,
        overwrite: bool = False,
        inputs: Iterable[Any] = (),
        info: dict[str, Any] | None = None,
    ) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "iu":
            raise ValueError(f"{type(self).__name__} needs an integer label dtype, got {dtype}")
        super().__init__(shape, dtype, threshold=threshold)
        self.info: dict[str, Any] = dict(info or {})
        self.overwrite = bool(overwrite)
        self._out = Publication(
            path,
            overwrite=overwrite,
            inputs=inputs,
            folder=self.folder,
            recognise=lambda p: self.read_info(p) is not None,
            keep_partial=True,
            what=f"{type(self).__name__} of {tuple(self.shape)} labels",
        )
        self.path: Path = self._out.path
        self.partial_path: Path = self._out.partial
        try:
            self._create()
        except BaseException:
            self._out.keep_partial = False
            self._out.abandon()
            raise

    # -- what subclasses provide ------------------------------------------------------------

    def _create(self) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        """Write out and let go of what is open (the partial stays readable)."""

    def _write_info(self) -> None:
        """Record :attr:`info` in the partial's metadata."""

    @staticmethod
    def read_info(path: Path) -> dict[str, Any] | None:
        """The provenance a file of this format records (None: none, or not ours)."""
        raise NotImplementedError

    # -- LabelSink ---------------------------------------------------------------------------

    @property
    def location(self) -> Path:
        """Where the data are now: ``partial_path`` until a successful close, then ``path``."""
        return self.path if self._state == "closed" else self.partial_path

    def _kept_where(self) -> str:
        return (
            f"{self.partial_path} (a readable {self.path.suffix} file; frames not reached are 0); "
            f"{self.path} was not touched. Rename it to keep it, or run again with --overwrite "
            "(overwrite=True in Python) to start over"
        )

    def _release(self, complete: bool) -> None:
        try:
            self._flush()
            self._write_info()
        finally:
            if complete:
                self._out.commit()
            else:
                self._out.abandon()
