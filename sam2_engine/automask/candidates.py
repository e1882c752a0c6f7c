"""The masks the generator is still considering, as columns of tensors."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Candidates:
    """N candidate masks and what is known about them; row i of every field is mask i.

    A mask is kept as the decoder's low-res logits and made full size only when a record is
    written, so memory does not grow with the image size, and masks dropped by non-maximum
    suppression are never upsampled again.

    Attributes:
        low_res: (N, 256, 256) float32 mask logits, as the decoder gave them.
        ious: (N,) float32 predicted IoU.
        stability: (N,) float32 stability score.
        points: (N, 2) float32 xy prompt, in pixels of the crop (later of the image).
        boxes: (N, 4) int64 inclusive box of the mask, in the same frame as ``points``.
        crop_boxes: (N, 4) int64 half-open crop (x0, y0, x1, y1) the mask was found in.
    """

    low_res: torch.Tensor
    ious: torch.Tensor
    stability: torch.Tensor
    points: torch.Tensor
    boxes: torch.Tensor
    crop_boxes: torch.Tensor

    def __len__(self) -> int:
        return self.ious.shape[0]

    @classmethod
    def empty(cls, low_res_side: int = 256) -> Candidates:
        return cls(
            low_res=torch.zeros((0, low_res_side, low_res_side)),
            ious=torch.zeros(0),
            stability=torch.zeros(0),
            points=torch.zeros((0, 2)),
            boxes=torch.zeros((0, 4), dtype=torch.int64),
            crop_boxes=torch.zeros((0, 4), dtype=torch.int64),
        )

    def select(self, keep: torch.Tensor) -> Candidates:
        """The rows picked by ``keep`` (bool mask or indices, in that order)."""
        return Candidates(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    @classmethod
    def cat(cls, parts: list[Candidates]) -> Candidates:
        """Rows of all ``parts``, in order."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(**{f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(cls)})
