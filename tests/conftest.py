"""Shared test configuration and fixtures."""

from __future__ import annotations

import pytest
import torch

# Parity needs the same thread count on both sides; fix it for the whole run.
torch.set_num_threads(2)


def small_config():
    """A SAM 2.1-shaped model small enough for fast logic tests (not an official preset):
    a thin one-block-per-stage trunk at a 256 input. Decoder and memory keep their real widths,
    so every code path of the real models runs."""
    from sam2_engine import HieraConfig, Sam2Config

    trunk = HieraConfig(
        embed_dim=16,
        num_heads=1,
        blocks_per_stage=(1, 1, 1, 1),
        global_attention_blocks=(3,),
        window_size_per_stage=(8, 4, 4, 4),
    )
    return Sam2Config(name="test_small", hiera=trunk, image_size=256)


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
