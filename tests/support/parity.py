"""Helpers for comparing our outputs with the official implementation's."""

from __future__ import annotations

import numpy as np
import torch

#: Absolute tolerance on logits, IoU scores and object scores (random-weight outputs are small).
ATOL = 1e-4


def as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def max_abs_diff(ours, theirs) -> float:
    a, b = as_numpy(ours), as_numpy(theirs)
    assert a.shape == b.shape, f"shape {a.shape} != official {b.shape}"
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def flipped_pixels(ours_logits, theirs_logits, threshold: float = 0.0) -> int:
    """Pixels whose mask differs although the official logit is not within ATOL of the
    threshold (pixels at the threshold may flip with float rounding)."""
    a, b = as_numpy(ours_logits), as_numpy(theirs_logits)
    differ = (a > threshold) != (b > threshold)
    near = np.abs(b - threshold) <= ATOL
    return int(np.count_nonzero(differ & ~near))


def assert_logits_match(ours, theirs, what: str, report: dict | None = None) -> float:
    diff = max_abs_diff(ours, theirs)
    if report is not None:
        report[what] = max(diff, report.get(what, 0.0))
    assert diff <= ATOL, f"{what}: max abs diff {diff:.3g} > {ATOL}"
    flips = flipped_pixels(ours, theirs)
    assert flips == 0, f"{what}: {flips} mask pixels differ away from the threshold"
    return diff
