"""Shared test configuration and fixtures."""

from __future__ import annotations

import pytest
import torch

from tests.support.models import small_config

#: Fixtures shared by several test folders (the CLI's tiny checkpoint and movie).
pytest_plugins = ["tests.support.cli"]

# Parity needs the same thread count on both sides; fix it for the whole run.
torch.set_num_threads(2)


@pytest.fixture(scope="session")
def small_model():
    """A random small model whose objects are judged present (object-score bias +2)."""
    from sam2_engine import build_model

    return build_model(small_config(), seed=0, object_score_bias=2.0)


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory, small_model):
    """The small model saved in the official checkpoint format; returns (config, path)."""
    from sam2_engine.checkpoint import save_checkpoint

    path = save_checkpoint(small_model, tmp_path_factory.mktemp("weights") / "small.pt")
    return small_config(), path
