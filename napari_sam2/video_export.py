"""Video editing outputs: what a video editor needs from a video and its tracked masks.

:func:`export_video` reads a frame source (anything ``open_frames`` accepts) and a ``(T, H, W)``
label stack frame by frame and writes one of five kinds of output, keeping the frame size, the
frame count and the frame rate:

============  ===========================================  =====================================
kind          what                                         output (codec; first is the default)
============  ===========================================  =====================================
masks         8-bit masks, 255 inside, 0 outside            a folder: ``frame_000000.png`` ...
matte         alpha-matte video: white object on black      .mp4 .m4v (libx264), .mov (libx264,
                                                            prores_ks, qtrle), .mkv (ffv1
                                                            lossless, libx264), .avi (ffv1)
cutout        the object with real (straight) alpha         .mov (ProRes 4444 ``prores_ks``,
                                                            qtrle), .mkv (ffv1 lossless), .webm
                                                            (VP9 with alpha), a folder (RGBA PNG)
background    the background replaced by a colour/image     as matte
overlay       coloured masks with outlines over the video   as matte
============  ===========================================  =====================================

Alpha (``masks``, ``matte``, ``cutout``, ``background``) is the union of the selected objects,
optionally dilated (``dilate`` px; negative erodes) and feathered (Gaussian blur, ``feather`` =
sigma in px). Non-8-bit sources go through the source's contrast (``read_rgb``); cut-outs and
backgrounds of such sources are written with 16-bit samples where the codec holds more than 8
bits (ProRes: 10, FFV1 and PNG: 16). H.264 frames of odd width or height are written as 4:4:4
(4:2:0 needs even sizes), so nothing is padded or cropped. VP9 alpha needs the ``libvpx-vp9``
decoder to read back (FFmpeg's native ``vp9`` decoder drops it).

Files are written to ``<output>.partial`` and renamed to ``<output>`` when complete; on an error
the partial output is removed, so a file under the final name is always complete. Existing
outputs follow the project's rules (:mod:`sam2_engine.publish`): replaced only with
``overwrite`` and only if napari-sam2 wrote them; a PNG folder keeps a manifest of its images,
and replacing it removes only those; an output that is an input (or holds one) is refused.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from napari_sam2._video_io import (
    FOLDER,
    FRAME_FORMAT,
    KINDS,
    LAYOUT,
    OUTPUTS,
    ExportError,
    available_codecs,
    choose_codec,
    decode_frames,
    open_writer,
    output_suffix,
)
from sam2_engine.publish import Publication

__all__ = [
    "KINDS",
    "OUTPUTS",
    "ExportError",
    "available_codecs",
    "decode_frames",
    "export_video",
    "label_colors",
    "mask_alpha",
    "object_borders",
    "overlay_frame",
]

#: Opacity of the mask fill in overlays (outlines are opaque).
OVERLAY_OPACITY = 0.45

#: Frame rate used when neither the source nor the caller gives one.
DEFAULT_FPS = 10

# --------------------------------------------------------------------------------------------
# Pure helpers: colours, alpha, overlays
# --------------------------------------------------------------------------------------------


def label_colors(ids: Iterable[int]) -> dict[int, tuple[int, int, int]]:
    """A bright RGB colour per object id, fixed by the id alone (the same on every frame and in
    every run): hues spread by the golden angle, so neighbouring ids differ clearly."""
    colors = {}
    for obj_id in ids:
        value = int(obj_id)
        if value <= 0:
            continue
        hue = (0.1 + value * 0.618033988749895) % 1.0
        saturation = 0.85 if value % 2 else 0.65
        r, g, b = colorsys.hsv_to_rgb(hue, saturation, 1.0)
        colors[value] = (round(r * 255), round(g * 255), round(b * 255))
    return colors


def mask_alpha(
    labels: np.ndarray,
    objects: Sequence[int] | None = None,
    *,
    dilate: int = 0,
    feather: float = 0.0,
) -> np.ndarray:
    """The alpha of the selected objects in one label image: ``(H, W)`` float32 in [0, 1].

    Arguments:
        labels: (H, W) integer labels, 0 background.
        objects: ids to keep (default: every non-zero label).
        dilate: grow the mask by this many pixels (Euclidean distance); negative shrinks it.
        feather: sigma, in pixels, of a Gaussian blur of the (dilated) mask; 0 keeps it hard.
    """
    from scipy import ndimage

    labels = np.asarray(labels)
    mask = labels != 0 if objects is None else np.isin(labels, list(objects))
    if dilate > 0 and mask.any():
        mask = ndimage.distance_transform_edt(~mask) <= dilate
    elif dilate < 0:
        mask = ndimage.distance_transform_edt(mask) > -dilate
    alpha = mask.astype(np.float32)
    if feather > 0:
        alpha = ndimage.gaussian_filter(alpha, sigma=feather, mode="nearest")
    return np.clip(alpha, 0.0, 1.0)


def object_borders(labels: np.ndarray, width: int = 1) -> np.ndarray:
    """``(H, W)`` bool: the pixels of each object within ``width`` px of another label (its
    inner border). The image edge is not a border."""
    from scipy import ndimage

    labels = np.asarray(labels)
    if width == 1:
        footprint = ndimage.generate_binary_structure(2, 1)
    else:
        footprint = np.ones((2 * width + 1, 2 * width + 1), bool)
    grown = ndimage.grey_dilation(labels, footprint=footprint, mode="nearest")
    shrunk = ndimage.grey_erosion(labels, footprint=footprint, mode="nearest")
    return (labels != 0) & ((grown != labels) | (shrunk != labels))


def overlay_frame(
    rgb: np.ndarray,
    labels: np.ndarray,
    colors: Mapping[int, Sequence[int]] | None = None,
    alpha: float = OVERLAY_OPACITY,
    outline: bool = True,
) -> np.ndarray:
    """Colour each object of ``labels`` over ``rgb``: a fill at opacity ``alpha`` and an opaque
    outline. Pixels outside every object are unchanged.

    Arguments:
        rgb: (H, W, 3) uint8, or float in [0, 1].
        labels: (H, W) integer labels, 0 background.
        colors: id -> (r, g, b) 0..255; default :func:`label_colors`. Ids without a colour
            are left uncoloured.
        alpha: opacity of the fill.
        outline: draw each object's border (1 px, 2 px from 720 px frames on).

    Returns:
        (H, W, 3) uint8.
    """
    frame = _as_float(rgb)
    labels = np.asarray(labels)
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels are {labels.shape}, the frame is {frame.shape[:2]}")
    ids = [int(i) for i in np.unique(labels) if i != 0]
    colors = label_colors(ids) if colors is None else colors
    lut_ids = [i for i in ids if i in colors]
    if lut_ids:
        # (H, W, 3) colour per pixel and the opacity of each pixel
        paint = np.zeros_like(frame)
        opacity = np.zeros(labels.shape, np.float32)
        for obj_id in lut_ids:
            inside = labels == obj_id
            paint[inside] = np.asarray(colors[obj_id], np.float32) / 255.0
            opacity[inside] = alpha
        if outline:
            border_width = 2 if min(labels.shape) >= 720 else 1
            edge = object_borders(labels, border_width) & (opacity > 0)
            opacity[edge] = 1.0
        frame = frame * (1.0 - opacity[..., None]) + paint * opacity[..., None]
    return _quantize(frame, deep=False)


def _as_float(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float [0, 1] -> float32 [0, 1]."""
    rgb = np.asarray(rgb)
    if rgb.dtype == np.uint8:
        return rgb.astype(np.float32) / 255.0
    return np.clip(rgb.astype(np.float32, copy=False), 0.0, 1.0)


