"""The small random models of fast logic tests."""

from __future__ import annotations


def small_config():
    """The thin SAM 2.1-shaped model of fast logic tests (see ``thin_config``)."""
    from sam2_engine import thin_config

    return thin_config("test_small")
