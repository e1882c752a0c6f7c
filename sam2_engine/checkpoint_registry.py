"""The registry of official checkpoints: where each comes from and how to recognise it."""

from __future__ import annotations

from dataclasses import dataclass

from .configs import get_config

__all__ = ["CHECKPOINTS", "CheckpointSpec", "checkpoint_spec"]


@dataclass(frozen=True)
class CheckpointSpec:
    """Where an official checkpoint comes from and how to recognise it.

    Attributes:
        name: model name, one of :data:`~sam2_engine.configs.MODEL_NAMES`.
        file_name: file name in the cache (the official one).
        url: official download address.
        sha256: expected SHA-256 of the file (hex); ``None`` skips the check.
        size_bytes: expected file size, or ``None`` where unknown.
    """

    name: str
    file_name: str
    url: str
    sha256: str | None
    size_bytes: int | None = None


_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2"
_OFFICIAL = {  # name: (release folder, SHA-256)
    "sam2.1_hiera_tiny": (
        "092824",
        "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
    ),
    "sam2.1_hiera_small": (
        "092824",
        "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
    ),
    "sam2.1_hiera_base_plus": (
        "092824",
        "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
    ),
    "sam2.1_hiera_large": (
        "092824",
        "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
    ),
    "sam2_hiera_tiny": (
        "072824",
        "65b50056e05bcb13694174f51bb6da89c894b57b75ccdf0ba6352c597c5d1125",
    ),
    "sam2_hiera_small": (
        "072824",
        "95949964d4e548409021d47b22712d5f1abf2564cc0c3c765ba599a24ac7dce3",
    ),
    "sam2_hiera_base_plus": (
        "072824",
        "d0bb7f236400a49669ffdd1be617959a8b1d1065081789d7bbff88eded3a8071",
    ),
    "sam2_hiera_large": (
        "072824",
        "7442e4e9b732a508f80e141e7c2913437a3610ee0c77381a66658c3a445df87b",
    ),
}

#: The eight official checkpoints by model name. Sizes are not pinned (``None``).
CHECKPOINTS: dict[str, CheckpointSpec] = {
    name: CheckpointSpec(
        name=name,
        file_name=f"{name}.pt",
        url=f"{_BASE_URL}/{folder}/{name}.pt",
        sha256=sha256,
        size_bytes=None,
    )
    for name, (folder, sha256) in _OFFICIAL.items()
}


def checkpoint_spec(name: str | CheckpointSpec) -> CheckpointSpec:
    """The registry entry for ``name`` (a spec passes through).

    Raises:
        ValueError: unknown name; the message lists the valid ones.
    """
    if isinstance(name, CheckpointSpec):
        return name
    if name in CHECKPOINTS:
        return CHECKPOINTS[name]
    get_config(name)  # raises the ValueError listing the valid names
    raise ValueError(f"No checkpoint registered for {name!r}. Known: {', '.join(CHECKPOINTS)}.")
