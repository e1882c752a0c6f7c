"""CPU stand-ins for two compiled kernels the official automatic mask generator calls.

Neither can load here: torchvision's wheel is built for CUDA (its C++ library needs
libtorch_cuda), and the official ``sam2`` package ships its connected-components kernel only as
an optional CUDA extension. These are written from the kernels' documented behaviour, for tests
only; nothing in ``sam2_engine`` imports this module.

- ``torchvision::nms``: greedy non-maximum suppression. Boxes are visited by decreasing score
  in the order ``Tensor.sort(descending=True)`` gives (the call torchvision's CPU kernel makes,
  so ties come out as they would there); a box is dropped when its IoU with an already kept
  box is above the threshold. IoU is computed in the boxes' dtype, compared as a double.
- ``sam2.utils.misc.get_connected_components``: 8-connected components of (N, 1, H, W) binary
  masks, returning per-pixel component labels and component areas (0 on background).

Use :func:`official_kernels` around code that runs the official generator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy import ndimage

from tests.support import oracle  # noqa: F401  (declares the torchvision op schemas first)

_libraries: list[torch.library.Library] = []


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the kept (x0, y0, x1, y1) ``boxes``, highest score first (int64)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64)
    x0, y0, x1, y1 = (boxes[:, k].contiguous() for k in range(4))
    areas = (x1 - x0) * (y1 - y0)
    order = scores.sort(0, descending=True)[1]
    suppressed = np.zeros(boxes.shape[0], dtype=bool)
    kept = []
    zero = torch.zeros((), dtype=boxes.dtype)
    for rank, i in enumerate(order.tolist()):
        if suppressed[i]:
            continue
        kept.append(i)
        rest = order[rank + 1 :]
        width = torch.maximum(torch.minimum(x1[i], x1[rest]) - torch.maximum(x0[i], x0[rest]), zero)
        height = torch.maximum(
            torch.minimum(y1[i], y1[rest]) - torch.maximum(y0[i], y0[rest]), zero
        )
        inter = width * height
        iou = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[iou.double() > iou_threshold].numpy()] = True
    return torch.tensor(kept, dtype=torch.int64)


def reference_connected_components(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 1, H, W) binary masks -> (labels, areas), both int32 of the same shape: the
    8-connected component of each foreground pixel (from 1) and that component's area; 0 on
    background."""
    binary = mask.detach().cpu().numpy().astype(bool)
    labels = np.zeros(binary.shape, dtype=np.int32)
    areas = np.zeros(binary.shape, dtype=np.int32)
    eight = np.ones((3, 3), dtype=bool)
    for n in range(binary.shape[0]):
        lab, count = ndimage.label(binary[n, 0], structure=eight)
        if count:
            sizes = np.bincount(lab.ravel()).astype(np.int32)
            sizes[0] = 0
            labels[n, 0] = lab
            areas[n, 0] = sizes[lab]
    return torch.from_numpy(labels).to(mask.device), torch.from_numpy(areas).to(mask.device)


def _register_nms() -> None:
    if _libraries:
        return
    library = torch.library.Library("torchvision", "IMPL")
    library.impl("nms", reference_nms, "CPU")
    _libraries.append(library)


@contextlib.contextmanager
def official_kernels() -> Iterator[None]:
    """Within this block the official generator runs on CPU: ``torchvision.ops.nms`` uses
    :func:`reference_nms`, and the official hole / speck removal (``min_mask_region_area``)
    uses :func:`reference_connected_components` instead of skipping itself with a warning."""
    import sam2.utils.misc
    import torchvision.ops.boxes

    _register_nms()
    with pytest.MonkeyPatch.context() as patch:
        # torchvision refuses to call its ops when its C++ library did not load
        patch.setattr(torchvision.ops.boxes, "_assert_has_ops", lambda: None)
        patch.setattr(sam2.utils.misc, "get_connected_components", reference_connected_components)
        yield
