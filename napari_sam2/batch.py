"""Batch runs: the same kind of tracking job over many inputs, on a dask.distributed cluster.

A job is an input (anything ``open_frames`` reads, usually a path), its prompts (a session
file saved by the plugin, or the plain prompt structure of ``session_from_prompts``) and an
output label file (.tif, .tiff or .zarr). :func:`run` sends one task per job to a cluster: a
new ``LocalCluster`` by default, or any running scheduler by address (GPU workers elsewhere)::

    from napari_sam2 import batch

    jobs = batch.load_jobs("jobs.json")
    results = batch.run(jobs, scheduler="tcp://10.0.0.5:8786", device="cuda")
    print(batch.format_summary(results))

On each worker the model is loaded once, for its first job, and reused by the following jobs
(a cache per worker, keyed by model, checkpoint and device). A job replays its prompts,
propagates forward from the first prompted frame and backward from it, and writes the labels
frame by frame to ``<output>.partial``, renamed to ``<output>`` when complete. A job that fails
(unreadable input, bad session, ...) is reported with its error and does not stop the others;
its partial output is removed. A rerun skips the jobs whose output exists, unless
``overwrite``. Workers of a remote cluster need napari-sam2 installed and must see the paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import json
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_sam2.session import Session, load_session, session_from_prompts

if TYPE_CHECKING:
    from sam2_engine import Sam2Config

__all__ = ["BatchError", "Job", "JobResult", "format_summary", "load_jobs", "run"]

DEFAULT_MODEL = "sam2.1_hiera_tiny"
OUTPUT_SUFFIXES = (".tif", ".tiff", ".zarr")
PARTIAL_SUFFIX = ".partial"
#: Frame options a session records and a job may set (see ``open_frames``).
FRAME_OPTIONS = ("axes", "axis", "index", "channel", "contrast_limits")
_JOB_KEYS = {"name", "input", "output", "session", "prompts", "frame_options"}


class BatchError(ValueError):
    """A job list or job that cannot be run as given."""


@dataclass
class Job:
    """One input to track and where its labels go.

    Attributes:
        input: a path (TIFF, zarr, image folder, video file) or an array, read lazily.
        output: the label file to write: ``.tif`` / ``.tiff`` (ImageJ) or ``.zarr``.
        session: a session file (or ``Session``) whose prompts are replayed. Its recorded frame
            options (axes, axis, index, channel, contrast limits) apply unless
            ``frame_options`` gives them; its recorded image size is not enforced (a session
            serves as a template for many inputs), but every prompt must fit each input.
        prompts: instead of a session: object id -> frame -> ``{"points", "labels", "box"}``.
        frame_options: ``open_frames`` options for this input (``axes``, ``axis``, ``index``,
            ``channel``, ``contrast_limits``).
        name: shown in the summary; default the input's file name.
    """

    input: Any
    output: str | os.PathLike
    session: str | os.PathLike | Session | None = None
    prompts: Mapping | None = None
    frame_options: Mapping[str, Any] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if (self.session is None) == (self.prompts is None):
            raise BatchError(f"job {self.label}: give either a session or prompts (one of them)")
        if self.output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise BatchError(
                f"job {self.label}: cannot write labels to {self.output.name}; the output must "
                f"end in {', '.join(OUTPUT_SUFFIXES)}"
            )
        unknown = set(self.frame_options or {}) - set(FRAME_OPTIONS)
        if unknown:
            raise BatchError(
                f"job {self.label}: unknown frame options {sorted(unknown)} "
                f"(use {', '.join(FRAME_OPTIONS)})"
            )

    @property
    def label(self) -> str:
        """The job's name in messages and the summary."""
        if self.name:
            return self.name
        if isinstance(self.input, (str, os.PathLike)):
            return Path(self.input).name
        return Path(self.output).name

    def load_session(self) -> Session:
        """The job's prompts as a session, with the recorded image size dropped."""
        if isinstance(self.session, Session):
            session = self.session
        elif self.session is not None:
            session = load_session(self.session)
        else:
            session = session_from_prompts(dict(self.prompts or {}))
        source = {k: v for k, v in session.source.items() if k != "shape"}
        return dataclasses.replace(session, source=source)

    def open_options(self, session: Session) -> dict[str, Any]:
        """``open_frames`` options: the job's own, else those the session recorded."""
        given = dict(self.frame_options or {})
        options = {}
        for name in FRAME_OPTIONS:
            value = given.get(name, session.source.get(name))
            if value is not None:
                options[name] = tuple(value) if name == "contrast_limits" else value
        return options


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
    ``prompts`` (and optionally ``name`` and ``frame_options``). Relative paths are taken from
    the JSON file's folder::

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
    """What a worker loads: hashable, so it keys the worker's cache."""

    config: Sam2Config
    checkpoint: str | None
    device: str


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
    model_options: Mapping[str, Any] | None = None,
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
        overwrite: redo jobs whose output exists (otherwise they are skipped).
        model_options: ``Sam2Config`` fields to change, e.g. ``{"image_size": 512}``: a
            smaller input is much faster and less accurate (the weights were trained at 1024).
        progress: a tqdm bar over the jobs.

    Raises:
        ValueError: unknown model name or model option (before anything starts).
        BatchError: ``jobs`` holds something that is not a :class:`Job`.
    """
    from tqdm.auto import tqdm

    jobs = list(jobs)
    for job in jobs:
        if not isinstance(job, Job):
            raise BatchError(f"jobs must be batch.Job objects, got {type(job).__name__}")
    spec = _model_spec(model, checkpoint, device, model_options)
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


def _model_spec(
    model: str | Sam2Config, checkpoint: Any, device: str, options: Mapping[str, Any] | None
) -> _ModelSpec:
    """The model to load, checked here (before a cluster starts)."""
    from sam2_engine import Sam2Config, get_config

    options = dict(options or {})
    if isinstance(model, str):
        model = get_config(model)  # ValueError listing the names for an unknown one
    elif not isinstance(model, Sam2Config):
        raise TypeError(f"model must be a model name or a Sam2Config, got {type(model).__name__}")
    size = options.get("image_size", model.image_size)
    if isinstance(size, bool) or not isinstance(size, int) or size < 64 or size % 32:
        raise ValueError(f"image_size must be a multiple of 32, at least 64; got {size!r}")
    try:
        config = dataclasses.replace(model, **options)
    except TypeError as err:
        raise ValueError(f"unknown model option: {err}") from None
    path = None if checkpoint is None else str(Path(checkpoint).expanduser().absolute())
    return _ModelSpec(config, path, str(device))


@contextlib.contextmanager
def _connect(scheduler: Any, n_workers: int, threads_per_worker: int) -> Iterator[Any]:
    """A client: of a new local cluster, of ``scheduler``, or ``scheduler`` itself."""
    from distributed import Client, LocalCluster

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
    return f"{type(error).__name__}: {error}"


# --------------------------------------------------------------------------------------------
# On the workers
# --------------------------------------------------------------------------------------------

#: worker -> (spec, model): the one model each worker keeps.
_MODELS: weakref.WeakKeyDictionary[Any, tuple[_ModelSpec, Any]] = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


def _model(spec: _ModelSpec, worker: Any) -> tuple[Any, dict[str, Any], bool]:
    """The worker's model for ``spec``, what outputs record about it (model, checkpoint
    SHA-256), and whether it was loaded just now."""
    from napari_sam2.api import model_info
    from sam2_engine import load_model
    from sam2_engine.weights import ensure_checkpoint, file_sha256

    with _MODELS_LOCK:  # held while loading: a worker's other threads wait, then reuse it
        cached = _MODELS.get(worker)
        if cached is not None and cached[0] == spec:
            return cached[1], cached[2], False
        _MODELS.pop(worker, None)  # free the old model before loading another
        path = Path(spec.checkpoint or ensure_checkpoint(spec.config.name, allow_download=False))
        model = load_model(spec.config, checkpoint=path, device=spec.device)
        info = model_info(spec.config, path, file_sha256(path))
        _MODELS[worker] = (spec, model, info)
        return model, info, True


def _run_job(job: Job, spec: _ModelSpec, overwrite: bool) -> JobResult:
    """One job, on a worker; never raises for a job's own failure."""
    from distributed import get_worker

    start = time.perf_counter()
    worker = get_worker()
    output = Path(job.output)

    def result(status: str, **fields: Any) -> JobResult:
        seconds = time.perf_counter() - start
        return JobResult(
            job.label, output, status, seconds=seconds, worker=worker.address, **fields
        )

    if output.exists() and not overwrite:
        return result("skipped")
    partial = output.with_name(output.name + PARTIAL_SUFFIX)
    loaded = False
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        _remove(partial)  # left by an interrupted run
        session = job.load_session()
        from sam2_engine.frames import open_frames

        with open_frames(job.input, **job.open_options(session)) as frames:
            model, info, loaded = _model(spec, worker)
            info = {**info, "source": str(job.input)}
            count = _track(model, info, frames, session, output, overwrite)
    except Exception as error:
        _remove(partial)
        return result("failed", error=_message(error), loaded_model=loaded)
    return result("done", frames=count, loaded_model=loaded)


