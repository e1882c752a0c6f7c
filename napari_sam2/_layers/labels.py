"""The labels layer: label value == object id, colours == object colours; painting protects.

Writes from tracking go straight into the layer's array through :class:`LabelsLayerStore`
(outside napari's paint history, so they do not count as painting); frames the user paints
become protected from propagation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from napari.layers import Labels
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_info, show_warning
from psygnal import Signal

from napari_sam2._controller import TrackingController
from napari_sam2._image_spec import ImageSpec
from napari_sam2._layers.common import find_layer, geometry, in_viewer, same_layer
from napari_sam2._records import PluginInputError

#: Metadata key marking the labels layers the dock made for its results.
OUTPUT_MARK = "napari_sam2_output"
#: Colour of label values that are no object of the session (painted by hand).
OTHER_LABELS = (0.7, 0.7, 0.7, 1.0)


class LabelsLayerStore:
    """The controller's :class:`~napari_sam2._records.LabelStore` over a Labels layer.

    Writes go straight into the layer's array. The view is refreshed only when the written
    frame is the one shown: napari reads the others afresh when the user moves there, and
    skipping their redraws keeps the event loop free while a fast propagation writes many
    frames a second. For an image with a channel axis shown as a slider, the labels are written
    on every channel.
    """

    def __init__(self, layer: Labels, spec: ImageSpec, shown_frame: Callable[[], int]) -> None:
        self.layer = layer
        self.spec = spec
        self.shown_frame = shown_frame

    def read(self, frame: int) -> np.ndarray:
        return np.asarray(self.layer.data[self.spec.frame_key(frame)])

    def write(self, frame: int, labels: np.ndarray) -> None:
        key = self.spec.frame_key(frame, channel=slice(None))
        channel_dim = self.spec.dim("C")
        if channel_dim is not None:  # broadcast over the channel slider
            kept = [d for d, k in enumerate(key) if isinstance(k, slice)]
            labels = np.expand_dims(labels, kept.index(channel_dim))
        self.layer.data[key] = labels
        if frame == self.shown_frame():
            self.layer.refresh(extent=False)


class LabelsLayer:
    """Finds, makes and watches an image's labels layer.

    Signals:
        removed(): the layer left the viewer (it is kept and can come back).
    """

    removed = Signal()

    def __init__(self, viewer: Any, controller: TrackingController) -> None:
        self.viewer = viewer
        self.controller = controller
        self.layer: Labels | None = None
        viewer.layers.events.removed.connect(self._on_layer_removed)

    @property
    def spec(self) -> ImageSpec:
        return self.controller.image

    def attach(self, image_layer: Any, given: Labels | None, shown_frame: Callable[[], int]):
        """Use ``given``, else the image's own labels layer, else a new one; returns the store
        the controller writes through.

        Raises:
            PluginInputError: ``given`` does not have the image's shape.
        """
        shape = self.spec.labels_shape
        if given is not None and tuple(given.data.shape) != shape:
            raise PluginInputError(
                f"the labels layer '{given.name}' has shape {tuple(given.data.shape)}, but "
                f"the image '{image_layer.name}' needs {shape}: pick another labels layer or "
                "let the plugin create one"
            )
        self.detach()
        layer = given or self._existing(image_layer, shape)
        if layer is None:
            layer = self.viewer.add_labels(
                np.zeros(shape, np.uint16),
                name=_name(image_layer),
                metadata={OUTPUT_MARK: True},
                **geometry(image_layer, len(self.spec.display_axes)),
            )
        self.layer = layer
        layer.events.paint.connect(self._on_paint)
        layer.events.selected_label.connect(self._on_selected_label)
        self.recolor()
        return LabelsLayerStore(layer, self.spec, shown_frame)

    def _existing(self, image_layer: Any, shape: tuple[int, ...]) -> Labels | None:
        layer = find_layer(self.viewer, Labels, _name(image_layer))
        if layer is not None and tuple(layer.data.shape) != shape:
            show_warning(
                f"SAM 2: the layer '{layer.name}' has shape {tuple(layer.data.shape)}, not "
                f"{shape}: it is left alone and a new labels layer is made"
            )
            return None
        return layer

    def detach(self) -> None:
        """Stop watching the layer (it stays in the viewer with its labels)."""
        if self.layer is not None:
            self.layer.events.paint.disconnect(self._on_paint)
            self.layer.events.selected_label.disconnect(self._on_selected_label)
        self.layer = None

    def close(self) -> None:
        self.detach()
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)

    def ensure(self) -> None:
        """Put the layer back if the user removed it (nothing in it is lost)."""
        if self.layer is not None and not in_viewer(self.viewer, self.layer):
            self.viewer.add_layer(self.layer)
            show_info(f"SAM 2: the labels layer '{self.layer.name}' is back in the viewer")

    def arm(self) -> None:
        """Select the layer in paint mode with the active object's label."""
        self.viewer.layers.selection.active = self.layer
        if self.controller.active is not None:
            self.layer.selected_label = self.controller.active
        self.layer.mode = "paint"

    # ------------------------------------------------------------------ events
    def _on_paint(self, event: Any) -> None:
        """Frames the user painted become protected."""
        dim = self.spec.dim(self.spec.axis) if self.spec.axis else None
        frames: set[int] = set()
        for atom in event.value:
            if dim is None:
                frames.add(0)
            elif hasattr(atom, "slice_key"):
                part = atom.slice_key[dim]
                frames.update(
                    range(part.start or 0, part.stop) if isinstance(part, slice) else [part]
                )
            else:
                frames.update(int(f) for f in np.unique(np.asarray(atom[0][dim])))
        self.controller.mark_painted(frames)

    def _on_selected_label(self, event: Any) -> None:
        value = int(self.layer.selected_label)
        if value in self.controller.object_ids and value != self.controller.active:
            self.controller.set_active(value)

    def _on_layer_removed(self, event: Any) -> None:
        if same_layer(event.value, self.layer):
            self.removed.emit()

    # ------------------------------------------------------------------ from the controller
    def recolor(self) -> None:
        """Label colours from the objects (other values grey, 0 transparent)."""
        if self.layer is None:
            return
        colors: dict[int | None, Any] = {None: OTHER_LABELS, 0: (0, 0, 0, 0)}
        colors.update({o.id: o.color for o in self.controller.objects})
        self.layer.colormap = DirectLabelColormap(color_dict=colors)

    def select(self, obj_id: int) -> None:
        """Paint with the active object's label."""
        if self.layer is not None and self.layer.selected_label != obj_id:
            self.layer.selected_label = obj_id


def _name(image_layer: Any) -> str:
    return f"{image_layer.name} SAM 2 labels"


def labels_frame(layer: Labels, spec: ImageSpec, frame: int) -> np.ndarray:
    """The (H, W) labels of ``frame`` in any Labels layer made for the image: a 2-D layer of
    the frame's size as it is, a layer of the image's labels shape at that frame.

    Raises:
        PluginInputError: the layer fits neither shape.
    """
    shape = tuple(layer.data.shape)
    if shape == tuple(spec.frame_shape):
        return np.asarray(layer.data)
    if shape == tuple(spec.labels_shape):
        return np.asarray(layer.data[spec.frame_key(frame)])
    raise PluginInputError(
        f"the labels layer '{layer.name}' has shape {shape}; objects come from a label image "
        f"of one frame {tuple(spec.frame_shape)} or of the image's shape {spec.labels_shape}"
    )
