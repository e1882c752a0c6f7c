"""The napari layers of a tracking session: clicks, boxes and labels.

Prompts are ordinary napari layers that the plugin creates and watches:

- a Points layer of clicks: each point belongs to the frame it sits on and to an object
  (feature ``obj``), and is positive or negative (feature ``positive``): positive points are
  discs with a white rim, negative ones crosses with a red rim, both in the object's colour.
  Shift+click (or the dock's polarity toggle) places a negative point;
- a Shapes layer of boxes (one per object and frame; a new one replaces the old);
- a Labels layer: label value == object id, colours == object colours. Frames the user paints
  become protected.

Any change in the prompt layers (adding, moving, deleting) is read back as the full set of
clicks and boxes and handed to the controller, which works out what changed; when the
controller changes prompts itself (undo, a loaded session, a removed object) the layers are
rebuilt from it. Coordinates: napari puts pixel centres at integers, SAM 2 at half-integers,
so a prompt's (x, y) is the napari position + 0.5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Labels, Points, Shapes
from napari.layers.base import ActionType
from napari.utils.colormaps import DirectLabelColormap
from napari.utils.notifications import show_info, show_warning
from psygnal import Signal

from napari_sam2._controller import TrackingController
from napari_sam2._records import PluginInputError

if TYPE_CHECKING:
    import napari

    from napari_sam2._image_spec import ImageSpec

POSITIVE_RIM = "white"
NEGATIVE_RIM = "#ff2a2a"
#: Colour of label values that are no object of the session (painted by hand).
OTHER_LABELS = (0.7, 0.7, 0.7, 1.0)
_DONE = (ActionType.ADDED, ActionType.REMOVED, ActionType.CHANGED)


def same_layer(a: Any, b: Any) -> bool:
    """Whether two references are the same layer. napari hands plugins its objects wrapped in
    proxies (a new one on every access), so ``is`` cannot tell."""
    return a is not None and getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


class LabelsLayerStore:
    """The controller's :class:`~napari_sam2._controller.LabelStore` over a Labels layer.

    Writes go straight into the layer's array (outside napari's paint history, so they do not
    count as painting). The view is refreshed only when the written frame is the one shown:
    napari reads the others afresh when the user moves there, and skipping their redraws keeps
    the event loop free while a fast propagation writes many frames a second. For an image with
    a channel axis shown as a slider, the labels are written on every channel.
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


