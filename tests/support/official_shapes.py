"""Keys and shapes of the eight official SAM 2 / 2.1 state dicts (from the official package),
kept in ``tests/support/data`` so layout tests never depend on files outside the repository."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

_FILE = Path(__file__).parent / "data" / "official_state_dict_shapes.json"
SHORT_SIZES = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}


@lru_cache(maxsize=1)
def _all() -> dict[str, dict[str, list[int]]]:
    return json.loads(_FILE.read_text())


def official_manifest(name: str) -> dict[str, dict[str, list[int]]]:
    """``{key: {"shape": [...]}}`` of an official model, by preset name
    (``sam2.1_hiera_tiny``) or official short name (``sam2.1_hiera_t``)."""
    prefix, size = name.split("_hiera_")
    short = f"{prefix}_hiera_{SHORT_SIZES.get(size, size)}"
    return {key: {"shape": shape} for key, shape in _all()[short].items()}
