"""Label stacks as OME-Zarr (``.ome.zarr``): an NGFF 0.4 image with a ``labels`` group.

Layout (zarr format 2, what napari-ome-zarr, ome-zarr-py, Fiji and QuPath read)::

    NAME.ome.zarr/            image group: "multiscales" (axes t, [c,] y, x)
        0/                    the frames that were labelled, in their own dtype
        labels/               "labels": ["sam2"]
            sam2/             "multiscales" + "image-label" (its source image)
                0/            the label stack, uint16 (uint32 for large ids)

Both arrays are written frame by frame as labels arrive, one chunk per frame. An RGB source is
stored with a channel axis (t, c, y, x); its labels then have a channel axis of size 1, as the
NGFF rule that labels share the image's axes asks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sam2_engine.constants import INFO_KEY, software
from sam2_engine.sinks.file_sink import FileSink
from sam2_engine.sinks.registry import SinkFormat, register_format

NGFF_VERSION = "0.4"
LABEL_NAME = "sam2"

#: A label frame index -> the raw pixels of the frame it labels, (H, W) or (H, W, C).
FrameReader = Callable[[int], np.ndarray]


class OmeZarrSink(FileSink):
    """Writes labels, and the frames they label, as an OME-Zarr image with a labels group.

    Arguments:
        path: the store to create, e.g. ``"cells.ome.zarr"``.
        shape (tuple[int, int, int]): (T, H, W) of the labels.
        dtype: an integer label dtype (default uint16).
        source: reads the frame a label index refers to (see :data:`FrameReader`); None stores
            labels over an empty (zero) image of the same size.
        scale: pixel size per axis (t, y, x) for the coordinate transformations.
        threshold, overwrite, inputs, info: see :class:`TiffSink`.
    """

    folder = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        shape: Sequence[int],
        dtype: Any = np.uint16,
        *,
        source: FrameReader | None = None,
        scale: Sequence[float] = (1.0, 1.0, 1.0),
        threshold: float = 0.0,
        overwrite: bool = False,
        inputs: Iterable[Any] = (),
        info: dict[str, Any] | None = None,
    ) -> None:
        self._source = source
        self._scale = [float(s) for s in scale]
        self._image: Any = None
        self._labels: Any = None
        super().__init__(
            path, shape, dtype, threshold=threshold, overwrite=overwrite, inputs=inputs, info=info
        )

    def _create(self) -> None:
        import zarr

        frames, height, width = self.shape
        sample = None if self._source is None else np.asarray(self._source(0))
        channels = sample.shape[2] if sample is not None and sample.ndim == 3 else None
        image_dtype = np.uint8 if sample is None else sample.dtype
        lead = (frames,) if channels is None else (frames, channels)
        label_lead = (frames,) if channels is None else (frames, 1)
        axes = [{"name": "t", "type": "time"}]
        if channels is not None:
            axes.append({"name": "c", "type": "channel"})
        axes += [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
        scale = [self._scale[0], *([1.0] if channels else []), *self._scale[1:]]
        self._channels = channels

        root = zarr.open_group(store=str(self.partial_path), mode="w", zarr_format=2)
        root.attrs["multiscales"] = [_multiscale("image", axes, scale)]
        self._image = root.create_array(
            name="0", **_frame_array((*lead, height, width), image_dtype)
        )
        labels_group = root.create_group("labels")
        labels_group.attrs["labels"] = [LABEL_NAME]
        group = labels_group.create_group(LABEL_NAME)
        group.attrs["multiscales"] = [_multiscale(LABEL_NAME, axes, scale)]
        group.attrs["image-label"] = {"version": NGFF_VERSION, "source": {"image": "../../"}}
        self._labels = group.create_array(
            name="0", **_frame_array((*label_lead, height, width), self.dtype)
        )

    def _store(self, frame_idx: int, labels: np.ndarray) -> None:
        if self._channels is None:
            self._labels[frame_idx] = labels
        else:
            self._labels[frame_idx, 0] = labels
        if self._source is not None:
            pixels = np.asarray(self._source(frame_idx))
            self._image[frame_idx] = pixels if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)

    def _flush(self) -> None:
        self._image = self._labels = None

    def _write_info(self) -> None:
        import zarr

        root = zarr.open_group(str(self.partial_path), mode="r+", zarr_format=2)
        root.attrs[INFO_KEY] = {"software": software(), **self.info}

    @staticmethod
    def read_info(path: Path) -> dict[str, Any] | None:
        import zarr

        value = zarr.open_group(str(path), mode="r").attrs.get(INFO_KEY)
        return value if isinstance(value, dict) else None


def _multiscale(name: str, axes: list[dict[str, str]], scale: list[float]) -> dict[str, Any]:
    return {
        "version": NGFF_VERSION,
        "name": name,
        "axes": axes,
        "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        ],
    }


def _frame_array(shape: tuple[int, ...], dtype: Any) -> dict[str, Any]:
    """``create_array`` arguments: one chunk per frame, "/" chunk keys as NGFF 0.4 asks."""
    return {
        "shape": shape,
        "chunks": (1, *shape[1:]),
        "dtype": np.dtype(dtype),
        "fill_value": 0,
        "chunk_key_encoding": {"name": "v2", "separator": "/"},
    }


def open_ome_zarr_labels(path: Path) -> Any:
    """The label stack of an OME-Zarr written here, read-only, as (T, H, W)."""
    import zarr

    labels = zarr.open_array(str(Path(path) / "labels" / LABEL_NAME / "0"), mode="r")
    return labels if labels.ndim == 3 else _DropChannel(labels)


class _DropChannel:
    """A (T, 1, H, W) array seen as (T, H, W), lazily."""

    def __init__(self, array: Any) -> None:
        self.array = array
        self.shape = (array.shape[0], *array.shape[2:])
        self.dtype = array.dtype
        self.ndim = 3

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        head = key[0] if key else slice(None)
        return np.asarray(self.array[(head, 0, *key[1:])])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = np.asarray(self.array[:, 0])
        return data if dtype is None else data.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


register_format(
    SinkFormat(
        name="ome-zarr",
        suffixes=(".ome.zarr",),
        sink=OmeZarrSink,
        open_labels=open_ome_zarr_labels,
        description="OME-Zarr (NGFF 0.4): the frames as an image, the labels in its labels group",
        takes_source=True,
    )
)
