"""Output formats of label stacks, by file suffix: where a new format registers itself.

A format module (``tiff_sink``, ``zarr_sink``, ``ome_zarr_sink``) defines a
:class:`~sam2_engine.sinks.file_sink.FileSink` subclass and calls :func:`register_format` when
imported; :mod:`sam2_engine.sinks` imports them all. Everything else (the scripted API, the
command line, batch runs) only calls :func:`open_sink`, :func:`check_output`,
:func:`read_info` and :func:`open_labels`, so adding a format touches this package alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine import publish
from sam2_engine.constants import PARTIAL_SUFFIX
from sam2_engine.sinks.array_sink import ArraySink
from sam2_engine.sinks.base import LabelSink


@dataclass(frozen=True)
class SinkFormat:
    """A label file format.

    Attributes:
        name: short name (``"tiff"``).
        suffixes: file name endings it is chosen by, lower case (``(".tif", ".tiff")``).
        sink: the :class:`FileSink` subclass writing it (its ``folder`` and ``read_info`` are
            used too).
        open_labels: opens a written file read-only as a (T, H, W) array.
        description: one line for help texts.
        takes_source: the sink also wants the frames it labels (``source=``), e.g. to store
            the image beside its labels.
    """

    name: str
    suffixes: tuple[str, ...]
    sink: type
    open_labels: Any
    description: str
    takes_source: bool = False

    def create(
        self,
        path: Path,
        shape: tuple[int, int, int],
        dtype: Any,
        *,
        overwrite: bool,
        inputs: Iterable[Any],
        info: dict[str, Any] | None,
        source: Any,
    ) -> LabelSink:
        extra = {"source": source} if self.takes_source else {}
        return self.sink(
            path, shape, dtype=dtype, overwrite=overwrite, inputs=inputs, info=info, **extra
        )


_FORMATS: dict[str, SinkFormat] = {}


def register_format(fmt: SinkFormat) -> None:
    """Add (or replace, by name) a label file format."""
    _FORMATS[fmt.name] = fmt


def sink_formats() -> list[SinkFormat]:
    """The registered formats."""
    return list(_FORMATS.values())


def suffixes() -> list[str]:
    """Every suffix a label output may end in."""
    return [suffix for fmt in _FORMATS.values() for suffix in fmt.suffixes]


def format_for(path: str | os.PathLike) -> SinkFormat:
    """The format a label output's name asks for (the longest matching suffix wins).

    Raises:
        ValueError: no format has that suffix (the message lists them).
    """
    name = Path(path).name.lower().removesuffix(PARTIAL_SUFFIX)  # a partial is its format too
    matches = [
        (len(suffix), fmt)
        for fmt in _FORMATS.values()
        for suffix in fmt.suffixes
        if name.endswith(suffix)
    ]
    if not matches:
        known = ", ".join(suffixes())
        raise ValueError(
            f"cannot write labels to {path}: the name must end in one of {known} "
            "(the suffix picks the format)"
        )
    return max(matches, key=lambda match: match[0])[1]


def check_output(
    path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[Any] = ()
) -> Path:
    """Check before any work that labels can be written to ``path`` (see
    :func:`sam2_engine.publish.check_output`): a known suffix, a usable folder, no clash with an
    existing output (replaced only with ``overwrite`` and only if ours) or an input."""
    fmt = format_for(path)
    return publish.check_output(
        path,
        overwrite=overwrite,
        inputs=inputs,
        folder=fmt.sink.folder,
        recognise=lambda p: fmt.sink.read_info(p) is not None,
    )


def open_sink(
    output: Any,
    shape: tuple[int, int, int],
    dtype: Any = np.uint16,
    *,
    overwrite: bool = False,
    inputs: Iterable[Any] = (),
    info: dict[str, Any] | None = None,
    source: Any = None,
) -> LabelSink:
    """The sink for ``output``: ``None`` gives a new zero-filled array, an array of ``shape``
    is filled in place, and a path gets a new file of the format its suffix names.

    Arguments:
        output: None, a (T, H, W) array (numpy, zarr, napari Labels data...), or a path.
        shape: (T, H, W) of the label stack.
        dtype: the label dtype of a new array or file.
        overwrite, inputs: see :func:`check_output`.
        info: provenance a file records (model, checkpoint, frames...).
        source: the frames being labelled, for formats that store them too.
    """
    if output is None:
        return ArraySink(np.zeros(shape, dtype))
    if isinstance(output, (str, os.PathLike)):
        path = Path(output).expanduser()
        return format_for(path).create(
            path, shape, dtype, overwrite=overwrite, inputs=inputs, info=info, source=source
        )
    if tuple(getattr(output, "shape", ())) != tuple(shape):
        raise ValueError(
            f"output must be a (frames, H, W) = {tuple(shape)} array for the frames tracked, "
            f"got shape {getattr(output, 'shape', None)}"
        )
    return ArraySink(output)


def read_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """The provenance a label file written by napari-sam2 records (None if it has none): a dict
    with ``software``, ``model``, ``image_size``, ``checkpoint``, ``checkpoint_sha256`` and,
    for tracking results, ``direction``, ``frames`` ([start, stop)), ``objects``, ``source``.
    """
    path = Path(path)
    return format_for(path).sink.read_info(path)


def open_labels(path: str | os.PathLike) -> Any:
    """A written label file, opened read-only as a (T, H, W) array (memory-mapped or lazy)."""
    path = Path(path)
    return format_for(path).open_labels(path)
