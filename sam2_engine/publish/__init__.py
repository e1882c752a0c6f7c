"""Publishing outputs safely: the one place that creates, replaces and removes what we write.

Every writer of the project (label sinks, sessions, checkpoints and downloads, measurement
tables, video exports, the napari writer) goes through here, so these rules hold everywhere:

1. **Complete or absent.** An output is written as ``<name>.partial`` beside its final name and
   renamed into place only once complete: a file under the final name is never half-written.
2. **Nothing the user made is replaced.** An existing output is replaced only when the caller
   allows it (``overwrite=True``, ``--overwrite``) *and* the project wrote it: it is listed,
   unchanged, in its folder's ledger (:data:`LEDGER_NAME`), or a format check recognises it
   (our provenance metadata). A folder output (a zarr store, a folder of PNG frames) holds a
   manifest (:data:`MANIFEST_NAME`) of the files it wrote, and replacing it removes only those.
   A folder is never replaced where a file is expected, nor a file where a folder is.
3. **Never onto an input.** An output that is one of the run's inputs, lies inside one or
   contains one is refused (resolved paths: links and ``..`` do not hide it).
4. **One writer at a time.** A partial is locked by its writer (``<name>.partial.lock``:
   process, host, start time, what is written); a second writer is refused with a message
   naming the first. The lock of a process that died on this machine is stale and taken over.
5. **Interrupted runs keep their work.** A writer may keep its partial on an error (a label
   stack keeps its finished frames); a later run refuses to start over it unless allowed to
   overwrite.

Nothing here imports torch or numpy.
"""

from sam2_engine.publish.publication import Publication, write_atomic
from sam2_engine.publish.records import LEDGER_NAME, MANIFEST_NAME
from sam2_engine.publish.rules import (
    NotOurOutputError,
    OutputError,
    OutputExistsError,
    OutputInUseError,
    OutputIsInputError,
    OutputKindError,
    Recogniser,
    check_not_input,
    check_output,
    is_ours,
    partial_path,
)

__all__ = [
    "LEDGER_NAME",
    "MANIFEST_NAME",
    "NotOurOutputError",
    "OutputError",
    "OutputExistsError",
    "OutputInUseError",
    "OutputIsInputError",
    "OutputKindError",
    "Publication",
    "Recogniser",
    "check_not_input",
    "check_output",
    "is_ours",
    "partial_path",
    "write_atomic",
]
