"""What an engine job does: the passes a propagation makes, and the job run in a worker (Qt-free).

The controller fixes a :class:`~napari_sam2._records.Plan` on the main thread
(:func:`propagation_range` and :func:`propagation_notes`, with the pipeline's
:func:`~napari_sam2.tracking.plan.plan`, make a propagation's part); :func:`run_plan` carries
it out in a worker thread, touching only the engine and the plan, and yields what the main
thread handles: frame results, status lines and download progress.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from napari_sam2._engine_link import DownloadProgress, EngineLink, engine_key, set_torch_threads
from napari_sam2._records import FrameResult, JobStatus, Plan, PluginInputError, Settings
from napari_sam2.session import FramePrompt


def propagation_range(settings: Settings, num_frames: int, start: int) -> tuple[int, int]:
    """The (first, last) frames a propagation from ``start`` may write: the settings' frame
    range, clipped to the image's ``num_frames``.

    Raises:
        PluginInputError: the range is empty, or ``start`` lies outside it.
    """
    last_frame = num_frames - 1
    last = last_frame if settings.last_frame is None else settings.last_frame
    first = max(0, settings.first_frame)
    last = min(last, last_frame)
    if first > last:
        raise PluginInputError(f"the frame range {first}-{last} is empty")
    if not first <= start <= last:
        raise PluginInputError(
            f"the current frame {start} is outside the frame range {first}-{last}: move "
            "to a frame inside it, or widen the range"
        )
    return first, last


def propagation_notes(
    prompts: Collection[FramePrompt], object_ids: Iterable[int], first: int, last: int
) -> list[str]:
    """Messages for the user about a propagation over first..last with these prompts."""
    notes = []
    outside = sorted({p.frame for p in prompts if not first <= p.frame <= last})
    if outside:
        notes.append(
            f"prompts on frames {_frames_text(outside)} lie outside the range "
            f"{first}-{last}: they still guide tracking, but those frames are not written"
        )
    untracked = [obj for obj in object_ids if not any(p.object == obj for p in prompts)]
    if untracked:
        notes.append(
            f"objects {', '.join(map(str, untracked))} have no prompts and are not tracked"
        )
    return notes


def run_plan(
    engine: EngineLink, plan: Plan
) -> Iterator[FrameResult | JobStatus | DownloadProgress | None]:
    """Carry out a plan: load the model, send prompts, propagate. Runs in a worker."""
    set_torch_threads(plan.threads)
    if engine.model is None or engine.model_key != engine_key(plan.model, plan.options):
        yield JobStatus(f"loading {plan.model.name}")
        yield from engine.load(plan.model, plan.options)
    if engine.ensure_state(plan.image):
        yield JobStatus(f"opened {plan.image.name}")
    key = plan.image.key
    for item in plan.items:
        if item.prompt is not None and not engine.frame_is_encoded(item.frame):
            yield JobStatus(f"encoding frame {item.frame}")
        outcome = engine.apply(item.frame, item.obj, item.prompt, item.keep_object)
        scores = {} if outcome.score is None else {item.obj: outcome.score}
        yield FrameResult(
            "prompt", item.frame, key, item.token, item.write, obj=item.obj,
            mask=outcome.mask, scores=scores,
        )  # fmt: skip
    for tracked in engine.propagate(plan.runs):
        yield FrameResult(
            "propagate", tracked.frame, key, plan.token, True, labels=tracked.labels,
            obj_ids=tuple(tracked.obj_ids), scores=tracked.scores, overwrite=plan.overwrite,
        )  # fmt: skip


def _frames_text(frames: list[int], limit: int = 8) -> str:
    text = ", ".join(map(str, frames[:limit]))
    return text + (f" and {len(frames) - limit} more" if len(frames) > limit else "")
