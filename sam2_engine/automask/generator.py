"""Segment everything: masks for a whole image from a grid of single-point prompts.

The options, their defaults and the records returned are those of the official
``SAM2AutomaticMaskGenerator`` (checked record by record against it in
``tests/engine/test_automatic_mask_generator.py``). The work is organised differently:

- a mask's full-size logits are made only for masks that passed the predicted-IoU filter
  (the official code upsamples every mask of a batch first), in chunks of bounded memory;
- candidates are kept as low-res logits and made full size again only for the records that
  survive non-maximum suppression, instead of run-length encoding every candidate;
- the image is mapped to [0, 1] once (8-bit, 16-bit, float: the engine's contrast path) and
  each crop is cut from that, so all crops share one intensity mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from ..frames.intensity import apply_contrast, check_contrast_limits, is_passthrough
from ..image_input import check_image, image_to_tensor
from ..image_predictor import ImagePredictor
from ..modeling.sam2_model import Sam2Model
from .boxes import box_areas, box_nms, masks_to_boxes, near_crop_edge, xyxy_to_xywh
from .candidates import Candidates
from .grids import crop_boxes, layer_point_grids
from .masks import coco_rle, mask_to_rle, stability_score

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle")

#: Full-size logits are made in chunks of at most this many bytes.
_CHUNK_BYTES = 256 << 20


class AutomaticMaskGenerator:
    """Masks for everything in an image, from a grid of point prompts.

    Each grid point prompts the model once; masks with a low predicted IoU or an unstable
    threshold are dropped, then duplicates are removed by box non-maximum suppression. With
    ``crop_n_layers`` > 0 the same is repeated on overlapping crops of the image, and
    duplicates between crops removed, preferring masks from smaller crops.

    Arguments:
        model (Sam2Model): the SAM 2 model.
        points_per_side (int | None): the grid has points_per_side**2 points over the image
            (or crop). None means: use ``point_grids``.
        points_per_batch (int): points decoded together (memory against speed).
        pred_iou_thresh (float): keep masks whose predicted IoU is above this (0 keeps all).
        stability_score_thresh (float): keep masks whose stability score is at least this
            (0 keeps all).
        stability_score_offset (float): the stability score is the IoU of the masks cut at
            ``mask_threshold`` +/- this offset.
        mask_threshold (float): logit threshold of the masks.
        box_nms_thresh (float): box IoU above which the mask with the lower predicted IoU is
            dropped as a duplicate, within one crop.
        crop_n_layers (int): extra crop layers; layer i has (2**i)**2 crops.
        crop_nms_thresh (float): box IoU above which duplicates between crops are dropped.
        crop_overlap_ratio (float): overlap of neighbouring crops, as a fraction of the image's
            short side in layer 1 (scaled down for later layers).
        crop_n_points_downscale_factor (int): layer i uses points_per_side / factor**i points
            per side.
        point_grids (list[np.ndarray] | None): explicit (N, 2) xy grids in [0, 1], one per
            crop layer; exclusive with ``points_per_side``.
        min_mask_region_area (int): if > 0, holes and disconnected specks of up to this area
            are removed from each mask. As in the official SAM 2 generator the area is counted
            in pixels of the 256x256 low-res masks, before upsampling. (The official code does
            this only with its optional CUDA extension and silently skips it otherwise; here it
            runs on every device.)
        output_mode (str): "binary_mask" ((H, W) bool arrays), "uncompressed_rle" (COCO RLE
            dicts with a list of counts) or "coco_rle" (compressed COCO RLE; needs pycocotools).
        use_m2m (bool): refine each mask once more, prompting with the point and the mask's
            own low-res logits.
        multimask_output (bool): three masks per point instead of one.
        precision (str): passed to :class:`ImagePredictor` ("fp32" exact, default).
    """

    def __init__(
        self,
        model: Sam2Model,
        points_per_side: int | None = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.8,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        mask_threshold: float = 0.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: Sequence[np.ndarray] | None = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        use_m2m: bool = False,
        multimask_output: bool = True,
        *,
        precision: str = "fp32",
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError(
                "give exactly one of points_per_side and point_grids "
                f"(got points_per_side={points_per_side!r} and "
                f"point_grids={'None' if point_grids is None else 'a list'})"
            )
        _check_int("crop_n_layers", crop_n_layers, 0)
        _check_int("crop_n_points_downscale_factor", crop_n_points_downscale_factor, 1)
        _check_int("points_per_batch", points_per_batch, 1)
        _check_int("min_mask_region_area", min_mask_region_area, 0)
        if points_per_side is not None:
            _check_int("points_per_side", points_per_side, 1)
            self.point_grids = layer_point_grids(
                points_per_side, crop_n_layers, crop_n_points_downscale_factor
            )
        else:
            self.point_grids = _check_grids(point_grids, crop_n_layers)
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, got {output_mode!r}")
        if output_mode == "coco_rle":
            try:
                import pycocotools.mask  # noqa: F401
            except ImportError:
                raise ImportError(
                    "output_mode='coco_rle' needs pycocotools, which is not installed "
                    "(pip install pycocotools); 'uncompressed_rle' gives the same runs as "
                    "plain lists, 'binary_mask' as arrays"
                ) from None
        self.predictor = ImagePredictor(
            model,
            max_hole_area=min_mask_region_area,
            max_sprinkle_area=min_mask_region_area,
            precision=precision,
        )
        self.points_per_batch = int(points_per_batch)
        self.pred_iou_thresh = float(pred_iou_thresh)
        self.stability_score_thresh = float(stability_score_thresh)
        self.stability_score_offset = float(stability_score_offset)
        self.mask_threshold = float(mask_threshold)
        self.box_nms_thresh = float(box_nms_thresh)
        self.crop_n_layers = int(crop_n_layers)
        self.crop_nms_thresh = float(crop_nms_thresh)
        self.crop_overlap_ratio = float(crop_overlap_ratio)
        self.crop_n_points_downscale_factor = int(crop_n_points_downscale_factor)
        self.min_mask_region_area = int(min_mask_region_area)
        self.output_mode = output_mode
        self.use_m2m = bool(use_m2m)
        self.multimask_output = bool(multimask_output)

    # ------------------------------------------------------------------ public
    @torch.inference_mode()
    def generate(
        self,
        image,
        *,
        contrast_limits: Sequence[float] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[dict]:
        """Find the masks of ``image``.

        Args:
            image: (H, W, 3) RGB or (H, W) gray numpy array (or PIL image). uint8 is divided
                by 255 as in the official generator; 16-bit, other integer and float images go
                through the engine's contrast path (``contrast_limits``, else the 0.5 and 99.5
                percentiles of the image), the same as :meth:`ImagePredictor.set_image`.
            contrast_limits: (low, high) intensities mapped to 0 and 1 (e.g. napari's contrast
                limits); None as above.
            progress: called as ``progress(points_done, points_total)`` after each batch of
                points; an exception raised there stops the generator.

        Returns:
            One dict per mask, in the official order and format:
            ``segmentation`` ((H, W) bool array, or an RLE dict per ``output_mode``),
            ``area`` (int, pixels), ``bbox`` ([x, y, w, h] floats, inclusive extremes, so
            ``w`` is the pixel width minus one), ``predicted_iou`` (float),
            ``point_coords`` ([[x, y]], the prompt in image pixels), ``stability_score``
            (float), ``crop_box`` ([x, y, w, h] of the crop the mask was found in).
        """
        rgb = _image_tensor(image, contrast_limits)  # (3, H, W) float32 in [0, 1]
        height, width = int(rgb.shape[1]), int(rgb.shape[2])
        crops = crop_boxes(height, width, self.crop_n_layers, self.crop_overlap_ratio)
        total = sum(len(self.point_grids[layer]) for _, layer in crops)
        counter = _Progress(total, progress)
        found = Candidates.cat(
            [self._segment_crop(rgb, box, layer, counter) for box, layer in crops]
        )
        if len(crops) > 1 and len(found):
            # duplicates between crops: prefer the mask from the smaller crop
            scores = 1.0 / box_areas(found.crop_boxes).float()
            found = found.select(box_nms(found.boxes.float(), scores, self.crop_nms_thresh))
        return self._records(found, (height, width))

    # ------------------------------------------------------------------ one crop
    def _segment_crop(
        self,
        rgb: torch.Tensor,
        crop_box: tuple[int, int, int, int],
        layer: int,
        counter: _Progress,
    ) -> Candidates:
        grid = self.point_grids[layer]
        if len(grid) == 0:
            return Candidates.empty()
        x0, y0, x1, y1 = crop_box
        crop_hw = (y1 - y0, x1 - x0)
        self.predictor.set_image_tensor(rgb[:, y0:y1, x0:x1])
        # grid in crop pixels, float64 then float32 as the official generator rounds it
        points = torch.as_tensor(grid * np.array([[crop_hw[1], crop_hw[0]]]), dtype=torch.float32)
        image_box = (0, 0, rgb.shape[2], rgb.shape[1])
        parts = []
        for start in range(0, len(points), self.points_per_batch):
            batch = points[start : start + self.points_per_batch]
            parts.append(self._segment_batch(batch, crop_box, crop_hw, image_box))
            counter.advance(len(batch))
        self.predictor.reset_predictor()
        found = Candidates.cat(parts)
        if not len(found):
            return found
        found = found.select(box_nms(found.boxes.float(), found.ious, self.box_nms_thresh))
        # from crop to image coordinates
        found.boxes = found.boxes + torch.tensor([[x0, y0, x0, y0]], device=found.boxes.device)
        found.points = found.points + torch.tensor([[x0, y0]], device=found.points.device)
        found.crop_boxes = torch.tensor([crop_box], device=found.boxes.device).expand(len(found), 4)
        return found

    def _segment_batch(
        self,
        points: torch.Tensor,
        crop_box: tuple[int, int, int, int],
        crop_hw: tuple[int, int],
        image_box: tuple[int, int, int, int],
    ) -> Candidates:
        """Masks of one batch of (B, 2) crop-pixel points that pass the filters."""
        labels = torch.ones(points.shape[0], 1, dtype=torch.int32)
        low_res, ious = self.predictor.predict_torch(
            points[:, None], labels, multimask_output=self.multimask_output
        )
        per_point = low_res.shape[1]
        low_res = low_res.flatten(0, 1)  # (B * C, h, w), the masks of a point together
        ious = ious.flatten()
        points = points.repeat_interleave(per_point, dim=0).to(low_res.device)
        if self.use_m2m:
            low_res, ious = self._refine(points, low_res)
        if self.pred_iou_thresh > 0.0:
            keep = ious > self.pred_iou_thresh
            low_res, ious, points = low_res[keep], ious[keep], points[keep]

        parts = []
        chunk = max(1, _CHUNK_BYTES // (4 * crop_hw[0] * crop_hw[1]))
        for start in range(0, low_res.shape[0], chunk):
            rows = slice(start, start + chunk)
            parts.append(
                self._measure(low_res[rows], ious[rows], points[rows], crop_box, crop_hw, image_box)
            )
        return Candidates.cat(parts)

    def _refine(
        self, points: torch.Tensor, low_res: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """use_m2m: prompt again with each point and its mask's (clamped) low-res logits."""
        refined, ious = [], []
        for start in range(0, points.shape[0], self.points_per_batch):
            rows = slice(start, start + self.points_per_batch)
            labels = torch.ones(points[rows].shape[0], 1, dtype=torch.int32)
            masks_in = low_res[rows, None].clamp(-32.0, 32.0)
            out, iou = self.predictor.predict_torch(
                points[rows, None], labels, mask_input=masks_in, multimask_output=False
            )
            refined.append(out[:, 0])
            ious.append(iou[:, 0])
        return torch.cat(refined), torch.cat(ious)

    def _measure(
        self,
        low_res: torch.Tensor,
        ious: torch.Tensor,
        points: torch.Tensor,
        crop_box: tuple[int, int, int, int],
        crop_hw: tuple[int, int],
        image_box: tuple[int, int, int, int],
    ) -> Candidates:
        """Full-size logits of a chunk of masks: stability filter, boxes, crop-edge filter."""
        logits = self.predictor.upscale_logits(low_res[:, None], crop_hw)[:, 0]  # (K, H, W)
        stability = stability_score(logits, self.mask_threshold, self.stability_score_offset)
        if self.stability_score_thresh > 0.0:
            keep = stability >= self.stability_score_thresh
            logits, low_res, ious = logits[keep], low_res[keep], ious[keep]
            points, stability = points[keep], stability[keep]
        boxes = masks_to_boxes(logits > self.mask_threshold)
        del logits
        x0, y0 = crop_box[:2]
        offset = torch.tensor([[x0, y0, x0, y0]], device=boxes.device)
        keep = ~near_crop_edge(boxes + offset, crop_box, image_box)
        return Candidates(
            low_res=low_res[keep],
            ious=ious[keep],
            stability=stability[keep],
            points=points[keep],
            boxes=boxes[keep],
            crop_boxes=boxes.new_zeros((int(keep.sum()), 4)),
        )

    # ------------------------------------------------------------------ records
    def _records(self, found: Candidates, image_hw: tuple[int, int]) -> list[dict]:
        """One record per candidate, in order, with its full-size mask."""
        records: list[dict] = [{} for _ in range(len(found))]
        crops = found.crop_boxes.tolist()
        for crop in sorted({tuple(c) for c in crops}):
            rows = [i for i, c in enumerate(crops) if tuple(c) == crop]
            x0, y0, x1, y1 = crop
            chunk = max(1, _CHUNK_BYTES // (4 * (y1 - y0) * (x1 - x0)))
            for start in range(0, len(rows), chunk):
                part = rows[start : start + chunk]
                low_res = found.low_res[part][:, None]
                logits = self.predictor.upscale_logits(low_res, (y1 - y0, x1 - x0))[:, 0]
                masks = (logits > self.mask_threshold).cpu().numpy()
                del logits
                for i, mask in zip(part, masks, strict=True):
                    full = np.zeros(image_hw, dtype=bool)
                    full[y0:y1, x0:x1] = mask
                    records[i] = self._record(found, i, full)
        return records

    def _record(self, found: Candidates, i: int, mask: np.ndarray) -> dict:
        if self.output_mode == "binary_mask":
            segmentation = mask
        else:
            segmentation = mask_to_rle(mask)
            if self.output_mode == "coco_rle":
                segmentation = coco_rle(segmentation)
        return {
            "segmentation": segmentation,
            "area": int(np.count_nonzero(mask)),
            "bbox": xyxy_to_xywh(found.boxes[i].tolist()),
            "predicted_iou": float(found.ious[i]),
            "point_coords": [found.points[i].tolist()],
            "stability_score": float(found.stability[i]),
            "crop_box": xyxy_to_xywh(found.crop_boxes[i].tolist()),
        }


class _Progress:
    """Counts prompted points and reports them to the caller's callback."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total, self.done, self.callback = total, 0, callback

    def advance(self, count: int) -> None:
        self.done += count
        if self.callback is not None:
            self.callback(self.done, self.total)


def _image_tensor(image, contrast_limits: Sequence[float] | None) -> torch.Tensor:
    """The image as the engine feeds it to the model: (3, H, W) float32 in [0, 1]."""
    image = check_image(image, "image")
    limits = check_contrast_limits(contrast_limits)
    if limits is not None and not is_passthrough(image.dtype, limits):
        image = apply_contrast(image, limits)
    return image_to_tensor(image)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_grids(grids, crop_n_layers: int) -> list[np.ndarray]:
    checked = []
    for i, grid in enumerate(grids):
        arr = np.asarray(grid, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(f"point_grids[{i}] must be (N, 2) xy in [0, 1], got {arr.shape}")
        if not np.all(np.isfinite(arr)) or arr.min(initial=0) < 0 or arr.max(initial=0) > 1:
            raise ValueError(f"point_grids[{i}] must hold xy values in [0, 1]")
        checked.append(arr)
    if len(checked) < crop_n_layers + 1:
        raise ValueError(
            f"point_grids has {len(checked)} grid(s) but crop_n_layers={crop_n_layers} needs "
            f"{crop_n_layers + 1} (one per crop layer, the whole image first)"
        )
    return checked