def _quantize(values: np.ndarray, deep: bool) -> np.ndarray:
    """Float [0, 1] -> uint8, or uint16 when ``deep``."""
    top = 65535 if deep else 255
    out = np.rint(np.clip(values, 0.0, 1.0) * top)
    return out.astype(np.uint16 if deep else np.uint8)


# --------------------------------------------------------------------------------------------
# export_video
# --------------------------------------------------------------------------------------------


def export_video(
    video: Any,
    labels: Any,
    output: str | os.PathLike,
    kind: str,
    *,
    objects: Sequence[int] | None = None,
    background: Any = None,
    feather: float = 0.0,
    dilate: int = 0,
    fps: float | Fraction | None = None,
    codec: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    first_frame: int | None = None,
) -> Path:
    """Write a video (or image sequence) made from ``video`` and its ``labels``.

    Arguments:
        video: the frames: anything :func:`sam2_engine.frames.open_frames` accepts (a video
            file, TIFF, zarr, image folder, numpy or dask array, a ``FrameSource``).
        labels: ``(T, H, W)`` integer labels (0 background, object id elsewhere) as a numpy,
            dask or zarr array, a ``FrameSource``, or the path of a TIFF or zarr label stack;
            H and W must be the video's; T the video's too, unless ``first_frame`` says
            which video frame ``labels[0]`` belongs to.
        output: the file to write; its suffix picks the container (see the module docstring),
            no suffix means a folder of PNG images (``masks``, ``cutout``).
        kind: ``"masks"``, ``"matte"``, ``"cutout"``, ``"background"`` or ``"overlay"``.
        objects: the object ids to show (default: all).
        background: for ``kind="background"`` only: a colour (``"#rrggbb"``, a name such as
            ``"black"`` or ``"green"``, or an (r, g, b) tuple in 0..255), an image file resized
            to the frame, or an (H, W, 3) array. Default black.
        feather: sigma in px of a Gaussian blur of the alpha (not for overlays).
        dilate: grow the masks by this many px, or shrink them if negative (not for overlays).
        fps: frame rate; default the source's (a video's container rate), else 10.
        codec: an encoder for the container (see :func:`available_codecs`); default the
            first available.
        overwrite: replace an existing ``output`` that napari-sam2 wrote (a folder of PNG
            images: only the images it wrote there); anything else is never replaced.
        progress: show a tqdm progress bar.
        first_frame: the video frame of ``labels[0]`` when the labels cover only frames
            ``first_frame .. first_frame + T - 1`` (e.g. ``track(..., frames=...)``); the
            output then has those T frames. None: labels and video have the same frames.

    Returns:
        The path written.

    Raises:
        ExportError (a ``ValueError``): unknown kind, container or codec, a codec this
            installation lacks (the message lists what is available), bad options, or labels
            that do not match the video.
        FileExistsError: ``output`` exists and ``overwrite`` is False, or napari-sam2 did not
            write it.
        ValueError: ``output`` is the input video or labels, or lies inside or around them.
    """
    from tqdm.auto import tqdm

    from sam2_engine.frames import open_frames

    output = Path(output)
    suffix = output_suffix(output, kind)
    spec = choose_codec(kind, suffix, codec)
    _check_options(kind, background, feather, dilate)
    publication = Publication(
        output,
        overwrite=overwrite,
        inputs=[video, labels],
        folder=suffix == FOLDER,
        what=f"export-video --kind {kind}",
    )
    source = label_source = None
    try:
        source = open_frames(video)
        label_source = _open_labels(labels, source, first_frame)
        offset = first_frame or 0
        rate = _frame_rate(source, fps)
        layout = LAYOUT[kind]
        deep = (
            kind in ("cutout", "background")
            and layout in spec.deep_pix_fmt
            and source.metadata.get("intensity") != "uint8"
        )
        make_frame = _frame_maker(kind, objects, dilate, feather, background, source.shape, deep)
        writer = open_writer(publication.partial, suffix, spec, layout, deep, source.shape, rate)
        try:
            with tqdm(
                total=len(label_source),
                desc=f"{kind} -> {output.name}",
                unit="frame",
                disable=not progress,
            ) as bar:
                for index in range(len(label_source)):
                    rgb = None if layout == "gray" else source.read_rgb(offset + index)
                    frame = make_frame(rgb, np.asarray(label_source.read(index)))
                    writer.write(frame, FRAME_FORMAT[(layout, deep)])
                    bar.update()
            writer.close()
        except BaseException:
            writer.abort()
            raise
        output = publication.commit()
    finally:
        publication.abandon()  # a no-op once published: else the partial goes, the lock too
        for opened, given in ((source, video), (label_source, labels)):
            if opened is not None and opened is not given:  # not the caller's own source
                opened.close()
    return output


