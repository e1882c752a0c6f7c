"""Prompt section: place points or boxes, paint, and the polarity of the next points."""

from __future__ import annotations

from qtpy.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from napari_sam2._layers import TrackingLayers


class PromptSection(QGroupBox):
    """Buttons that select the clicks, boxes or labels layer in the right mode."""

    def __init__(self, layers: TrackingLayers, parent: QWidget | None = None) -> None:
        super().__init__("Prompts", parent)
        self.layers = layers
        self.points_button = QPushButton("Points")
        self.points_button.setToolTip("Click on the image: a point for the active object")
        self.box_button = QPushButton("Box")
        self.box_button.setToolTip("Drag a box around the active object (one box per frame)")
        self.paint_button = QPushButton("Paint")
        self.paint_button.setToolTip("Paint the active object's label by hand")
        self.polarity_button = QPushButton()
        self.polarity_button.setCheckable(True)
        self.polarity_button.setToolTip("The polarity of the next points")
        hint = QLabel("Shift+click: negative. Select a prompt, press Delete to drop it.")
        hint.setWordWrap(True)
        row = QHBoxLayout()
        for button in (self.points_button, self.box_button, self.paint_button):
            row.addWidget(button)
        polarity = QHBoxLayout()
        polarity.addWidget(self.polarity_button)
        polarity.addWidget(hint, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(polarity)

        self.points_button.clicked.connect(layers.start_clicks)
        self.box_button.clicked.connect(layers.start_boxes)
        self.paint_button.clicked.connect(layers.start_painting)
        self.polarity_button.toggled.connect(self._on_polarity)
        self._on_polarity(False)

    def _on_polarity(self, negative: bool) -> None:
        self.polarity_button.setText("− negative" if negative else "+ positive")
        self.layers.set_polarity(not negative)
