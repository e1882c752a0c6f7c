"""Mask decoder: a two-way transformer over output tokens and the image map, then heads.

Output tokens are, in order, [object-score token, IoU token, 4 mask tokens], followed by the
sparse prompt tokens. Mask token 0 predicts the single mask, tokens 1..3 the three
alternatives of the multimask output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sam2_engine.modeling.common import MLP, LayerNorm2d
from sam2_engine.modeling.two_way_transformer import TwoWayTransformer


class MaskDecoder(nn.Module):
    """Predicts mask logits, IoU estimates, mask tokens and an object score from prompts."""

    def __init__(
        self,
        *,
        transformer_dim: int = 256,
        num_multimask_outputs: int = 3,
        depth: int = 2,
        num_heads: int = 8,
        mlp_dim: int = 2048,
        use_high_res_features: bool = True,
        pred_obj_scores: bool = True,
        pred_obj_scores_mlp: bool = True,
        use_multimask_token_for_obj_ptr: bool = True,
        iou_prediction_use_sigmoid: bool = True,
        dynamic_multimask_via_stability: bool = True,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
    ) -> None:
        """
        Args:
            transformer_dim: token and image width C (256).
            num_multimask_outputs: alternatives in the multimask output (3).
            depth / num_heads / mlp_dim: two-way transformer shape.
            use_high_res_features: add the stride-4 and stride-8 backbone maps (already
                projected by ``conv_s0`` / ``conv_s1``) during upsampling.
            pred_obj_scores: predict an object-presence logit from a dedicated token; otherwise
                the logit is a constant 10.
            pred_obj_scores_mlp: the object-score head is a 3-layer MLP instead of a Linear.
            use_multimask_token_for_obj_ptr: with multimask output, return tokens 1..3 as
                ``sam_tokens_out`` instead of token 0.
            iou_prediction_use_sigmoid: squash the IoU predictions with a sigmoid.
            dynamic_multimask_via_stability: in eval mode without multimask output, fall back
                to the best multimask output when the single mask is unstable.
            dynamic_multimask_stability_delta: logit margin of the stability score.
            dynamic_multimask_stability_thresh: stability below which the fallback happens.
        """
        super().__init__()
        c = transformer_dim
        self.transformer_dim = c
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1
        self.use_high_res_features = use_high_res_features
        self.pred_obj_scores = pred_obj_scores
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh

        self.transformer = TwoWayTransformer(depth, c, num_heads, mlp_dim)
        self.iou_token = nn.Embedding(1, c)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, c)
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, c)

        # stride 16 -> 4: two 2x2 transposed convs, C -> C/4 -> C/8
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(c, c // 4, kernel_size=2, stride=2),
            LayerNorm2d(c // 4),
            nn.GELU(),
            nn.ConvTranspose2d(c // 4, c // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(c, c // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(c, c // 4, kernel_size=1)

        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(c, c, c // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            c, 256, self.num_mask_tokens, 3, sigmoid_output=iou_prediction_use_sigmoid
        )
        if pred_obj_scores:
            self.pred_obj_score_head = MLP(c, c, 1, 3) if pred_obj_scores_mlp else nn.Linear(c, 1)

    def forward(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        repeat_image: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            image_embeddings: (Bi, C, h, w) stride-16 image map.
            image_pe: (1, C, h, w) from ``PromptEncoder.get_dense_pe``.
            sparse_prompt_embeddings: (B, N, C) prompt tokens.
            dense_prompt_embeddings: (B, C, h, w) dense prompt.
            multimask_output: return the 3 alternative masks instead of a single one.
            repeat_image: repeat each image B times (Bi = 1 for one image, many prompts);
                otherwise Bi must equal B.
            high_res_features: [stride-4 (B, C/8, 4h, 4w), stride-8 (B, C/4, 2h, 2w)] maps,
                required when ``use_high_res_features``.

        Returns:
            masks (B, M, 4h, 4w) logits with M = 3 or 1; iou_pred (B, M); sam_tokens_out
            (B, M', C) the mask tokens for the object pointer (M' = 3 with multimask output
            and ``use_multimask_token_for_obj_ptr``, else 1); object_score_logits (B, 1).
        """
        masks, iou_pred, mask_tokens, obj_logits = self.predict_all(
            image_embeddings,
            image_pe,
            sparse_prompt_embeddings,
            dense_prompt_embeddings,
            repeat_image,
            high_res_features,
        )
        if multimask_output:
            masks, iou_pred = masks[:, 1:], iou_pred[:, 1:]
        elif self.dynamic_multimask_via_stability and not self.training:
            masks, iou_pred = self._single_or_fallback(masks, iou_pred)
        else:
            masks, iou_pred = masks[:, :1], iou_pred[:, :1]

        if multimask_output and self.use_multimask_token_for_obj_ptr:
            sam_tokens_out = mask_tokens[:, 1:]  # (B, 3, C)
        else:
            sam_tokens_out = mask_tokens[:, :1]  # (B, 1, C)
        return masks, iou_pred, sam_tokens_out, obj_logits

    def predict_all(
        self,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        repeat_image: bool,
        high_res_features: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """All mask-token outputs, before any selection (arguments as in ``forward``).

        Returns:
            masks (B, 4, 4h, 4w), iou_pred (B, 4), mask tokens (B, 4, C), object logits (B, 1),
            in the dtype of the decoder's weights: image maps computed in a reduced precision
            are converted to it.
        """
        dtype = self.iou_token.weight.dtype
        image_embeddings = image_embeddings.to(dtype)
        if high_res_features is not None:
            high_res_features = [f.to(dtype) for f in high_res_features]
        b = sparse_prompt_embeddings.shape[0]
        heads = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            heads.insert(0, self.obj_score_token.weight)
        out_tokens = torch.cat(heads).to(sparse_prompt_embeddings.dtype)  # (T, C)
        out_tokens = out_tokens[None].expand(b, -1, -1)  # (B, T, C)
        tokens = torch.cat((out_tokens, sparse_prompt_embeddings), dim=1)  # (B, T + N, C)

        if repeat_image:
            if image_embeddings.shape[0] == 1:
                image = image_embeddings
            else:
                image = image_embeddings.repeat_interleave(b, dim=0)  # (Bi * B, C, h, w)
        else:
            if image_embeddings.shape[0] != b:
                raise ValueError(
                    f"image batch {image_embeddings.shape[0]} != prompt batch {b} "
                    "(pass repeat_image=True to share one image)"
                )
            image = image_embeddings
        # broadcasting expands a single image over the prompt batch
        image = image + dense_prompt_embeddings  # (B, C, h, w)
        if image.shape[0] != b:
            image = image.expand(b, -1, -1, -1)
        if image_pe.shape[0] != 1:
            raise ValueError("image_pe must have batch size 1 (from get_dense_pe)")
        _, c, h, w = image.shape

        tokens, image = self.transformer(image, image_pe, tokens)  # (B, T+N, C), (B, hw, C)
        s = 1 if self.pred_obj_scores else 0
        iou_token = tokens[:, s]  # (B, C)
        mask_tokens = tokens[:, s + 1 : s + 1 + self.num_mask_tokens]  # (B, 4, C)

        hyper = torch.stack(
            [mlp(mask_tokens[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )  # (B, 4, C/8)
        masks = self._upscale_and_predict(image.reshape(b, h, w, c), hyper, high_res_features)

        iou_pred = self.iou_prediction_head(iou_token)  # (B, 4)
        if self.pred_obj_scores:
            obj_logits = self.pred_obj_score_head(tokens[:, 0])  # (B, 1)
        else:
            obj_logits = iou_pred.new_full((b, 1), 10.0)
        return masks, iou_pred, mask_tokens, obj_logits

    def _upscale_and_predict(
        self,
        image: torch.Tensor,
        hyper: torch.Tensor,
        high_res_features: list[torch.Tensor] | None,
    ) -> torch.Tensor:
        """Upsample the image map x4 and take its dot product with each mask token's vector.

        The map stays channels-last throughout: the transposed convolutions are fastest on CPU
        in that layout, and the channel LayerNorm and the final dot product then read
        contiguous channels.

        Args:
            image: (B, h, w, C) image map from the transformer.
            hyper: (B, M, C/8) per-mask vectors from the hypernetwork MLPs.
            high_res_features: [stride-4 (B, C/8, 4h, 4w), stride-8 (B, C/4, 2h, 2w)] or None;
                channels-last tensors save a transpose each.

        Returns:
            (B, M, 4h, 4w) mask logits.
        """
        up1, norm1, act1, up2, act2 = self.output_upscaling
        if self.use_high_res_features and high_res_features is None:
            raise ValueError("this decoder uses high-res features; pass [feat_s0, feat_s1]")
        x = up1(image.permute(0, 3, 1, 2))  # (B, C/4, 2h, 2w), channels-last strides
        if self.use_high_res_features:
            x = x + high_res_features[1]
        x = x.permute(0, 2, 3, 1)  # (B, 2h, 2w, C/4)
        x = F.layer_norm(x, x.shape[-1:], norm1.weight, norm1.bias, norm1.eps)
        x = up2(act1(x).permute(0, 3, 1, 2))  # (B, C/8, 4h, 4w)
        if self.use_high_res_features:
            x = x + high_res_features[0]
        x = act2(x).permute(0, 2, 3, 1)  # (B, 4h, 4w, C/8)
        b, hh, ww, c8 = x.shape
        masks = x.reshape(b, hh * ww, c8) @ hyper.transpose(1, 2)  # (B, 4h*4w, M)
        return masks.transpose(1, 2).reshape(b, -1, hh, ww)  # (B, M, 4h, 4w)

    def stability_scores(self, mask_logits: torch.Tensor) -> torch.Tensor:
        """IoU of the masks thresholded at +delta and -delta: (..., H, W) -> (...)."""
        logits = mask_logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        inner = (logits > delta).sum(-1).float()
        outer = (logits > -delta).sum(-1).float()
        return torch.where(outer > 0, inner / outer.clamp(min=1), 1.0)

    def _single_or_fallback(
        self, masks: torch.Tensor, iou_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mask 0 where it is stable, else the multimask output with the best IoU.

        (B, 4, H, W), (B, 4) -> (B, 1, H, W), (B, 1).
        """
        best = iou_pred[:, 1:].argmax(dim=-1) + 1  # (B,)
        rows = torch.arange(masks.shape[0], device=masks.device)
        best_masks = masks[rows, best][:, None]  # (B, 1, H, W)
        best_iou = iou_pred[rows, best][:, None]  # (B, 1)
        stable = self.stability_scores(masks[:, :1]) >= self.dynamic_multimask_stability_thresh
        masks_out = torch.where(stable[..., None, None], masks[:, :1], best_masks)
        iou_out = torch.where(stable, iou_pred[:, :1], best_iou)
        return masks_out, iou_out