def _check_options(kind: str, background: Any, feather: float, dilate: int) -> None:
    if background is not None and kind != "background":
        raise ExportError(f"background= applies to kind='background' only, not {kind!r}")
    if kind == "overlay" and (feather or dilate):
        raise ExportError("feather= and dilate= shape alpha masks; an overlay has none")
    if not feather >= 0:
        raise ExportError(f"feather is a blur sigma in pixels, >= 0; got {feather!r}")
    if int(dilate) != dilate:
        raise ExportError(f"dilate is a whole number of pixels; got {dilate!r}")


def label_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a label file napari-sam2 writes (a format of its sink registry)."""
    from sam2_engine.sinks import format_for

    try:
        format_for(path)
    except ValueError:
        return False
    return Path(path).exists()


def open_label_file(path: str | os.PathLike) -> Any:
    """A label file of the sink registry as a (T, H, W) array."""
    from sam2_engine.sinks import open_labels

    return open_labels(path)


def _open_labels(labels: Any, source: Any, first_frame: int | None = None) -> Any:
    """``labels`` as a frame source of raw (H, W) label images matching ``source``."""
    from sam2_engine.frames import FrameSource, open_frames

    if isinstance(labels, (str, os.PathLike)) and label_file(labels):
        labels = open_label_file(labels)  # e.g. the labels group of an OME-Zarr, not its image
    opened = labels if isinstance(labels, FrameSource) else open_frames(labels, axes="TYX")
    try:
        if opened.dtype.kind not in "iub":
            raise ExportError(f"labels must be integers (0 background), got dtype {opened.dtype}")
        found, expected = (len(opened), *opened.shape), (len(source), *source.shape)
        if first_frame is None:
            fits = len(opened) == len(source)
        else:
            fits = first_frame >= 0 and first_frame + len(opened) <= len(source)
        if found[1:] != expected[1:] or not fits:
            where = f" starting at video frame {first_frame}" if first_frame else ""
            raise ExportError(
                f"labels are {found[0]} frames of {found[1]} x {found[2]}{where}, the video is "
                f"{expected[0]} frames of {expected[1]} x {expected[2]}"
            )
    except BaseException:
        if opened is not labels:
            opened.close()
        raise
    return opened


def _frame_rate(source: Any, fps: float | Fraction | None) -> Fraction:
    value = fps if fps is not None else source.metadata.get("fps") or DEFAULT_FPS
    rate = Fraction(value).limit_denominator(1001)  # 29.97... -> 30000/1001
    if rate <= 0:
        raise ExportError(f"fps must be positive, got {value!r}")
    return rate


def _background_image(background: Any, shape: tuple[int, int]) -> np.ndarray:
    """The background as float32 in [0, 1], (H, W, 3) or a (3,) colour."""
    from PIL import Image, ImageColor

    height, width = shape
    if background is None:
        background = "black"
    if isinstance(background, np.ndarray):
        if background.shape != (height, width, 3):
            raise ExportError(
                f"a background array must be (H, W, 3) = {(height, width, 3)}, "
                f"got {background.shape}"
            )
        return _as_float(background)
    if isinstance(background, (str, os.PathLike)) and Path(background).is_file():
        with Image.open(background) as image:
            image = image.convert("RGB")
            if image.size != (width, height):
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            return _as_float(np.asarray(image))
    if isinstance(background, str):
        try:
            color = ImageColor.getrgb(background)[:3]
        except ValueError:
            raise ExportError(
                f"background {background!r} is neither an image file nor a colour "
                "('#rrggbb' or a name such as 'black', 'white', 'green')"
            ) from None
    else:
        color = tuple(background)
        if len(color) != 3 or not all(0 <= c <= 255 for c in color):
            raise ExportError(f"a background colour is (r, g, b) in 0..255, got {background!r}")
    return np.asarray(color, np.float32) / 255.0


def _frame_maker(
    kind: str,
    objects: Sequence[int] | None,
    dilate: int,
    feather: float,
    background: Any,
    shape: tuple[int, int],
    deep: bool,
) -> Callable[[np.ndarray | None, np.ndarray], np.ndarray]:
    """A function (rgb frame or None, labels) -> the output frame of ``kind``."""
    ids = None if objects is None else [int(i) for i in objects]

    def alpha_of(labels: np.ndarray) -> np.ndarray:
        return mask_alpha(labels, ids, dilate=int(dilate), feather=feather)

    if kind in ("masks", "matte"):
        return lambda rgb, labels: _quantize(alpha_of(labels), deep=False)
    if kind == "cutout":
        return lambda rgb, labels: _quantize(
            np.dstack([_as_float(rgb), alpha_of(labels)]), deep=deep
        )
    if kind == "background":
        fill = _background_image(background, shape)

        def replace_background(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
            alpha = alpha_of(labels)[..., None]
            return _quantize(_as_float(rgb) * alpha + fill * (1.0 - alpha), deep=deep)

        return replace_background

    def overlay(rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
        if ids is not None:
            labels = np.where(np.isin(labels, ids), labels, 0)
        return overlay_frame(rgb, labels)

    return overlay
