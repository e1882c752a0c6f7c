"""Batch runs: the same kind of tracking job over many inputs, on a dask.distributed cluster.

A job is an input (anything ``open_frames`` reads, usually a path), its prompts (a session
file saved by the plugin, or the plain prompt structure of ``session_from_prompts``) and an
output label file (.tif, .tiff, .zarr or .ome.zarr). :func:`run` sends one task per job to a
cluster: a new ``LocalCluster`` by default, or any running scheduler by address (GPU workers
elsewhere)::

    from napari_sam2 import batch

    jobs = batch.load_jobs("jobs.json")
    results = batch.run(jobs, scheduler="tcp://10.0.0.5:8786", device="cuda")
    print(batch.format_summary(results))

Each job runs the tracking pipeline (:mod:`napari_sam2.tracking`) as ``track()`` does:
it replays the prompts, propagates forward from the first prompted frame and backward from the
frame before it, and writes the labels frame by frame to ``<output>.partial``, renamed to
``<output>`` when complete. On each worker the model is loaded once, for its first job, and
reused by the following jobs (the pipeline's model cache). A job that fails (unreadable input,
bad session, ...) is reported with its error and does not stop the others; frames it finished
stay in its ``<output>.partial``. A rerun skips the jobs whose output exists, unless
``overwrite`` (which replaces only outputs napari-sam2 wrote), and redoes the jobs that left a
partial. Workers of a remote cluster need napari-sam2 installed and must see the paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_sam2.session import Session, load_session, session_from_prompts
from napari_sam2.tracking.frame_options import FRAME_OPTION_NAMES, FrameOptions
from sam2_engine.constants import DEFAULT_MODEL
from sam2_engine.options import OptionsError, PredictorOptions, option_names
from sam2_engine.sinks import format_for

if TYPE_CHECKING:
    from sam2_engine import Sam2Config

__all__ = ["BatchError", "Job", "JobResult", "format_summary", "load_jobs", "run"]

_JOB_KEYS = {"name", "input", "output", "session", "prompts", "frame_options", "options"}


class BatchError(ValueError):
    """A job list or job that cannot be run as given."""


@dataclass
class Job:
    """One input to track and where its labels go.

    Attributes:
        input: a path (TIFF, zarr, image folder, video file) or an array, read lazily.
        output: the label file to write: ``.tif`` / ``.tiff`` (ImageJ), ``.zarr`` or
            ``.ome.zarr``.
        session: a session file (or ``Session``) whose prompts are replayed. Its recorded frame
            options (axes, axis, index, channel, contrast limits) and predictor options
            (precision...) apply unless the job gives them; its recorded image size is not
            enforced (a session serves as a template for many inputs), but every prompt must
            fit each input.
        prompts: instead of a session: object id -> frame -> ``{"points", "labels", "box"}``.
        frame_options: ``open_frames`` options for this input (``axes``, ``axis``, ``index``,
            ``channel``, ``contrast_limits``).
        options: predictor options for this job (``{"precision": "bf16"}``...; see
            ``sam2_engine.options.PredictorOptions``).
        name: shown in the summary; default the input's file name.
    """

    input: Any
    output: str | os.PathLike
    session: str | os.PathLike | Session | None = None
    prompts: Mapping | None = None
    frame_options: Mapping[str, Any] | None = None
    options: Mapping[str, Any] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if (self.session is None) == (self.prompts is None):
            raise BatchError(f"job {self.label}: give either a session or prompts (one of them)")
        try:
            format_for(self.output)
        except ValueError as err:
            raise BatchError(f"job {self.label}: {err}") from None
        unknown = set(self.frame_options or {}) - set(FRAME_OPTION_NAMES)
        if unknown:
            raise BatchError(
                f"job {self.label}: unknown frame options {sorted(unknown)} "
                f"(use {', '.join(FRAME_OPTION_NAMES)})"
            )
        unknown = set(self.options or {}) - set(option_names())
        if unknown:
            raise BatchError(
                f"job {self.label}: unknown options {sorted(unknown)} "
                f"(use {', '.join(option_names())})"
            )
        try:
            PredictorOptions.from_json(dict(self.options or {}))
        except OptionsError as err:
            raise BatchError(f"job {self.label}: {err}") from None

    @property
    def label(self) -> str:
        """The job's name in messages and the summary."""
        if self.name:
            return self.name
        if isinstance(self.input, (str, os.PathLike)):
            return Path(self.input).name
        return Path(self.output).name

    def load_session(self) -> Session:
        """The job's prompts as a session, with the recorded image size dropped and the job's
        frame options first."""
        if isinstance(self.session, Session):
            session = self.session
        elif self.session is not None:
            session = load_session(self.session)
        else:
            session = session_from_prompts(dict(self.prompts or {}))
        source = {k: v for k, v in session.source.items() if k != "shape"}
        return dataclasses.replace(session, source=source)

    def reading(self, session: Session) -> FrameOptions:
        """How this job's input is read: its own frame options, else the session's."""
        return FrameOptions.from_mapping(self.frame_options).or_else(
            FrameOptions.from_mapping(session.source)
        )


