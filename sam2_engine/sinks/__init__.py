"""Label sinks: where propagated masks go, one frame at a time, as they are produced.

``VideoPredictor.propagate_in_video`` yields ``(frame_idx, obj_ids, masks)`` with ``masks`` of
shape ``(num_objects, 1, H, W)`` (float logits, > 0 inside). Nothing here keeps those frames: each
one is merged into a single label image (:func:`merge_to_labels`) and written out at once, so
memory does not grow with the number of frames. Sinks:

- :class:`ArraySink`: into a ``(T, H, W)`` array the caller owns (numpy, ``np.memmap``, a napari
  Labels layer's data, a zarr array, anything with ``.shape`` and ``__setitem__``).
- file formats, chosen by the output's suffix (:mod:`~sam2_engine.sinks.registry`):
  :class:`TiffSink` (``.tif``, ``.tiff``: one uncompressed multi-page TIFF, ImageJ hyperstack
  ``TYX`` where the dtype allows it), :class:`ZarrSink` (``.zarr``: one chunk per frame) and
  :class:`OmeZarrSink` (``.ome.zarr``: an NGFF image of the frames with the labels in its
  ``labels`` group). :func:`open_sink` picks one; :func:`read_info` reads back the provenance
  a file records; :func:`open_labels` opens a written file read-only.

:func:`write_propagation` drives a sink from the predictor's iterator::

    with open_sink("labels.tif", shape=(len(source), H, W)) as sink:
        write_propagation(predictor.propagate_in_video(state), sink, close=False)
        write_propagation(predictor.propagate_in_video(state, reverse=True), sink)

Stopping midway. Frames are written as they arrive and never buffered, so when the iterator
raises (an engine error, ``KeyboardInterrupt``, a cancelled worker) every finished frame is on
disk and every other frame is untouched (0 in a new file, the caller's values in an array). The
file sinks write to ``<path>.partial`` and rename it to ``<path>`` only in :meth:`LabelSink.close`
(so a file at ``<path>`` is always complete and an older ``<path>`` survives a failed run); every
rule about existing outputs lives in :mod:`sam2_engine.publish`. On an error
:meth:`LabelSink.abort` flushes and closes the partial file and keeps it as ``<path>.partial``,
readable with tifffile / zarr; the exception that propagates carries a note saying so. Calling
:meth:`LabelSink.close` afterwards publishes the finished frames under ``<path>`` anyway (what a
GUI's "keep what was done" does). To stop early without an error, stop the iterator itself
(``itertools.islice``, ``takewhile``): the sink is then closed normally.
"""

from sam2_engine.sinks.array_sink import ArraySink
from sam2_engine.sinks.base import LabelSink, write_propagation
from sam2_engine.sinks.file_sink import FileSink
from sam2_engine.sinks.labels import merge_to_labels
from sam2_engine.sinks.ome_zarr_sink import OmeZarrSink
from sam2_engine.sinks.registry import (
    SinkFormat,
    check_output,
    format_for,
    open_labels,
    open_sink,
    read_info,
    register_format,
    sink_formats,
)
from sam2_engine.sinks.tiff_sink import BIGTIFF_THRESHOLD, TiffSink
from sam2_engine.sinks.zarr_sink import ZarrSink

__all__ = [
    "BIGTIFF_THRESHOLD",
    "ArraySink",
    "FileSink",
    "LabelSink",
    "OmeZarrSink",
    "SinkFormat",
    "TiffSink",
    "ZarrSink",
    "check_output",
    "format_for",
    "merge_to_labels",
    "open_labels",
    "open_sink",
    "read_info",
    "register_format",
    "sink_formats",
    "write_propagation",
]
