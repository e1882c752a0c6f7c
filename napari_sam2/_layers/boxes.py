"""The boxes layer: a napari Shapes layer of rectangles, one box per object and frame."""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Shapes
from napari.layers.base import ActionType

from napari_sam2._layers.clicks import EDITS
from napari_sam2._layers.common import PromptLayerPart, geometry
from napari_sam2._records import PromptKey

Boxes = dict[PromptKey, list[float]]


class BoxesLayer(PromptLayerPart):
    """Creates or finds the boxes layer of an image, styles it and reads it back (arguments:
    see :class:`~napari_sam2._layers.common.PromptLayerPart`).

    A box drawn for an object replaces that object's earlier box on the same frame.
    """

    kind = Shapes

    def name(self, image_layer: Any) -> str:
        return f"{image_layer.name} SAM 2 boxes"

    # ------------------------------------------------------------------ set up
    def _make(self, image_layer: Any) -> Shapes:
        ndim = len(self.spec.display_axes)
        height, width = self.spec.frame_shape
        return self.viewer.add_shapes(
            ndim=ndim,
            name=self.name(image_layer),
            features={"obj": np.empty(0, int)},
            face_color="transparent",
            edge_width=max(1.0, min(height, width) / 150),
            **geometry(image_layer, ndim),
        )

    def arm(self) -> None:
        """Select the layer in rectangle-drawing mode."""
        self.viewer.layers.selection.active = self.layer
        self.layer.mode = "add_rectangle"

    # ------------------------------------------------------------------ user edits
    def _on_data(self, event: Any) -> None:
        if self.quiet.active or event.action not in EDITS:
            return  # (a drawn box is ADDED once, at release, while still flagged as creating)
        if event.action == ActionType.ADDED:
            self._label_new_box(len(self.layer.data) - 1)
        self.on_edit()

    def _label_new_box(self, index: int) -> None:
        """A box just drawn belongs to the active object, and replaces its box on that frame."""
        if self.controller.active is None:
            self.controller.add_object()
        active = self.controller.active
        objs = self.layer.features["obj"].to_numpy(int, na_value=0, copy=True)
        objs[index] = active
        self.layer.features = {"obj": objs}
        where = self.spec.frame_at(self.layer.data[index][0])
        if isinstance(where, int):
            for other in range(len(self.layer.data) - 1):
                same_obj = self.layer.features["obj"].iloc[other] == active
                if same_obj and self.spec.frame_at(self.layer.data[other][0]) == where:
                    self.quiet.run(self.layer.remove, [other])
                    break
        self.restyle()

    def read(self) -> tuple[Boxes, list[str]]:
        """Every box as (frame, object) -> [x0, y0, x1, y1] (clipped to the frame), and why
        boxes that lie on no tracked frame were removed."""
        boxes: Boxes = {}
        rejected, bad = [], []
        if self.layer is None:
            return boxes, rejected
        for i, vertices in enumerate(self.layer.data):
            where = self.spec.box_at(vertices)
            if isinstance(where, str):
                bad.append(i)
                rejected.append(where)
                continue
            frame, box = where
            boxes[(frame, int(self.layer.features["obj"].iloc[i]))] = box
        if bad:
            self.quiet.run(self.layer.remove, bad)
        return boxes, rejected

    # ------------------------------------------------------------------ from the controller
    def rebuild(self) -> None:
        """Show the controller's boxes."""
        if self.layer is None:
            return
        shapes, objs = [], []
        for prompt in self.controller.prompts:
            if prompt.box is not None:
                x0, y0, x1, y1 = prompt.box
                corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
                shapes.append([self.spec.position(prompt.frame, x, y) for x, y in corners])
                objs.append(prompt.object)

        def rebuild() -> None:
            self.layer.selected_data = set()
            self.layer.data = []
            if shapes:
                self.layer.add_rectangles(np.asarray(shapes, float))
            self.layer.features = {"obj": np.asarray(objs, int)}
            self.restyle()

        self.quiet.run(rebuild)

    def restyle(self) -> None:
        """Edge colours from the objects."""
        layer = self.layer
        if layer is None or not len(layer.data):
            return
        with self.quiet():
            layer.edge_color = [self.controller.color_of(o) for o in layer.features["obj"]]

    def set_defaults(self) -> None:
        """The next box belongs to the active object, in its colour."""
        active = self.controller.active
        if self.layer is None or active is None:
            return
        self.layer.feature_defaults = {"obj": active}
        if not self.layer.selected_data:
            self.layer.current_edge_color = self.controller.color_of(active)
