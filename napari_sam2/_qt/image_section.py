"""Image section: which layer, its axes, the propagation axis, the other index, the channel and
the labels layer to write to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from napari.layers import Image, Labels
from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox, QWidget

from napari_sam2._image_spec import ImageSpec, ImageSpecError, propose_axes

if TYPE_CHECKING:
    import napari

NEW_LABELS = "new labels layer"


class ImageSection(QGroupBox):
    """Picks the image layer and how it is read; emits ``changed`` when any choice changes.

    ``spec()`` turns the choices into an :class:`~napari_sam2._image_spec.ImageSpec`.
    """

    changed = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__("Image", parent)
        self.viewer = viewer
        self.layer_box = QComboBox()
        self.axes_edit = QLineEdit()
        self.axes_edit.setToolTip(
            "One letter per dimension of the image: T time, Z depth, C channel, Y, X "
            "(an RGB layer ends in C)"
        )
        self.axis_box = QComboBox()
        self.axis_box.setToolTip("The axis to propagate along")
        self.index_spin = QSpinBox()
        self.index_spin.setToolTip("Where on the other axis tracking runs (4-D images)")
        self.channel_box = QComboBox()
        self.channel_box.setToolTip("The channel(s) the model sees")
        self.labels_box = QComboBox()
        self.labels_box.setToolTip("The Labels layer results go to (same shape as the image)")

        for box in (self.layer_box, self.labels_box):  # long layer names: cut, not widened
            box.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            box.setMinimumContentsLength(14)
        form = QFormLayout(self)
        form.addRow("layer", self.layer_box)
        form.addRow("axes", self.axes_edit)
        form.addRow("track along", self.axis_box)
        form.addRow("at", self.index_spin)
        form.addRow("channel", self.channel_box)
        form.addRow("labels", self.labels_box)
        self._form = form

        self._refresh_layers()
        viewer.layers.events.inserted.connect(self._refresh_layers)
        viewer.layers.events.removed.connect(self._refresh_layers)
        viewer.layers.events.moved.connect(self._refresh_layers)
        self.layer_box.currentIndexChanged.connect(self._on_layer)
        self.axes_edit.editingFinished.connect(self._on_axes)
        for box in (self.axis_box, self.channel_box, self.labels_box):
            box.currentIndexChanged.connect(self._on_option)
        self.index_spin.valueChanged.connect(self._on_option)
        self._on_layer()

    # ------------------------------------------------------------------ reading the choices
    def layer(self) -> Image | None:
        name = self.layer_box.currentText()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401
        return layer if isinstance(layer, Image) else None

    def labels_layer(self) -> Labels | None:
        name = self.labels_box.currentText()
        layer = self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401
        return layer if isinstance(layer, Labels) else None

    def spec(self) -> ImageSpec | None:
        """The current choices as a spec (None without an image).

        Raises:
            ImageSpecError: the choices do not fit the image (the message says how).
        """
        layer = self.layer()
        if layer is None:
            return None
        axes = self.axes_edit.text().strip().upper()
        axis = self.axis_box.currentData()
        others = [a for a in axes if a not in "YXC" and a != axis]
        index = {others[0]: self.index_spin.value()} if others else {}
        limits = (
            None if layer.dtype.kind == "u" and layer.dtype.itemsize == 1 else layer.contrast_limits
        )
        source = getattr(layer, "source", None)
        path = getattr(source, "path", None)
        return ImageSpec(
            name=layer.name,
            data=layer.data,
            axes=axes,
            axis=axis,
            index=index,
            channel=self.channel_box.currentData(),
            rgb=bool(layer.rgb),
            contrast_limits=None if limits is None else tuple(float(v) for v in limits),
            path=None if path is None else str(path),
            sample=getattr(source, "sample", None),
        )

    def apply_source(self, spec: ImageSpec) -> None:
        """Show a spec's choices (from a loaded session) without emitting ``changed``."""
        self.blockSignals(True)
        try:
            self.axes_edit.setText(spec.axes)
            self._fill_options(spec.axes)
            self._select(self.axis_box, spec.axis)
            if spec.index:
                self.index_spin.setValue(next(iter(spec.index.values())))
            self._select(self.channel_box, spec.channel)
        finally:
            self.blockSignals(False)

    # ------------------------------------------------------------------ events
    def _refresh_layers(self, event: Any = None) -> None:
        images = [layer.name for layer in self.viewer.layers if isinstance(layer, Image)]
        labels = [layer.name for layer in self.viewer.layers if isinstance(layer, Labels)]
        for box, names in ((self.layer_box, images), (self.labels_box, [NEW_LABELS, *labels])):
            current = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItems(names)
            if current in names:
                box.setCurrentText(current)
            box.blockSignals(False)
        if self.layer_box.currentText() != getattr(self, "_shown_layer", None):
            self._on_layer()

    def _on_layer(self) -> None:
        layer = self.layer()
        self._shown_layer = self.layer_box.currentText()
        if layer is None:
            self.axes_edit.setText("")
            self._fill_options("")
        else:
            try:
                axes = propose_axes(
                    layer.data.shape,
                    rgb=bool(layer.rgb),
                    metadata_axes=layer.metadata.get("axes"),
                    axis_labels=getattr(layer, "axis_labels", ()),
                )
            except ImageSpecError:
                axes = ""
            self.axes_edit.setText(axes)
            self._fill_options(axes)
            self._pick_labels_for(layer)
        self.changed.emit()

    def _on_axes(self) -> None:
        self._fill_options(self.axes_edit.text().strip().upper())
        self.changed.emit()

    def _on_option(self) -> None:
        self.changed.emit()

    # ------------------------------------------------------------------ helpers
    def _fill_options(self, axes: str) -> None:
        """Offer the axes, index and channels the typed axes allow."""
        layer = self.layer()
        shape = layer.data.shape if layer is not None else ()
        sizes = dict(zip(axes, shape, strict=False))
        widgets = (self.axis_box, self.channel_box, self.index_spin)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.axis_box.clear()
            for letter in "TZ":
                if letter in sizes:
                    self.axis_box.addItem(letter, letter)
            if not self.axis_box.count():
                self.axis_box.addItem("single frame", None)
            others = [a for a in axes if a not in "YXC" and a != self.axis_box.currentData()]
            self._show_row(self.index_spin, bool(others))
            if others:
                self._form.labelForField(self.index_spin).setText(f"at {others[0]} =")
                self.index_spin.setRange(0, max(0, sizes[others[0]] - 1))
            self.channel_box.clear()
            if "C" in sizes:
                if sizes["C"] in (3, 4):
                    self.channel_box.addItem("RGB (0, 1, 2)", (0, 1, 2))
                for c in range(sizes["C"]):
                    self.channel_box.addItem(f"{c} (gray)", c)
            self._show_row(self.channel_box, "C" in sizes)
        finally:
            for widget in widgets:
                widget.blockSignals(False)

    def _pick_labels_for(self, layer: Image) -> None:
        own = f"{layer.name} SAM 2 labels"
        self.labels_box.blockSignals(True)
        self.labels_box.setCurrentText(own if own in self.viewer.layers else NEW_LABELS)
        self.labels_box.blockSignals(False)

    def _show_row(self, field: QWidget, visible: bool) -> None:
        field.setVisible(visible)
        self._form.labelForField(field).setVisible(visible)

    @staticmethod
    def _select(box: QComboBox, data: Any) -> None:
        for i in range(box.count()):
            if box.itemData(i) == data:
                box.setCurrentIndex(i)
                return