class TrackingLayers:
    """Creates, finds and watches the clicks, boxes and labels layers of one image.

    Signals:
        labels_removed(): the labels layer left the viewer (it is kept and can come back).
    """

    labels_removed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, controller: TrackingController) -> None:
        self.viewer = viewer
        self.controller = controller
        self.image_layer: Any = None
        self.points: Points | None = None
        self.boxes: Shapes | None = None
        self.labels: Labels | None = None
        self.positive = True
        self._negative_click = False
        self._busy = False  # the plugin itself is changing a layer: ignore its events
        controller.prompts_changed.connect(self._on_prompts_changed)
        controller.objects_changed.connect(self._on_objects_changed)
        controller.active_changed.connect(self._on_active_changed)
        viewer.layers.events.removed.connect(self._on_layer_removed)

    # ------------------------------------------------------------------ set up
    @property
    def spec(self) -> ImageSpec:
        return self.controller.image

    def attach(self, image_layer: Any, labels: Labels | None = None) -> None:
        """Use (or create) the prompt layers and the labels layer for ``image_layer``.

        Raises:
            PluginInputError: ``labels`` does not have the image's shape.
        """
        shape = self.spec.labels_shape
        if labels is not None and tuple(labels.data.shape) != shape:
            raise PluginInputError(
                f"the labels layer '{labels.name}' has shape {tuple(labels.data.shape)}, but "
                f"the image '{image_layer.name}' needs {shape}: pick another labels layer or "
                "let the plugin create one"
            )
        self.detach()
        self.image_layer = image_layer
        if labels is None:
            labels = self._existing(Labels, f"{image_layer.name} SAM 2 labels", shape)
        self.labels = labels
        if self.labels is None:
            self.labels = self.viewer.add_labels(
                np.zeros(shape, np.uint16), name=f"{image_layer.name} SAM 2 labels",
                **self._geometry(),
            )  # fmt: skip
        self.points = self._existing(Points, f"{image_layer.name} SAM 2 clicks")
        self.boxes = self._existing(Shapes, f"{image_layer.name} SAM 2 boxes")
        self.ensure_layers()
        self.labels.events.paint.connect(self._on_paint)
        self.labels.events.selected_label.connect(self._on_selected_label)
        self.controller.labels = LabelsLayerStore(self.labels, self.spec, self.current_frame)
        self._on_objects_changed()
        self._on_prompts_changed()

    def detach(self) -> None:
        """Stop watching the layers (they stay in the viewer with everything in them)."""
        if self.points is not None:
            self.points.events.data.disconnect(self._on_points_data)
            if self._on_points_press in self.points.mouse_drag_callbacks:
                self.points.mouse_drag_callbacks.remove(self._on_points_press)
        if self.boxes is not None:
            self.boxes.events.data.disconnect(self._on_boxes_data)
        if self.labels is not None:
            self.labels.events.paint.disconnect(self._on_paint)
            self.labels.events.selected_label.disconnect(self._on_selected_label)
        self.image_layer = self.points = self.boxes = self.labels = None
        self.controller.labels = None

    def close(self, *_: Any) -> None:
        """Stop watching the layers and the controller (the dock is gone)."""
        self.detach()
        self.controller.prompts_changed.disconnect(self._on_prompts_changed)
        self.controller.objects_changed.disconnect(self._on_objects_changed)
        self.controller.active_changed.disconnect(self._on_active_changed)
        self.viewer.layers.events.removed.disconnect(self._on_layer_removed)

    def ensure_layers(self) -> None:
        """Put back any of the session's layers the user removed (nothing in them is lost)."""
        if self.labels is not None and not self._in_viewer(self.labels):
            self.viewer.add_layer(self.labels)
            show_info(f"SAM 2: the labels layer '{self.labels.name}' is back in the viewer")
        restored = []
        if self.points is None or not self._in_viewer(self.points):
            restored.append(self.points)
            self.points = self._add_points()
            self._rebuild_points()
        if self.boxes is None or not self._in_viewer(self.boxes):
            restored.append(self.boxes)
            self.boxes = self._add_boxes()
            self._rebuild_boxes()
        if any(layer is not None for layer in restored):
            show_info(
                "SAM 2: a removed prompt layer was made again from the session's prompts "
                "(delete prompts inside the layer to drop them)"
            )

    def _in_viewer(self, layer: Any) -> bool:
        return any(same_layer(layer, other) for other in self.viewer.layers)

    def _geometry(self) -> dict[str, Any]:
        layer = self.image_layer
        ndim = len(self.spec.display_axes)
        return {"scale": tuple(layer.scale)[-ndim:], "translate": tuple(layer.translate)[-ndim:]}

    def _existing(self, kind: type, name: str, shape: tuple[int, ...] | None = None):
        layer = self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401
        if not isinstance(layer, kind):
            return None
        if shape is not None and tuple(layer.data.shape) != shape:
            show_warning(
                f"SAM 2: the layer '{name}' has shape {tuple(layer.data.shape)}, not {shape}: "
                "it is left alone and a new labels layer is made"
            )
            return None
        if kind is Points and layer.ndim != len(self.spec.display_axes):
            return None
        if isinstance(layer, Points):
            layer.events.data.connect(self._on_points_data)
            layer.mouse_drag_callbacks.insert(0, self._on_points_press)
        elif isinstance(layer, Shapes):
            layer.events.data.connect(self._on_boxes_data)
        return layer

    def _add_points(self) -> Points:
        ndim = len(self.spec.display_axes)
        height, width = self.spec.frame_shape
        layer = self.viewer.add_points(
            np.empty((0, ndim)),
            ndim=ndim,
            name=f"{self.image_layer.name} SAM 2 clicks",
            features={"obj": np.empty(0, int), "positive": np.empty(0, bool)},
            size=max(4.0, min(height, width) / 40),
            border_width=0.15,
            out_of_slice_display=False,
            **self._geometry(),
        )
        layer.events.data.connect(self._on_points_data)
        layer.mouse_drag_callbacks.insert(0, self._on_points_press)
        self._set_point_defaults(layer)
        return layer

    def _add_boxes(self) -> Shapes:
        ndim = len(self.spec.display_axes)
        height, width = self.spec.frame_shape
        layer = self.viewer.add_shapes(
            ndim=ndim,
            name=f"{self.image_layer.name} SAM 2 boxes",
            features={"obj": np.empty(0, int)},
            face_color="transparent",
            edge_width=max(1.0, min(height, width) / 150),
            **self._geometry(),
        )
        layer.events.data.connect(self._on_boxes_data)
        return layer

    # ------------------------------------------------------------------ prompt modes
    def start_clicks(self) -> None:
        """Select the clicks layer in point-adding mode."""
        self.ensure_layers()
        self.viewer.layers.selection.active = self.points
        self.points.mode = "add"

    def start_boxes(self) -> None:
        """Select the boxes layer in rectangle-drawing mode."""
        self.ensure_layers()
        self.viewer.layers.selection.active = self.boxes
        self.boxes.mode = "add_rectangle"

    def start_painting(self) -> None:
        """Select the labels layer in paint mode with the active object's label."""
        self.ensure_layers()
        self.viewer.layers.selection.active = self.labels
        if self.controller.active is not None:
            self.labels.selected_label = self.controller.active
        self.labels.mode = "paint"

    def set_polarity(self, positive: bool) -> None:
        """The polarity of the next clicks (Shift+click gives the other one)."""
        self.positive = positive
        if self.points is not None:
            self._set_point_defaults(self.points)

    # ------------------------------------------------------------------ events: layers
    def _on_points_press(self, layer: Points, event: Any) -> None:
        """Remember the modifiers of a press; the point itself is added on release."""
        self._negative_click = "Shift" in event.modifiers

    def _on_points_data(self, event: Any) -> None:
        if self._busy or event.action not in _DONE:
            return
        if event.action == ActionType.ADDED:
            self._label_new_points(len(self.points.data) - 1)
        self.push()

    def _on_boxes_data(self, event: Any) -> None:
        if self._busy or event.action not in _DONE:
            return  # (a drawn box is ADDED once, at release, while still flagged as creating)
        if event.action == ActionType.ADDED:
            self._label_new_box(len(self.boxes.data) - 1)
        self.push()

    def _label_new_points(self, index: int) -> None:
        """A point the user just added belongs to the active object (one is made if none)."""
        if isinstance(self.spec.click_at(self.points.data[index]), str):
            return  # not on a tracked frame: push() removes it and says why
        if self.controller.active is None:
            self.controller.add_object()
        positive = self.positive != self._negative_click
        self._negative_click = False
        objs, polarity = self._point_features()
        objs[index], polarity[index] = self.controller.active, positive
        self.points.features = {"obj": objs, "positive": polarity}
        self._style_points()

    def _label_new_box(self, index: int) -> None:
        """A box just drawn belongs to the active object, and replaces its box on that frame."""
        if self.controller.active is None:
            self.controller.add_object()
        objs = self.boxes.features["obj"].to_numpy(int, na_value=0, copy=True)
        objs[index] = self.controller.active
        self.boxes.features = {"obj": objs}
        where = self.spec.frame_at(self.boxes.data[index][0])
        if isinstance(where, int):
            for other in range(len(self.boxes.data) - 1):
                same_obj = self.boxes.features["obj"].iloc[other] == self.controller.active
                if same_obj and self.spec.frame_at(self.boxes.data[other][0]) == where:
                    self._quietly(self.boxes.remove, [other])
                    break
        self._style_boxes()

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
        value = int(self.labels.selected_label)
        if value in self.controller.object_ids and value != self.controller.active:
            self.controller.set_active(value)

    def _on_layer_removed(self, event: Any) -> None:
        layer = event.value
        if same_layer(layer, self.labels):
            self.labels_removed.emit()

    # ------------------------------------------------------------------ layers -> controller
    def push(self) -> None:
        """Read every click and box and hand them to the controller as one edit."""
        if self.spec is None:
            return
        clicks: dict[tuple[int, int], tuple[list, list]] = {}
        boxes: dict[tuple[int, int], list[float]] = {}
        rejected: list[str] = []
        bad_points = []
        features = self.points.features if self.points is not None else None
        for i, coord in enumerate(self.points.data if self.points is not None else []):
            where = self.spec.click_at(coord)
            if isinstance(where, str):
                bad_points.append(i)
                rejected.append(where)
                continue
            frame, x, y = where
            key = (frame, int(features["obj"].iloc[i]))
            points, labels = clicks.setdefault(key, ([], []))
            points.append([x, y])
            labels.append(int(bool(features["positive"].iloc[i])))
        bad_boxes = []
        for i, vertices in enumerate(self.boxes.data if self.boxes is not None else []):
            where = self.spec.box_at(vertices)
            if isinstance(where, str):
                bad_boxes.append(i)
                rejected.append(where)
                continue
            frame, box = where
            boxes[(frame, int(self.boxes.features["obj"].iloc[i]))] = box
        if bad_points:
            self._quietly(self.points.remove, bad_points)
        if bad_boxes:
            self._quietly(self.boxes.remove, bad_boxes)
        for reason in dict.fromkeys(rejected):
            show_warning(f"SAM 2: {reason}; it was removed")
        self._busy = True
        try:
            self.controller.update_layer_prompts(clicks, boxes)
        finally:
            self._busy = False

    # ------------------------------------------------------------------ controller -> layers
    def _on_prompts_changed(self) -> None:
        if self._busy or self.spec is None:
            return
        if self.points is not None:
            self._rebuild_points()
        if self.boxes is not None:
            self._rebuild_boxes()

    def _rebuild_points(self) -> None:
        coords, objs, positive = [], [], []
        for prompt in self.controller.prompts:
            for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
                coords.append(self.spec.position(prompt.frame, x, y))
                objs.append(prompt.object)
                positive.append(bool(label))
        ndim = len(self.spec.display_axes)

        def rebuild() -> None:
            self.points.selected_data = set()
            self.points.data = np.reshape(np.asarray(coords, float), (-1, ndim))
            self.points.features = {"obj": np.asarray(objs, int), "positive": positive}
            self._style_points()

        self._quietly(rebuild)

    def _rebuild_boxes(self) -> None:
        shapes, objs = [], []
        for prompt in self.controller.prompts:
            if prompt.box is not None:
                x0, y0, x1, y1 = prompt.box
                corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
                shapes.append([self.spec.position(prompt.frame, x, y) for x, y in corners])
                objs.append(prompt.object)

        def rebuild() -> None:
            self.boxes.selected_data = set()
            self.boxes.data = []
            if shapes:
                self.boxes.add_rectangles(np.asarray(shapes, float))
            self.boxes.features = {"obj": np.asarray(objs, int)}
            self._style_boxes()

        self._quietly(rebuild)

    def _on_objects_changed(self) -> None:
        """Object colours: the labels colormap, the points and the boxes."""
        if self.labels is not None:
            colors: dict[int | None, Any] = {None: OTHER_LABELS, 0: (0, 0, 0, 0)}
            colors.update({o.id: o.color for o in self.controller.objects})
            self.labels.colormap = DirectLabelColormap(color_dict=colors)
        if self.points is not None:
            self._quietly(self._style_points)
            self._set_point_defaults(self.points)
        if self.boxes is not None:
            self._quietly(self._style_boxes)

    def _on_active_changed(self, obj_id: int | None) -> None:
        if obj_id is None:
            return
        if self.labels is not None and self.labels.selected_label != obj_id:
            self.labels.selected_label = obj_id
        if self.points is not None:
            self._set_point_defaults(self.points)
        if self.boxes is not None:
            self.boxes.feature_defaults = {"obj": obj_id}
            if not self.boxes.selected_data:
                self.boxes.current_edge_color = self._color(obj_id)

    # ------------------------------------------------------------------ styling
    def _color(self, obj_id: int) -> str:
        try:
            return self.controller.object(int(obj_id)).color
        except KeyError:
            return "#b3b3b3"

    def _point_features(self) -> tuple[np.ndarray, np.ndarray]:
        """The points' object ids and polarities as fresh arrays."""
        features = self.points.features
        objs = features["obj"].to_numpy(int, na_value=0, copy=True)
        positive = features["positive"].to_numpy(bool, na_value=True, copy=True)
        return objs, positive

    def _style_points(self) -> None:
        layer = self.points
        if layer is None or not len(layer.data):
            return
        objs, positive = self._point_features()
        layer.face_color = [self._color(o) for o in objs]
        layer.border_color = np.where(positive, POSITIVE_RIM, NEGATIVE_RIM).tolist()
        layer.symbol = np.where(positive, "disc", "x").tolist()

    def _style_boxes(self) -> None:
        layer = self.boxes
        if layer is None or not len(layer.data):
            return
        layer.edge_color = [self._color(o) for o in layer.features["obj"]]

    def _set_point_defaults(self, layer: Points) -> None:
        """What the next point looks like (napari's current_* setters also recolour the
        selected points, so they are left alone while points are selected)."""
        active = self.controller.active
        layer.feature_defaults = {"obj": active or 0, "positive": self.positive}
        if layer.selected_data:
            return
        if active is not None:
            layer.current_face_color = self._color(active)
        layer.current_border_color = POSITIVE_RIM if self.positive else NEGATIVE_RIM
        layer.current_symbol = "disc" if self.positive else "x"

    def _quietly(self, change, *args) -> None:
        """Change a layer without reading the change back as a user edit."""
        self._busy = True
        try:
            change(*args)
        finally:
            self._busy = False

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
