"""Divisions found while the dock propagates (issue #15): the job watches each tracked frame
and reports an object whose mask stays split, for the user to accept or dismiss."""

from __future__ import annotations

import numpy as np

from napari_sam2._engine_link import EngineLink, TrackedFrame, engine_key
from napari_sam2._image_spec import ImageSpec
from napari_sam2._jobs import run_plan
from napari_sam2._records import DivisionsFound, FrameResult, Plan
from napari_sam2.lineage import DivisionSettings
from napari_sam2.tracking.models import ModelChoice
from napari_sam2.tracking.plan import Pass
from sam2_engine.options import PredictorOptions


class SplittingEngine(EngineLink):
    """Object 3 tracked as one blob on frames 0-2, as two blobs from frame 3 on."""

    def ensure_state(self, image) -> bool:
        return False

    def propagate(self, passes, redetect=None, lineage=None):
        for frame in range(8):
            labels = np.zeros((32, 32), np.uint16)
            if frame < 3:
                labels[8:24, 8:24] = 3
            else:
                labels[8:24, 4:12] = labels[8:24, 20:28] = 3
            yield TrackedFrame(frame, [3], labels, {3: 1.0})


def test_a_split_lasting_three_frames_is_reported_once_with_its_parts() -> None:
    image = ImageSpec("cells", np.zeros((8, 32, 32), np.uint8), "TYX", "T")
    choice, options = ModelChoice("test"), PredictorOptions()
    engine = SplittingEngine()
    engine.model, engine.model_key = object(), engine_key(choice, options)
    plan = Plan(image, choice, options, 1, runs=[Pass(0, 7, False)])
    plan.divisions = DivisionSettings(min_area=20, frames=3)
    items = list(run_plan(engine, plan))
    found = [i for i in items if isinstance(i, DivisionsFound)]
    frames = [i.frame for i in items if isinstance(i, FrameResult)]
    assert frames == list(range(8))
    assert len(found) == 1 and items.index(found[0]) == frames.index(5) + 1  # 3 frames seen
    (event,) = found[0].events
    assert (event.parent, event.frame, event.areas) == (3, 3, (128, 128))
    assert set(np.unique(event.parts)) == {0, 1, 2}


def test_without_the_setting_nothing_is_watched() -> None:
    image = ImageSpec("cells", np.zeros((8, 32, 32), np.uint8), "TYX", "T")
    choice, options = ModelChoice("test"), PredictorOptions()
    engine = SplittingEngine()
    engine.model, engine.model_key = object(), engine_key(choice, options)
    items = list(run_plan(engine, Plan(image, choice, options, 1, runs=[Pass(0, 7, False)])))
    assert not any(isinstance(i, DivisionsFound) for i in items)
