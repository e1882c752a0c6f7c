"""The napari layers of a tracking session: clicks, boxes and labels, composed in one place.

Prompts are ordinary napari layers that the plugin creates and watches (one small part per
layer kind: :mod:`.clicks`, :mod:`.boxes`, :mod:`.labels`). Any change in the prompt layers
(adding, moving, deleting) is read back as the full set of clicks and boxes and handed to the
controller, which works out what changed; when the controller changes prompts itself (undo, a
loaded session, a removed object) the layers are rebuilt from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari.layers import Labels, Points, Shapes
from napari.utils.notifications import show_info, show_warning
from psygnal import Signal

from napari_sam2._controller import TrackingController
from napari_sam2._layers.boxes import BoxesLayer
from napari_sam2._layers.clicks import ClicksLayer
from napari_sam2._layers.common import Quiet, same_layer
from napari_sam2._layers.labels import LabelsLayer, LabelsLayerStore

if TYPE_CHECKING:
    import napari

    from napari_sam2._image_spec import ImageSpec

__all__ = ["LabelsLayerStore", "TrackingLayers", "same_layer"]


class TrackingLayers:
    """The clicks, boxes and labels layers of the tracked image, and the frame shown.

    Signals:
        labels_removed(): the labels layer left the viewer (it is kept and can come back).
    """

    labels_removed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, controller: TrackingController) -> None:
        self.viewer = viewer
        self.controller = controller
        self.image_layer: Any = None
        self.quiet = Quiet()
        self.clicks = ClicksLayer(viewer, controller, self.quiet, self.push)
        self.boxes_part = BoxesLayer(viewer, controller, self.quiet, self.push)
        self.labels_part = LabelsLayer(viewer, controller)
        self.labels_part.removed.connect(self.labels_removed.emit)
        controller.prompts_changed.connect(self._on_prompts_changed)
        controller.objects_changed.connect(self._on_objects_changed)
        controller.active_changed.connect(self._on_active_changed)

    # ------------------------------------------------------------------ the layers
    @property
    def spec(self) -> ImageSpec:
        return self.controller.image

    @property
    def points(self) -> Points | None:
        return self.clicks.layer

    @property
    def boxes(self) -> Shapes | None:
        return self.boxes_part.layer

    @property
    def labels(self) -> Labels | None:
        return self.labels_part.layer

    @property
    def positive(self) -> bool:
        return self.clicks.positive

    # ------------------------------------------------------------------ set up
    def attach(self, image_layer: Any, labels: Labels | None = None) -> None:
        """Use (or create) the prompt layers and the labels layer for ``image_layer``.

        Raises:
            PluginInputError: ``labels`` does not have the image's shape.
        """
        store = self.labels_part.attach(image_layer, labels, self.current_frame)
        self.clicks.detach()
        self.boxes_part.detach()
        self.image_layer = image_layer
        self.clicks.attach(image_layer)
        self.boxes_part.attach(image_layer)
        self.ensure_layers()
        self.controller.labels = store
        self._on_objects_changed()
        self._on_prompts_changed()
        self._bring_forward()

    def _bring_forward(self) -> None:
        """Show the image with its layers on top of the others, the image selected (not one
        of the prompt layers: nothing is armed until the user picks a prompt kind)."""
        self.image_layer.visible = True
        self._name_axes()
        for layer in (self.image_layer, self.labels, self.points, self.boxes):
            if layer is not None:
                index = self.viewer.layers.index(layer)
                self.viewer.layers.move(index, len(self.viewer.layers))
        self.viewer.layers.selection.active = self.image_layer

    def detach(self) -> None:
        """Stop watching the layers (they stay in the viewer with everything in them)."""
        self.clicks.detach()
        self.boxes_part.detach()
        self.labels_part.detach()
        self.image_layer = None
        self.controller.labels = None

    def close(self, *_: Any) -> None:
        """Stop watching the layers and the controller (the dock is gone)."""
        self.detach()
        self.labels_part.close()
        self.controller.prompts_changed.disconnect(self._on_prompts_changed)
        self.controller.objects_changed.disconnect(self._on_objects_changed)
        self.controller.active_changed.disconnect(self._on_active_changed)

    def ensure_layers(self) -> None:
        """Put back any of the session's layers the user removed (nothing in them is lost)."""
        if self.image_layer is None:
            return
        self.labels_part.ensure()
        prompts = self.controller.prompts
        remade = self.clicks.ensure(self.image_layer, any(p.points for p in prompts))
        boxed = any(p.box is not None for p in prompts)
        remade = self.boxes_part.ensure(self.image_layer, boxed) or remade
        if remade:
            show_info(
                "SAM 2: a removed prompt layer was made again from the session's prompts "
                "(delete prompts inside the layer to drop them)"
            )

    def _name_axes(self) -> None:
        """Give an image whose axes napari only numbers (``-3``) the names of the axes chosen
        in the dock (``t``, ``z``...), so the slider says what it moves along; the plugin's
        layers follow."""
        labels = tuple(str(a) for a in self.image_layer.axis_labels)
        names = tuple(a.lower() for a in self.spec.display_axes)
        numbered = all(a.lstrip("-").isdigit() for a in labels)
        if numbered and len(names) == len(labels):
            self.image_layer.axis_labels = names
            for layer in (self.labels, self.points, self.boxes):
                if layer is not None and layer.ndim == len(names):
                    layer.axis_labels = names

    # ------------------------------------------------------------------ prompt modes
    def start_clicks(self) -> None:
        """Select the clicks layer in point-adding mode (made on first use)."""
        self.ensure_layers()
        self.clicks.ensure(self.image_layer, needed=True)
        self.clicks.arm()

    def start_boxes(self) -> None:
        """Select the boxes layer in rectangle-drawing mode (made on first use)."""
        self.ensure_layers()
        self.boxes_part.ensure(self.image_layer, needed=True)
        self.boxes_part.arm()

    def start_painting(self) -> None:
        """Select the labels layer in paint mode with the active object's label."""
        self.ensure_layers()
        self.labels_part.arm()

    def set_polarity(self, positive: bool) -> None:
        """The polarity of the next clicks (Shift+click gives the other one)."""
        self.clicks.set_polarity(positive)

    # ------------------------------------------------------------------ layers -> controller
    def push(self) -> None:
        """Read every click and box and hand them to the controller as one edit."""
        if self.spec is None:
            return
        clicks, rejected = self.clicks.read()
        boxes, rejected_boxes = self.boxes_part.read()
        for reason in dict.fromkeys(rejected + rejected_boxes):
            show_warning(f"SAM 2: {reason}; it was removed")
        with self.quiet():
            self.controller.update_layer_prompts(clicks, boxes)

    # ------------------------------------------------------------------ controller -> layers
    def _on_prompts_changed(self) -> None:
        if self.quiet.active or self.spec is None:
            return
        if self.image_layer is not None:  # prompts from undo or a session need their layer
            prompts = self.controller.prompts
            self.clicks.ensure(self.image_layer, any(p.points for p in prompts))
            self.boxes_part.ensure(self.image_layer, any(p.box is not None for p in prompts))
        self.clicks.rebuild()
        self.boxes_part.rebuild()

    def _on_objects_changed(self) -> None:
        """Object colours: the labels colormap, the points and the boxes."""
        self.labels_part.recolor()
        self.clicks.restyle()
        if self.points is not None:
            self.clicks.set_defaults()
        self.boxes_part.restyle()

    def _on_active_changed(self, obj_id: int | None) -> None:
        if obj_id is None:
            return
        self.labels_part.select(obj_id)
        if self.points is not None:
            self.clicks.set_defaults()
        self.boxes_part.set_defaults()

    # ------------------------------------------------------------------ navigation
    def current_frame(self) -> int:
        """The frame the viewer shows (0 for a single frame)."""
        spec = self.spec
        if spec is None or spec.axis is None or self.image_layer is None:
            return 0
        data_position = self.image_layer.world_to_data(self.viewer.dims.point)
        frame = int(round(data_position[spec.dim(spec.axis)]))
        return min(max(frame, 0), spec.num_frames - 1)

    def go_to_frame(self, frame: int) -> None:
        """Show a frame (the plot and the lost-frames list jump with it)."""
        spec = self.spec
        if spec is None or spec.axis is None or self.image_layer is None:
            return
        position = list(self.image_layer.world_to_data(self.viewer.dims.point))
        position[spec.dim(spec.axis)] = frame
        world = self.image_layer.data_to_world(position)
        axis = self.viewer.dims.ndim - len(position) + spec.dim(spec.axis)
        self.viewer.dims.set_point(axis, world[spec.dim(spec.axis)])