def _track(
    model: Any, info: dict, frames: Any, session: Session, output: Path, overwrite: bool
) -> int:
    """Replay the prompts, propagate forward then backward from the first prompted frame, and
    write the labels to ``output`` with ``info`` in its metadata; returns the number of
    frames."""
    import numpy as np

    from napari_sam2.api import stamp_info
    from napari_sam2.session import apply_prompts
    from sam2_engine import VideoPredictor
    from sam2_engine.sinks import TiffSink, ZarrSink, write_propagation

    predictor = VideoPredictor(model, **_predictor_options(session))
    state = predictor.init_state(frames)
    try:
        apply_prompts(session, predictor, state)
        shape = (state.num_frames, state.video_height, state.video_width)
        dtype = np.uint16 if max(session.object_ids) <= np.iinfo(np.uint16).max else np.uint32
        if output.suffix.lower() == ".zarr":
            sink = ZarrSink(output, shape, dtype=dtype, overwrite=overwrite)
        else:
            sink = TiffSink(output, shape, dtype, overwrite=overwrite)
        write_propagation(predictor.propagate_in_video(state), sink, close=False)
        write_propagation(predictor.propagate_in_video(state, reverse=True), sink, close=False)
        record = {"direction": "both", "frames": [0, shape[0]], "objects": session.object_ids}
        stamp_info(sink, {**info, **record})
        sink.close()
    finally:
        state.close()  # prefetch thread, spilled outputs, open files: a worker runs many jobs
    return shape[0]


def _predictor_options(session: Session) -> dict[str, Any]:
    """The session's recorded settings that are ``VideoPredictor`` options."""
    from sam2_engine import VideoPredictor

    names = set(inspect.signature(VideoPredictor).parameters) - {"model"}
    return {k: v for k, v in session.settings.items() if k in names}


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


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
