"""The SAM 2 tracking dock: small sections composed over one controller per viewer.

``TrackingWidget`` only wires things together, top-down: the viewer's controller
(:func:`~napari_sam2._controller.controller_for`), the job runner, the layer manager, the
sections, then the callbacks. Engine work never runs here: it goes through the runner's
workers; layers are written on the main thread when results arrive. Importing this module
does not import torch (the manifest points here).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari.utils.notifications import show_error, show_info, show_warning
from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QScrollArea, QTabWidget, QVBoxLayout, QWidget

from napari_sam2._controller import controller_for
from napari_sam2._image_spec import ImageSpecError
from napari_sam2._layers import TrackingLayers, same_layer
from napari_sam2._qt.confidence_section import ConfidenceSection
from napari_sam2._qt.corrections_section import CorrectionsSection
from napari_sam2._qt.image_section import ImageSection
from napari_sam2._qt.latency import DelayReport, EventLoopProbe
from napari_sam2._qt.lifetime import connect_while_alive
from napari_sam2._qt.lineage_section import LineageSection
from napari_sam2._qt.many_objects_section import ManyObjectsSection
from napari_sam2._qt.measure_section import MeasureSection
from napari_sam2._qt.model_section import ModelSection
from napari_sam2._qt.objects_section import ObjectsSection
from napari_sam2._qt.prompt_section import PromptSection
from napari_sam2._qt.propagate_section import PropagateSection, duration_text
from napari_sam2._qt.session_section import SessionSection, suggested_path
from napari_sam2._qt.workers import Job, runner_for
from napari_sam2._records import PluginInputError
from napari_sam2.session import SessionError, load_session, save_session
from napari_sam2.tracking.models import ModelChoice

if TYPE_CHECKING:
    import napari

log = logging.getLogger(__name__)

#: The narrowest the dock is laid out for: every section fits without cutting anything.
DOCK_MIN_WIDTH = 340

#: How long the user pauses (on a frame, after a job) before frames are prepared ahead.
PREFETCH_DELAY_MS = 400


class TrackingWidget(QWidget):
    """Dock widget: pick an image and a model, prompt objects, propagate, correct, export.

    Attributes:
        controller: the viewer's :class:`~napari_sam2._controller.TrackingController`.
        runner: the :class:`~napari_sam2._qt.workers.JobRunner` of its engine jobs.
        layers: the :class:`~napari_sam2._layers.TrackingLayers` it watches.
        last_delay: event-loop delay measured during the last job (None before any).
    """

    def __init__(self, napari_viewer: napari.viewer.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.controller = controller_for(napari_viewer)
        self.runner = runner_for(self.controller)
        self.layers = TrackingLayers(napari_viewer, self.controller)
        self.probe = EventLoopProbe(parent=self)
        self._prefetch_timer = QTimer(self)
        self._prefetch_timer.setSingleShot(True)
        self._prefetch_timer.setInterval(PREFETCH_DELAY_MS)
        self._prefetch_timer.timeout.connect(self.prepare_frames)
        self.last_delay: DelayReport | None = None
        self._tracked_layer: Any = None  # the image the controller's objects belong to
        image = self.controller.image
        if image is not None and image.name in napari_viewer.layers:  # a dock opened again
            self._tracked_layer = napari_viewer.layers[image.name]

        self.image_section = ImageSection(napari_viewer)
        self.model_section = ModelSection()
        self.objects_section = ObjectsSection(self.controller)
        self.many_section = ManyObjectsSection(napari_viewer, self.controller, self.layers)
        self.prompt_section = PromptSection(self.layers)
        self.propagate_section = PropagateSection(self.controller)
        self.corrections_section = CorrectionsSection(self.controller)
        self.confidence_section = ConfidenceSection(self.controller)
        self.session_section = SessionSection()
        self.session_section.suggest = self._suggest_path
        self._last_folder: Path | None = None
        self.measure_section = MeasureSection(self.controller, self.layers)
        self.lineage_section = LineageSection(self.controller, self.layers)
        self._lay_out()
        self._add_callbacks()
        if self.controller.model.injected:
            self.model_section.show_choice(self.controller.model)
        self.model_section.show_options(self.controller.options)
        self._on_image_choice()

    def _lay_out(self) -> None:
        track = QWidget()
        column = QVBoxLayout(track)
        column.setContentsMargins(2, 2, 2, 2)
        for section in (
            self.session_section,  # first: saving never needs scrolling
            self.image_section,
            self.model_section,
            self.objects_section,
            self.many_section,
            self.prompt_section,
            self.propagate_section,
            self.confidence_section,
            self.corrections_section,
            self.lineage_section,
        ):
            column.addWidget(section)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(track)
        self.tabs = QTabWidget()
        self.tabs.addTab(scroll, "Track")
        self.tabs.addTab(self.measure_section, "Measure")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.setMinimumWidth(DOCK_MIN_WIDTH)

    def _add_callbacks(self) -> None:
        ctrl = self.controller
        self.image_section.changed.connect(self._on_image_choice)
        self.model_section.choice_changed.connect(self._on_model_choice)
        self.model_section.options_changed.connect(self._on_options)
        self.model_section.prepare_check.toggled.connect(self._schedule_prefetch)
        self.model_section.load_requested.connect(self.load_model)
        self.objects_section.added.connect(self._arm_clicks)
        self.many_section.job_requested.connect(self._submit)
        self.propagate_section.propagate_requested.connect(self.propagate)
        self.propagate_section.cancel_requested.connect(self.runner.cancel)
        self.corrections_section.use_labels_requested.connect(self.use_painted_labels)
        self.session_section.save_requested.connect(self.save_session)
        self.session_section.load_requested.connect(self.load_session)
        self.session_section.export_requested.connect(self.export_labels)
        self.confidence_section.frame_clicked.connect(self.layers.go_to_frame)
        self.measure_section.frame_clicked.connect(self.layers.go_to_frame)
        self.lineage_section.frame_clicked.connect(self.layers.go_to_frame)
        for signal, slot in (
            (ctrl.model_changed, self._on_model_changed),
            (self.runner.busy_changed, self._on_busy),
            (self.runner.status, self.propagate_section.show_status),
            (self.runner.progress, self.propagate_section.show_progress),
            (self.runner.frames_ready, self.model_section.show_cache),
            (self.runner.job_finished, self._on_job_finished),
        ):
            connect_while_alive(self, signal, slot)
        self.layers.labels_removed.connect(self._on_labels_removed)
        self.viewer.dims.events.point.connect(self._on_dims)
        self.destroyed.connect(self.layers.close)

    # ------------------------------------------------------------------ image
    def _on_image_choice(self) -> None:
        """The image, its layout or the labels layer changed in the image section."""
        try:
            spec = self.image_section.spec()
        except ImageSpecError as exc:
            show_warning(f"SAM 2: {exc}")
            return
        layer = self.image_section.layer()
        if self.runner.busy:
            self.runner.cancel()
            show_info("SAM 2: the running job was stopped because the image choice changed")
        if same_layer(layer, self._tracked_layer):
            self.controller.set_image(spec)  # the same image, other layout choices
        else:
            self._switch_image(layer, spec)
        if spec is None:
            self.layers.detach()
            return
        try:
            self.layers.attach(layer, self.image_section.labels_layer())
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")
            self.layers.attach(layer)
        self.layers.labels.metadata["axes"] = spec.display_axes.replace("C", "")
        self._warn_about_layout(spec, layer)
        self._schedule_prefetch()

    def _switch_image(self, layer: Any, spec: Any) -> None:
        """The controller parks the previous image's work and brings back the new one's."""
        old = self._tracked_layer
        had_work = old is not None and bool(self.controller.objects or self.controller.prompts)
        if had_work and not any(same_layer(old, other) for other in self.viewer.layers):
            self.runner.cancel()
            QTimer.singleShot(0, partial(self._warn_image_removed, old.name))
        elif had_work:
            show_info(
                f"SAM 2: the objects and prompts of '{old.name}' are kept; pick it again to "
                "continue with them"
            )
        self._tracked_layer = layer
        self.layers.detach()  # the old image's layers stay as they are, no longer armed
        self.controller.switch_image(spec)

    def _warn_image_removed(self, name: str) -> None:
        """Said once the event loop runs again, and only if napari is not closing (closing
        removes every layer first)."""
        if len(self.viewer.layers):
            show_warning(
                f"SAM 2: the image layer '{name}' was removed: tracking stopped. Its objects and "
                "prompts are kept: open the image again (same layer name) to continue; the "
                "labels layer stays as it is."
            )

    def _warn_about_layout(self, spec: Any, layer: Any) -> None:
        if spec.axis is None:
            show_info(
                f"SAM 2: '{layer.name}' has no time or z axis: single-frame mode (clicks and "
                "boxes give masks; there is nothing to propagate)"
            )
        if not spec.rgb and spec.data.shape[-1] in (3, 4):
            show_warning(
                f"SAM 2: the last axis of '{layer.name}' has {spec.data.shape[-1]} entries, "
                "shown by napari as a slider: if it is an RGB image, tick 'rgb' in napari's "
                "layer controls; otherwise set the axes in the image section"
            )

    def _on_labels_removed(self) -> None:
        if self.runner.running_kind == "propagate":
            self.runner.cancel()
            show_warning(
                "SAM 2: the labels layer was removed while propagating: propagation stopped. "
                "Its finished frames are kept; it comes back when you propagate again."
            )

    # ------------------------------------------------------------------ model
    def _on_model_choice(self, choice: ModelChoice) -> None:
        self.controller.set_model(choice)

    def _on_options(self, changes: dict[str, Any]) -> None:
        try:
            self.controller.update_options(**changes)
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")

    def _on_model_changed(self) -> None:
        self.model_section.show_choice(self.controller.model)
        self.model_section.show_options(self.controller.options)
        self._schedule_prefetch()
        if self.runner.busy:
            show_info(
                "SAM 2: a job is running with the current model; the new model is used from "
                "the next step (press Cancel to stop the job now)"
            )

    def load_model(self) -> None:
        """Load the chosen model (and open the image) in a worker."""
        self._submit(
            Job("load", self.controller.load_plan, f"loading {self.controller.model.name}")
        )

    # ------------------------------------------------------------------ prompts and jobs
    def propagate(self) -> None:
        """Propagate from the current frame over the range, in the chosen direction(s)."""
        self.layers.ensure_layers()
        start = self.layers.current_frame()
        direction = self.controller.settings.direction
        self._submit(
            Job(
                "propagate",
                lambda: self.controller.propagation_plan(start),
                f"propagating {direction} from frame {start}",
            )
        )

    # ------------------------------------------------------------------ frames ahead
    def _schedule_prefetch(self, *_: Any) -> None:
        """Prepare frames around the shown one once the user has paused a moment."""
        self._prefetch_timer.start()

    def prepare_frames(self) -> None:
        """Encode the shown frame and its neighbours in the background (when nothing else
        runs and the model's weights are at hand); any user action stops it."""
        if not self.model_section.prepare_check.isChecked() or self.runner.busy:
            return
        if self.controller.image is None or self.layers.image_layer is None:
            return
        frame = self.layers.current_frame()
        self.runner.submit(
            Job("prefetch", lambda: self.controller.prefetch_plan(frame), "preparing frames")
        )

    def _arm_clicks(self) -> None:
        """A new object is clicked next: the clicks layer in adding mode."""
        if self.controller.image is not None and self.layers.image_layer is not None:
            self.layers.start_clicks()

    def use_painted_labels(self) -> None:
        """The active object's painted pixels on the current frame become its prompt."""
        try:
            note = self.controller.use_labels_as_prompt(self.layers.current_frame())
        except PluginInputError as exc:
            show_warning(f"SAM 2: {exc}")
            return
        if note:
            show_info(f"SAM 2: {note}")

    def _submit(self, job: Job) -> None:
        if self.controller.image is None:
            show_warning("SAM 2: pick an image layer first")
            return
        self.runner.submit(job)

    def _on_busy(self, busy: bool) -> None:
        self.propagate_section.set_busy(busy)
        if busy and not self.probe.running:
            self.probe.start()
        elif not busy and self.probe.running:
            self.probe.stop()

    def _on_job_finished(self, kind: str, completed: bool, seconds: float) -> None:
        """Say how the job ended; show the loaded model. The event-loop delay measured during
        the job is kept in :attr:`last_delay` (for benchmarks), not shown."""
        self.model_section.show_cache(*self.controller.feature_cache())
        if kind == "prefetch":
            if completed and self.controller.engine_ready():
                self._schedule_prefetch()  # the model is open now: encode frames next
            return
        self._schedule_prefetch()
        if kind == "segment" and self.many_section.track_after(completed):
            self.propagate()
        report = self.probe.stop() if self.probe.running else None
        self.last_delay = report or self.last_delay
        if report is not None:
            log.debug("SAM 2 %s job: %s", kind, report)
        loaded = self.controller.loaded_model()
        if loaded is not None:
            self.model_section.show_loaded(f"loaded: {loaded}")
        for note in self.controller.take_engine_notes():
            show_warning(f"SAM 2: {note}")
        if kind == "propagate":
            done, total = self.propagate_section.frames
            text = (
                f"propagation done: {total} frames in {duration_text(seconds)}"
                if completed
                else f"propagation stopped after {done} of {total} frames; the finished "
                "frames are kept"
            )
            self.propagate_section.show_status(text)
        else:
            self.propagate_section.show_status("" if completed else f"{kind} stopped")

    def _on_dims(self, event: Any = None) -> None:
        self._schedule_prefetch()
        frame = self.layers.current_frame()
        self.confidence_section.set_current_frame(frame)
        self.measure_section.set_current_frame(frame)

    # ------------------------------------------------------------------ session and export
    def _suggest_path(self, kind: str) -> str:
        image = self.controller.image
        name, path = (None, None) if image is None else (image.name, image.path)
        return suggested_path(name, path, self._last_folder, kind)

    def save_session(self, path: str) -> None:
        try:
            save_session(self.controller.to_session(), path)
        except (PluginInputError, OSError) as exc:
            show_error(f"SAM 2: the session was not saved: {exc}")
            return
        self._last_folder = Path(path).parent
        show_info(f"SAM 2: session saved to {path}")

    def load_session(self, path: str) -> None:
        """Load a session for the current image (its layout choices are applied first)."""
        self._last_folder = Path(path).parent
        try:
            session = load_session(path)
            current = self.image_section.spec()
            if current is None:
                raise PluginInputError("pick the image the session was made for first")
            current.check_made_for(session.source)
            spec = current.with_source(session.source)
            session.check_source(spec.num_frames, spec.frame_shape)
        except (SessionError, ImageSpecError, PluginInputError) as exc:
            show_error(f"SAM 2: the session was not loaded (nothing changed): {exc}")
            return
        self.image_section.apply_source(spec)
        self.controller.set_image(spec)
        self.layers.attach(self._tracked_layer, self.layers.labels)
        try:
            self.controller.load_session(session)
        except SessionError as exc:  # its settings or painted labels do not fit
            self.image_section.apply_source(current)
            self.controller.set_image(current)
            self.layers.attach(self._tracked_layer, self.layers.labels)
            show_error(f"SAM 2: the session was not loaded (nothing changed): {exc}")
            return
        self.model_section.show_choice(self.controller.model)
        count = len(session.prompts)
        show_info(
            f"SAM 2: loaded {count} prompts for {len(session.objects)} objects from "
            f"{Path(path).name}; press Propagate to track them"
        )

    def export_labels(self, path: str) -> None:
        """Save the labels layer as an ImageJ-compatible TIFF (the plugin's writer)."""
        from napari_sam2._writer import save_labels_tiff

        if self.layers.labels is None:
            show_warning("SAM 2: there are no labels to export yet")
            return
        try:
            written = save_labels_tiff(self.layers.labels, path)
        except (OSError, ValueError, TypeError) as exc:
            show_error(f"SAM 2: the labels were not exported: {exc}")
            return
        self._last_folder = Path(written).parent
        show_info(f"SAM 2: labels saved to {written}")

    # ------------------------------------------------------------------ teardown
    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Stop jobs and let go of the layers; objects and prompts stay with the viewer."""
        self.runner.cancel()
        if not self.runner.busy:
            self.controller.release_video()
        self.layers.close()
        self.viewer.dims.events.point.disconnect(self._on_dims)
        super().closeEvent(event)
