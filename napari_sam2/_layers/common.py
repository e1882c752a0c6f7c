"""What the layer parts share: telling layers apart, and changing them without echoes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def same_layer(a: Any, b: Any) -> bool:
    """Whether two references are the same layer. napari hands plugins its objects wrapped in
    proxies (a new one on every access), so ``is`` cannot tell."""
    return a is not None and getattr(a, "__wrapped__", a) is getattr(b, "__wrapped__", b)


def in_viewer(viewer: Any, layer: Any) -> bool:
    """Whether ``layer`` is one of the viewer's layers."""
    return any(same_layer(layer, other) for other in viewer.layers)


def find_layer(viewer: Any, kind: type, name: str) -> Any:
    """The viewer's layer called ``name`` if it is a ``kind``, else None."""
    layer = viewer.layers[name] if name in viewer.layers else None  # noqa: SIM401
    return layer if isinstance(layer, kind) else None


def geometry(image_layer: Any, ndim: int) -> dict[str, Any]:
    """Scale, translation, axis names and units of a layer drawn over ``image_layer`` with
    ``ndim`` dimensions."""
    return {
        "scale": tuple(image_layer.scale)[-ndim:],
        "translate": tuple(image_layer.translate)[-ndim:],
        "axis_labels": tuple(image_layer.axis_labels)[-ndim:],
        "units": tuple(image_layer.units)[-ndim:],
    }


class Quiet:
    """A flag the parts share: while the plugin itself changes a layer, the layer events it
    causes are not read back as user edits."""

    def __init__(self) -> None:
        self.active = False

    @contextmanager
    def __call__(self) -> Iterator[None]:
        self.active, before = True, self.active
        try:
            yield
        finally:
            self.active = before

    def run(self, change: Callable[..., Any], *args: Any) -> None:
        """Make one change quietly."""
        with self():
            change(*args)


class PromptLayerPart:
    """What the clicks and boxes parts share: the viewer, the session, the quiet flag, and
    the layer they watch (its data events read back as user edits).

    Arguments:
        viewer: the napari viewer.
        controller: the session (objects, the active object, the prompts).
        quiet: the flag shared with the other layer parts.
        on_edit: called after the user added, moved or deleted a prompt.
    """

    #: the napari layer class of the part
    kind: type = object

    def __init__(self, viewer: Any, controller: Any, quiet: Quiet, on_edit: Callable[[], None]):
        self.viewer = viewer
        self.controller = controller
        self.quiet = quiet
        self.on_edit = on_edit
        self.layer: Any = None

    @property
    def spec(self) -> Any:
        return self.controller.image

    def name(self, image_layer: Any) -> str:
        raise NotImplementedError

    def attach(self, image_layer: Any) -> None:
        """Use the image's existing layer of this kind, if any (else ``ensure`` makes one)."""
        layer = find_layer(self.viewer, self.kind, self.name(image_layer))
        if layer is not None and layer.ndim == len(self.spec.display_axes):
            self._watch(layer)

    def missing(self) -> bool:
        """Whether the layer has to be made (again)."""
        return self.layer is None or not in_viewer(self.viewer, self.layer)

    def _watch(self, layer: Any) -> None:
        self.detach()
        self.layer = layer
        layer.events.data.connect(self._on_data)

    def ensure(self, image_layer: Any, needed: bool) -> bool:
        """Make the layer if it is ``needed`` and missing, or remake it if the user removed it;
        True if it was remade."""
        if not self.missing() or (self.layer is None and not needed):
            return False
        existed = self.layer is not None
        self._watch(self._make(image_layer))
        self.set_defaults()
        self.rebuild()
        return existed

    def _make(self, image_layer: Any) -> Any:
        raise NotImplementedError

    def detach(self) -> None:
        """Stop watching the layer (it stays in the viewer with its prompts, no longer in an
        adding mode, so that clicks meant for another image cannot land in it)."""
        if self.layer is not None:
            self.layer.events.data.disconnect(self._on_data)
            if self.layer.mode != "pan_zoom":
                self.layer.mode = "pan_zoom"
        self.layer = None

    def _on_data(self, event: Any) -> None:
        raise NotImplementedError
