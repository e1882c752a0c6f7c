"""Segment still images with clicks, boxes and mask prompts (the official image predictor's API).

``set_image`` encodes an image once; every ``predict`` after it runs only the prompt encoder
and the mask decoder. Outputs are numpy arrays with the official shapes:
``masks`` (C, H, W), ``scores`` (C,), ``low_res_logits`` (C, 256, 256) for one prompt, with
a leading batch axis B for B boxes or B point sets.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from .errors import PromptError
from .image_input import check_image, image_to_tensor
from .modeling.sam2_model import ImageFeatures, Sam2Model
from .postprocess import fill_holes, remove_sprinkles
from .precision import compute_model, resolve_precision
from .prompts import check_flag, check_number, prompt_points, to_model_coords

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_flags(multimask_output, return_logits, normalize_coords) -> None:
    check_flag(multimask_output, "multimask_output")
    check_flag(return_logits, "return_logits")
    check_flag(normalize_coords, "normalize_coords")


class ImagePredictor:
    """Prompted segmentation of single images.

    Args:
        model: a :class:`~sam2_engine.modeling.sam2_model.Sam2Model`.
        mask_threshold: logit threshold of the returned masks.
        max_hole_area: fill background holes up to this area (low-res pixels) before upsampling.
        max_sprinkle_area: remove foreground specks up to this area before upsampling.
        precision: "fp32" (exact, default), or "bf16" / "fp16": the image encoder computes
            in that dtype, the decoder in fp32 (opt-in; faster on GPUs and on CPUs with fast
            bf16 units; masks move slightly, see ``sam2_engine.precision``).
    """

    def __init__(
        self,
        model: Sam2Model,
        mask_threshold: float = 0.0,
        max_hole_area: float = 0.0,
        max_sprinkle_area: float = 0.0,
        precision: str = "fp32",
    ) -> None:
        mask_threshold = check_number(mask_threshold, "mask_threshold")
        max_hole_area = check_number(max_hole_area, "max_hole_area", minimum=0)
        max_sprinkle_area = check_number(max_sprinkle_area, "max_sprinkle_area", minimum=0)
        self.model = model.eval()
        self.precision = precision
        self._compute_dtype = resolve_precision(precision, model.device)
        self.mask_threshold = mask_threshold
        self.max_hole_area = max_hole_area
        self.max_sprinkle_area = max_sprinkle_area
        self.reset_predictor()

    @property
    def device(self) -> torch.device:
        return self.model.device

    @cached_property
    def _net(self) -> Sam2Model:
        """The model that computes: a reduced-precision copy for bf16/fp16, made on first use."""
        return compute_model(self.model, self._compute_dtype)

    def reset_predictor(self) -> None:
        """Forget the current image(s)."""
        self._features: ImageFeatures | None = None
        self._orig_hw: list[tuple[int, int]] = []
        self._is_batch = False

    @property
    def is_image_set(self) -> bool:
        return self._features is not None

    # ------------------------------------------------------------------ images
    def _preprocess(self, image) -> torch.Tensor:
        """(H, W, 3) / (H, W) image -> (3, S, S) normalised model input."""
        return self._resize_normalise(image_to_tensor(image))

    def _resize_normalise(self, tensor: torch.Tensor) -> torch.Tensor:
        """(3, H, W) float32 in [0, 1] -> (3, S, S) normalised model input."""
        size = self.model.image_size
        tensor = F.interpolate(
            tensor[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0]
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return (tensor - mean) / std

    @torch.inference_mode()
    def set_image(self, image) -> None:
        """Encode one image: (H, W, 3) uint8 RGB, (H, W) gray, float in [0, 1], other
        integer or float ranges (contrast-stretched), or a PIL image."""
        image = check_image(image, "image")
        self.reset_predictor()
        batch = self._preprocess(image)[None].to(self.device)
        self._features = self._encode(batch)
        self._orig_hw = [image.shape[:2]]

    @torch.inference_mode()
    def set_image_tensor(self, image: torch.Tensor) -> None:
        """Encode one image given as a (3, H, W) float tensor already mapped to [0, 1].

        For callers that map intensities once and encode parts of the result (the automatic
        mask generator encodes crops of one contrast-mapped image). Values are used as they
        are: a uint8 image divided by 255 gives exactly what :meth:`set_image` encodes.
        """
        if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
            shape = tuple(image.shape) if hasattr(image, "shape") else type(image).__name__
            raise ValueError(f"image must be a (3, H, W) tensor in [0, 1], got {shape}")
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise ValueError(f"image is empty: shape {tuple(image.shape)}")
        self.reset_predictor()
        batch = self._resize_normalise(image.float().cpu())[None].to(self.device)
        self._features = self._encode(batch)
        self._orig_hw = [(int(image.shape[1]), int(image.shape[2]))]

    @torch.inference_mode()
    def set_image_batch(self, images: list) -> None:
        """Encode several images (each as in :meth:`set_image`) for :meth:`predict_batch`."""
        if not isinstance(images, list | tuple) or not images:
            raise ValueError("images must be a non-empty list of images")
        checked = [check_image(img, f"images[{i}]") for i, img in enumerate(images)]
        self.reset_predictor()
        batch = torch.stack([self._preprocess(img) for img in checked]).to(self.device)
        self._features = self._encode(batch)
        self._orig_hw = [img.shape[:2] for img in checked]
        self._is_batch = True

    def _encode(self, batch: torch.Tensor) -> ImageFeatures:
        feats = self._net.encode_image(batch)
        # still images see the learned "no memory" embedding, as in training
        feats.embed = self.model.add_no_memory(feats.embed)
        return feats

    def get_image_embedding(self) -> torch.Tensor:
        """(B, C, 64, 64) embedding of the current image(s)."""
        self._require_image()
        return self._features.embed

    def _require_image(self) -> None:
        if self._features is None:
            raise RuntimeError("no image is set: call set_image(image) before predicting")

    # ------------------------------------------------------------------ prompts
    @torch.inference_mode()
    def predict(
        self,
        point_coords=None,
        point_labels=None,
        box=None,
        mask_input=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for prompts on the current image.

        Args:
            point_coords: (N, 2) xy pixels of the input image, or (B, N, 2) for B prompts.
            point_labels: (N,) or (B, N): 1 positive, 0 negative.
            box: (4,) x0, y0, x1, y1 pixels, or (B, 4) boxes.
            mask_input: (1, 256, 256) low-res logits from an earlier call, or (B, 1, 256, 256).
            multimask_output: three masks for ambiguous prompts instead of one.
            return_logits: return logits instead of 0/1 masks.
            normalize_coords: coordinates are pixels of the input image (True) or already
                relative to the model input in [0, 1] (False).

        Returns:
            masks (C, H, W) float32, scores (C,), low_res_logits (C, 256, 256) (clamped to
            +/-32); each with a leading B for batched prompts.
        """
        self._require_image()
        _check_flags(multimask_output, return_logits, normalize_coords)
        return self._predict_one(
            0,
            point_coords,
            point_labels,
            box,
            mask_input,
            multimask_output,
            return_logits,
            normalize_coords,
        )

    @torch.inference_mode()
    def predict_batch(
        self,
        point_coords_batch=None,
        point_labels_batch=None,
        box_batch=None,
        mask_input_batch=None,
        multimask_output: bool = True,
        return_logits: bool = False,
        normalize_coords: bool = True,
    ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """:meth:`predict` for each image of :meth:`set_image_batch`; lists of results."""
        self._require_image()
        _check_flags(multimask_output, return_logits, normalize_coords)
        if not self._is_batch:
            raise RuntimeError("predict_batch needs set_image_batch(images) first")
        count = len(self._orig_hw)

        def pick(values, i):
            if values is None:
                return None
            if len(values) != count:
                raise PromptError(
                    f"expected one prompt entry per image ({count}), got {len(values)}"
                )
            return values[i]

        results = [
            self._predict_one(
                i,
                pick(point_coords_batch, i),
                pick(point_labels_batch, i),
                pick(box_batch, i),
                pick(mask_input_batch, i),
                multimask_output,
                return_logits,
                normalize_coords,
            )
            for i in range(count)
        ]
        masks, scores, logits = (list(part) for part in zip(*results, strict=False))
        return masks, scores, logits

    def _predict_one(
        self,
        index,
        point_coords,
        point_labels,
        box,
        mask_input,
        multimask_output,
        return_logits,
        normalize_coords,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        height, width = self._orig_hw[index]
        coords, labels = prompt_points(
            point_coords,
            point_labels,
            box,
            width=width,
            height=height,
            image_size=self.model.image_size,
            normalize=normalize_coords,
        )
        if coords is not None:
            coords, labels = coords.to(self.device), labels.to(self.device)
        masks_in = self._mask_prompt(mask_input)
        feats = self._features.select(index)
        prompt_encoder = self.model.sam_prompt_encoder
        points = None if coords is None else (coords, labels)
        sparse, dense = prompt_encoder(points=points, boxes=None, masks=masks_in)
        low_res, ious, _, _ = self.model.sam_mask_decoder(
            image_embeddings=feats.embed,
            image_pe=prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=coords is not None and coords.shape[0] > 1,
            high_res_features=feats.high_res,
        )
        masks = self._postprocess(low_res.float(), (height, width))
        low_res = low_res.float().clamp(-32.0, 32.0)
        if not return_logits:
            masks = (masks > self.mask_threshold).float()

        def to_numpy(t: torch.Tensor) -> np.ndarray:
            t = t.float().cpu()
            return (t[0] if t.shape[0] == 1 else t).numpy()

        return to_numpy(masks), to_numpy(ious), to_numpy(low_res)

    @torch.inference_mode()
    def predict_torch(
        self,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor | None = None,
        multimask_output: bool = True,
        normalize_coords: bool = True,
        image_index: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode a batch of point prompts: torch in, torch out, nothing upsampled.

        The fast path under :meth:`predict` for many prompts at once (the automatic mask
        generator). Inputs are not checked beyond their shapes.

        Args:
            point_coords: (B, N, 2) xy pixels of the image (or [0, 1] when not
                ``normalize_coords``); one prompt of N points per row.
            point_labels: (B, N) 1 positive, 0 negative.
            mask_input: (B, 1, 256, 256) low-res logits from an earlier call, or None.
            multimask_output: three masks per prompt instead of one.
            image_index: which image of :meth:`set_image_batch` (0 after :meth:`set_image`).

        Returns:
            low_res_logits (B, C, 256, 256) float32 as the decoder gives them (not clamped;
            :meth:`upscale_logits` turns them into masks of the image's size) and
            ious (B, C) float32.
        """
        self._require_image()
        if point_coords.ndim != 3 or point_coords.shape[-1] != 2:
            raise PromptError(f"point_coords must be (B, N, 2), got {tuple(point_coords.shape)}")
        if tuple(point_labels.shape) != tuple(point_coords.shape[:2]):
            raise PromptError(
                f"point_labels must be (B, N) = {tuple(point_coords.shape[:2])}, "
                f"got {tuple(point_labels.shape)}"
            )
        height, width = self._orig_hw[image_index]
        if normalize_coords:
            coords = to_model_coords(point_coords, width, height, self.model.image_size, True)
        else:
            coords = point_coords.float() * self.model.image_size
        coords = coords.to(self.device)
        labels = point_labels.to(device=self.device, dtype=torch.int32)
        masks_in = None if mask_input is None else mask_input.float().to(self.device)
        feats = self._features.select(image_index)
        prompt_encoder = self.model.sam_prompt_encoder
        sparse, dense = prompt_encoder(points=(coords, labels), boxes=None, masks=masks_in)
        low_res, ious, _, _ = self.model.sam_mask_decoder(
            image_embeddings=feats.embed,
            image_pe=prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            repeat_image=coords.shape[0] > 1,
            high_res_features=feats.high_res,
        )
        return low_res.float(), ious.float()

    @torch.inference_mode()
    def upscale_logits(
        self, low_res: torch.Tensor, size: tuple[int, int] | None = None
    ) -> torch.Tensor:
        """Low-res logits (B, C, 256, 256) -> (B, C, H, W) logits, as :meth:`predict` makes its
        masks: holes and specks removed (``max_hole_area``, ``max_sprinkle_area``), then
        bilinear upsampling to ``size`` (default: the current image's (H, W))."""
        if size is None:
            self._require_image()
            size = self._orig_hw[0]
        return self._postprocess(low_res.float(), (int(size[0]), int(size[1])))

    def _mask_prompt(self, mask_input) -> torch.Tensor | None:
        if mask_input is None:
            return None
        mask = torch.as_tensor(np.asarray(mask_input), dtype=torch.float32)
        if mask.ndim == 3:
            mask = mask[None]
        side = self.model.low_res_size
        if mask.ndim != 4 or mask.shape[1] != 1 or tuple(mask.shape[-2:]) != (side, side):
            raise PromptError(
                f"mask_input must be low-res logits of shape (1, {side}, {side}) (as returned "
                f"by a previous predict), got {tuple(mask.shape)}"
            )
        if not torch.isfinite(mask).all():
            raise PromptError("mask_input contains NaN or infinite values")
        return mask.to(self.device)

    def _postprocess(self, low_res: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Optional hole/speck removal on low-res logits, then upsample to (H, W)."""
        if self.max_hole_area > 0 or self.max_sprinkle_area > 0:
            flat = low_res.flatten(0, 1)[:, None] - self.mask_threshold  # (B*C, 1, h, w)
            # holes and specks are both found in the masks as decoded (as the official code
            # does): a filled hole must not make a speck around it look bigger
            cleaned = fill_holes(flat, int(self.max_hole_area), 10.0)
            if self.max_sprinkle_area > 0:
                despeckled = remove_sprinkles(flat, int(self.max_sprinkle_area))
                # speck pixels were foreground and are now at -10: the only changed ones
                cleaned = torch.where(despeckled != flat, despeckled, cleaned)
            low_res = (cleaned + self.mask_threshold).reshape(low_res.shape)
        return F.interpolate(low_res, size=hw, mode="bilinear", align_corners=False)