@dataclass
class JobResult:
    """What became of one job.

    Attributes:
        job: the job's name. output: its label file.
        status: ``"done"``, ``"failed"`` or ``"skipped"`` (the output existed).
        frames: frames written (None unless done).
        seconds: time spent on the job by its worker (loading the model included).
        error: ``"ErrorType: message"`` for a failed job.
        worker: the address of the worker that ran it.
        loaded_model: whether this job loaded the model (else it reused the worker's).
    """

    job: str
    output: Path
    status: str
    frames: int | None = None
    seconds: float = 0.0
    error: str | None = None
    worker: str | None = None
    loaded_model: bool = False


# --------------------------------------------------------------------------------------------
# Job lists
# --------------------------------------------------------------------------------------------


def load_jobs(path: str | os.PathLike) -> list[Job]:
    """Read a JSON job list: a list of objects with ``input``, ``output`` and ``session`` or
    ``prompts`` (and optionally ``name``, ``frame_options`` and ``options``). Relative paths
    are taken from the JSON file's folder::

        [{"input": "movies/a.tif", "session": "a.session.json", "output": "out/a.tif"},
         {"input": "movies/b.tif", "prompts": {"1": {"0": {"points": [[40, 30]]}}},
          "output": "out/b.zarr"}]

    Raises:
        BatchError: unreadable file, not a list, or a malformed entry (says which).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BatchError(f"job list not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BatchError(f"{path} is not a JSON job list: {err}") from None
    if not isinstance(data, list):
        raise BatchError(f"{path}: a job list is a JSON list of jobs, got {type(data).__name__}")
    base = path.parent
    jobs = []
    for number, entry in enumerate(data, start=1):
        where = f"{path}, job {number}"
        if not isinstance(entry, dict):
            raise BatchError(f"{where}: a job is an object with input, output and session/prompts")
        unknown = set(entry) - _JOB_KEYS
        missing = {"input", "output"} - set(entry)
        if unknown or missing:
            problem = f"unknown keys {sorted(unknown)}" if unknown else f"no {sorted(missing)}"
            raise BatchError(f"{where}: {problem} (keys: {', '.join(sorted(_JOB_KEYS))})")
        session = entry.get("session")
        try:
            jobs.append(
                Job(
                    input=_resolve(base, entry["input"]),
                    output=_resolve(base, entry["output"]),
                    session=None if session is None else _resolve(base, session),
                    prompts=entry.get("prompts"),
                    frame_options=entry.get("frame_options"),
                    options=entry.get("options"),
                    name=entry.get("name"),
                )
            )
        except (BatchError, TypeError) as err:
            raise BatchError(f"{where}: {err}") from None
    return jobs


def _resolve(base: Path, value: Any) -> Path:
    if not isinstance(value, str):
        raise BatchError(f"paths are strings, got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ModelSpec:
    """What every worker loads and how it tracks, checked before a cluster starts: the model,
    its checkpoint, and the predictor options given for every job (the others come from each
    job's session)."""

    model: str | Sam2Config
    checkpoint: str | None
    options: tuple[tuple[str, Any], ...]


def run(
    jobs: Iterable[Job],
    scheduler: Any = None,
    *,
    model: str | Sam2Config = DEFAULT_MODEL,
    checkpoint: str | os.PathLike | None = None,
    device: str = "cpu",
    n_workers: int = 2,
    threads_per_worker: int = 1,
    overwrite: bool = False,
    options: PredictorOptions | Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[JobResult]:
    """Run every job on a dask.distributed cluster, one task per job; returns their results in
    the order of ``jobs``.

    Arguments:
        jobs: the jobs (see :func:`load_jobs`).
        scheduler: None for a new ``LocalCluster`` of ``n_workers`` processes with
            ``threads_per_worker`` threads each (closed at the end); a scheduler address
            (``"tcp://host:8786"``) or a cluster object to connect to; or a ``Client``.
        model: a model name (``sam2_engine.MODEL_NAMES``) or a ``Sam2Config``.
        checkpoint: the weights file, as the workers see it; None: each worker's model cache.
        device: where the workers run the model (``"cpu"``, ``"cuda"``, ``"auto"``...).
        overwrite: redo jobs whose output exists (otherwise they are skipped); only outputs
            napari-sam2 wrote are ever replaced.
        options: predictor options for every job (``PredictorOptions`` or its JSON form, e.g.
            ``{"image_size": 512, "precision": "bf16"}``); a job's own ``options`` and its
            session's recorded ones come first.
        progress: a tqdm bar over the jobs.

    Raises:
        ValueError: unknown model name or bad option (before anything starts).
        BatchError: ``jobs`` holds something that is not a :class:`Job`.
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    for job in jobs:
        if not isinstance(job, Job):
            raise BatchError(f"jobs must be batch.Job objects, got {type(job).__name__}")
    spec = _model_spec(model, checkpoint, device, options)
    if not jobs:
        return []
    with _connect(scheduler, n_workers, threads_per_worker) as client:
        from distributed import as_completed

        futures = client.map(_run_job, jobs, spec=spec, overwrite=overwrite, pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        results: list[JobResult | None] = [None] * len(jobs)
        try:
            with tqdm(total=len(jobs), desc="batch", unit="job", disable=not progress) as bar:
                for future in as_completed(futures):
                    i = index[future.key]
                    results[i] = _collect(future, jobs[i])
                    bar.update()
        except BaseException:
            client.cancel(futures)
            raise
    return results  # type: ignore[return-value] - every slot is filled by now


def _model_spec(model: str | Sam2Config, checkpoint: Any, device: str, options: Any) -> _ModelSpec:
    """The model to load and the options, checked here (before a cluster starts)."""
    from napari_sam2.tracking.models import model_config

    if isinstance(options, PredictorOptions):
        given = options.to_json()
    else:
        given = dict(options or {})
        PredictorOptions.from_json(given)  # unknown or bad options fail now
    given["device"] = device
    checked = PredictorOptions().updated(**given)
    model_config(model, checked.image_size)  # an unknown name fails now, listing the names
    path = None if checkpoint is None else str(Path(checkpoint).expanduser().absolute())
    return _ModelSpec(model, path, tuple(sorted(given.items())))


@contextlib.contextmanager
def _connect(scheduler: Any, n_workers: int, threads_per_worker: int) -> Iterator[Any]:
    """A client: of a new local cluster, of ``scheduler``, or ``scheduler`` itself."""
    try:
        from distributed import Client, LocalCluster
    except ModuleNotFoundError:
        raise BatchError(
            'batch runs need dask.distributed: pip install "napari-sam2[batch]"'
        ) from None

    if isinstance(scheduler, Client):
        yield scheduler
    elif scheduler is None:
        with (
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                processes=True,
                dashboard_address=":0",  # any free port: no clash with other clusters
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        with Client(scheduler) as client:
            yield client


def _collect(future: Any, job: Job) -> JobResult:
    """A finished task's result; a task that died outside the job (a lost worker, a package
    missing on the worker) becomes a failed result."""
    if future.status == "finished":
        return future.result()
    error = future.exception()
    return JobResult(job.label, Path(job.output), "failed", error=_message(error))


def _message(error: BaseException) -> str:
    notes = "".join(f" ({note})" for note in getattr(error, "__notes__", ()))
    return f"{type(error).__name__}: {error}{notes}"


# --------------------------------------------------------------------------------------------
# On the workers
# --------------------------------------------------------------------------------------------


def _run_job(job: Job, spec: _ModelSpec, overwrite: bool) -> JobResult:
    """One job, on a worker; never raises for a job's own failure. The worker process keeps
    the model in the pipeline's cache for its next jobs."""
    from distributed import get_worker

    from napari_sam2.tracking import Tracking, TrackingJob, session_options
    from sam2_engine.publish import check_not_input, partial_path
    from sam2_engine.sinks import check_output, open_sink

    start = time.perf_counter()
    worker = get_worker()
    output = Path(job.output)

    def result(status: str, **fields: Any) -> JobResult:
        seconds = time.perf_counter() - start
        return JobResult(
            job.label, output, status, seconds=seconds, worker=worker.address, **fields
        )

    loaded = False
    try:
        check_not_input(output, [job.input])
        if output.exists() and not overwrite:
            return result("skipped")
        # an interrupted run's partial is this job's unfinished output: a rerun redoes it
        overwrite = overwrite or partial_path(output).exists()
        output.parent.mkdir(parents=True, exist_ok=True)
        check_output(output, overwrite, inputs=[job.input])  # before the model loads
        session = job.load_session()
        given = {**dict(spec.options), **dict(job.options or {})}
        tracking = TrackingJob(
            job.input,
            session,
            model=spec.model,
            checkpoint=spec.checkpoint,
            options=session_options(session, **given),
            frame_options=job.reading(session),
            direction="both",
            show_download=False,
        )
        with Tracking(tracking) as run:
            loaded = run.loaded_model_now
            sink = open_sink(
                output,
                run.shape,
                run.label_dtype,
                overwrite=overwrite,
                inputs=[job.input],
                info=run.info,
                source=run.read_frame,
            )
            with sink:
                run.write(sink)
    except Exception as error:
        return result("failed", error=_message(error), loaded_model=loaded)
    return result("done", frames=run.shape[0], loaded_model=loaded)


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def format_summary(results: Iterable[JobResult]) -> str:
    """A plain-text table: job, frames, seconds, status (and the error of failed jobs), then
    the totals."""
    results = list(results)
    rows = [("job", "frames", "seconds", "status", "message")]
    for r in results:
        frames = "-" if r.frames is None else str(r.frames)
        message = (r.error or "").splitlines()[0] if r.error else ""
        rows.append((r.job, frames, f"{r.seconds:.1f}", r.status, message))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].rjust(widths[2])]
        lines.append("  ".join([*cells, row[3].ljust(widths[3]), row[4]]).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    counts = {s: sum(r.status == s for r in results) for s in ("done", "failed", "skipped")}
    total = sum(r.seconds for r in results)
    lines.append(
        f"{len(results)} jobs: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['skipped']} skipped ({total:.1f} s of work)"
    )
    return "\n".join(lines)
