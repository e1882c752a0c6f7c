"""The clicks layer: a napari Points layer of positive and negative prompts, per object.

Each point belongs to the frame it sits on and to an object (feature ``obj``), and is positive
or negative (feature ``positive``): positive points are discs with a white rim, negative ones
crosses with a red rim, both in the object's colour. Shift+click (or the dock's polarity
toggle) places a negative point. Coordinates: napari puts pixel centres at integers, SAM 2 at
half-integers, so a click's (x, y) is the napari position + 0.5 (see ``ImageSpec.click_at``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from napari.layers import Points
from napari.layers.base import ActionType

from napari_sam2._controller import TrackingController
from napari_sam2._layers.common import PromptLayerPart, Quiet, geometry
from napari_sam2._records import PromptKey

POSITIVE_RIM = "white"
NEGATIVE_RIM = "#ff2a2a"
EDITS = (ActionType.ADDED, ActionType.REMOVED, ActionType.CHANGED)

Clicks = dict[PromptKey, tuple[list[list[float]], list[int]]]


class ClicksLayer(PromptLayerPart):
    """Creates or finds the clicks layer of an image, styles it and reads it back (arguments:
    see :class:`~napari_sam2._layers.common.PromptLayerPart`)."""

    kind = Points

    def __init__(
        self, viewer: Any, controller: TrackingController, quiet: Quiet, on_edit: Callable
    ) -> None:
        super().__init__(viewer, controller, quiet, on_edit)
        self.positive = True
        self._negative_click = False

    def name(self, image_layer: Any) -> str:
        return f"{image_layer.name} SAM 2 clicks"

    # ------------------------------------------------------------------ set up
    def _make(self, image_layer: Any) -> Points:
        ndim = len(self.spec.display_axes)
        height, width = self.spec.frame_shape
        return self.viewer.add_points(
            np.empty((0, ndim)),
            ndim=ndim,
            name=self.name(image_layer),
            features={"obj": np.empty(0, int), "positive": np.empty(0, bool)},
            size=max(4.0, min(height, width) / 40),
            border_width=0.15,
            out_of_slice_display=False,
            **geometry(image_layer, ndim),
        )

    def _watch(self, layer: Points) -> None:
        super()._watch(layer)
        layer.mouse_drag_callbacks.insert(0, self._on_press)

    def detach(self) -> None:
        """Stop watching the layer (it stays in the viewer with its points)."""
        if self.layer is not None and self._on_press in self.layer.mouse_drag_callbacks:
            self.layer.mouse_drag_callbacks.remove(self._on_press)
        super().detach()

    def arm(self) -> None:
        """Select the layer in point-adding mode."""
        self.viewer.layers.selection.active = self.layer
        self.layer.mode = "add"

    def set_polarity(self, positive: bool) -> None:
        """The polarity of the next clicks (Shift+click gives the other one)."""
        self.positive = positive
        if self.layer is not None:
            self.set_defaults()

    # ------------------------------------------------------------------ user edits
    def _on_press(self, layer: Points, event: Any) -> None:
        """Remember the modifiers of a press; the point itself is added on release."""
        self._negative_click = "Shift" in event.modifiers

    def _on_data(self, event: Any) -> None:
        if self.quiet.active or event.action not in EDITS:
            return
        if event.action == ActionType.ADDED:
            self._label_new_point(len(self.layer.data) - 1)
        self.on_edit()

    def _label_new_point(self, index: int) -> None:
        """A point the user just added belongs to the active object (one is made if none)."""
        if isinstance(self.spec.click_at(self.layer.data[index]), str):
            return  # not on a tracked frame: reading the layer removes it and says why
        if self.controller.active is None:
            self.controller.add_object()
        positive = self.positive != self._negative_click
        self._negative_click = False
        objs, polarity = self._features()
        objs[index], polarity[index] = self.controller.active, positive
        self.layer.features = {"obj": objs, "positive": polarity}
        self.restyle()

    def read(self) -> tuple[Clicks, list[str]]:
        """Every click as (frame, object) -> ((x, y) points, 1/0 labels), and why points that
        lie on no tracked frame were removed."""
        clicks: Clicks = {}
        rejected, bad = [], []
        if self.layer is None:
            return clicks, rejected
        features = self.layer.features
        for i, coord in enumerate(self.layer.data):
            where = self.spec.click_at(coord)
            if isinstance(where, str):
                bad.append(i)
                rejected.append(where)
                continue
            frame, x, y = where
            points, labels = clicks.setdefault((frame, int(features["obj"].iloc[i])), ([], []))
            points.append([x, y])
            labels.append(int(bool(features["positive"].iloc[i])))
        if bad:
            self.quiet.run(self.layer.remove, bad)
        return clicks, rejected

    # ------------------------------------------------------------------ from the controller
    def rebuild(self) -> None:
        """Show the controller's clicks (after undo, a loaded session, a removed object)."""
        if self.layer is None:
            return
        coords, objs, positive = [], [], []
        for prompt in self.controller.prompts:
            for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
                coords.append(self.spec.position(prompt.frame, x, y))
                objs.append(prompt.object)
                positive.append(bool(label))
        ndim = len(self.spec.display_axes)

        def rebuild() -> None:
            self.layer.selected_data = set()
            self.layer.data = np.reshape(np.asarray(coords, float), (-1, ndim))
            self.layer.features = {"obj": np.asarray(objs, int), "positive": positive}
            self.restyle()

        self.quiet.run(rebuild)

    # ------------------------------------------------------------------ styling
    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        """The points' object ids and polarities as fresh arrays."""
        features = self.layer.features
        objs = features["obj"].to_numpy(int, na_value=0, copy=True)
        positive = features["positive"].to_numpy(bool, na_value=True, copy=True)
        return objs, positive

    def restyle(self) -> None:
        """Colours, rims and symbols from the objects and polarities."""
        layer = self.layer
        if layer is None or not len(layer.data):
            return
        objs, positive = self._features()
        with self.quiet():
            layer.face_color = [self.controller.color_of(o) for o in objs]
            layer.border_color = np.where(positive, POSITIVE_RIM, NEGATIVE_RIM).tolist()
            layer.symbol = np.where(positive, "disc", "x").tolist()

    def set_defaults(self) -> None:
        """What the next point looks like (napari's current_* setters also recolour the
        selected points, so they are left alone while points are selected)."""
        layer, active = self.layer, self.controller.active
        layer.feature_defaults = {"obj": active or 0, "positive": self.positive}
        if layer.selected_data:
            return
        if active is not None:
            layer.current_face_color = self.controller.color_of(active)
        layer.current_border_color = POSITIVE_RIM if self.positive else NEGATIVE_RIM
        layer.current_symbol = "disc" if self.positive else "x"
