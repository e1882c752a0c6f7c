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
    """Scale and translation of a layer drawn over ``image_layer`` with ``ndim`` dimensions."""
    return {
        "scale": tuple(image_layer.scale)[-ndim:],
        "translate": tuple(image_layer.translate)[-ndim:],
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
