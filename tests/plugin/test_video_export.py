"""Video editing outputs: every file is decoded again and compared with the source and masks."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from napari_sam2 import _video_io, video_export
from napari_sam2.video_export import (
    ExportError,
    decode_frames,
    export_video,
    label_colors,
    mask_alpha,
    object_borders,
    overlay_frame,
)
from sam2_engine.frames import open_frames
from sam2_engine.publish import NotOurOutputError
from sam2_engine.sinks import open_sink

T, H, W = 6, 48, 64
RATE = Fraction(30000, 1001)


def _labels(frames: int, height: int, width: int) -> np.ndarray:
    """Two moving rectangles: object 1 and object 2."""
    labels = np.zeros((frames, height, width), np.uint8)
    for t in range(frames):
        labels[t, 8:30, 6 + 2 * t : 26 + 2 * t] = 1
        labels[t, 30:44, 36 : 58 - t] = 2
    return labels


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 6-frame 48 x 64 H.264 clip at 29.97 fps, its labels, and its decoded frames."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    yy, xx = np.mgrid[:H, :W]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for t in range(T):
            rgb = np.stack([(xx * 4 + t * 10) % 256, yy * 5, np.full_like(xx, 90)], -1)
            frame = av.VideoFrame.from_ndarray(rgb.astype(np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    source = open_frames(path)
    decoded = np.stack([source.read_rgb(i) for i in range(T)])
    source.close()
    return path, _labels(T, H, W), decoded


def _rate(path) -> Fraction:
    with av.open(str(path)) as container:
        return container.streams.video[0].average_rate


def _inside(mask: np.ndarray, margin: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``margin`` px or more inside and outside ``mask`` (codecs ring near edges)."""
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1).reshape((1,) * (mask.ndim - 2) + (3, 3))
    inside = ndimage.binary_erosion(mask, structure, iterations=margin)  # within each frame
    outside = ndimage.binary_erosion(~mask, structure, iterations=margin)
    return inside, outside


# ------------------------------------------------------------------------------ pure helpers
def test_label_colors_depend_on_the_id_only():
    colors = label_colors([3, 1, 2])
    assert colors[1] == label_colors([1])[1] and colors[3] == label_colors([9, 3])[3]
    assert len(set(label_colors(range(1, 11)).values())) == 10
    assert label_colors([0]) == {}


def test_mask_alpha_dilate_erode_feather():
    labels = np.zeros((40, 40), np.uint8)
    labels[10:30, 10:30] = 1
    labels[2:5, 2:5] = 2
    hard = mask_alpha(labels, [1])
    assert hard.dtype == np.float32 and hard.sum() == 400  # object 2 not selected
    assert mask_alpha(labels).sum() == 409
    grown = mask_alpha(labels, [1], dilate=2)
    assert grown[8, 20] == 1 and grown[7, 20] == 0 and grown.sum() > 400
    shrunk = mask_alpha(labels, [1], dilate=-2)
    assert shrunk[12, 20] == 1 and shrunk[11, 20] == 0 and shrunk.sum() == 16 * 16
    soft = mask_alpha(labels, [1], feather=2.0)
    assert 0 < soft[9, 20] < 0.5 < soft[10, 20] < 1  # graded across the edge
    assert soft[20, 20] == pytest.approx(1.0) and soft[0, 39] == pytest.approx(0.0, abs=1e-6)
    assert soft.sum() == pytest.approx(400, rel=0.02)  # a blur keeps the area


def test_overlay_frame_changes_only_object_pixels():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    labels = np.zeros((30, 40), np.uint8)
    labels[5:20, 5:25] = 4
    out = overlay_frame(rgb, labels, alpha=0.5)
    changed = np.any(out != rgb, axis=-1)
    assert not changed[labels == 0].any()
    assert changed[labels == 4].mean() > 0.95
    border = object_borders(labels)
    assert border.sum() == 2 * (15 + 20) - 4 and not border[labels == 0].any()
    color = label_colors([4])[4]
    assert (out[border] == color).all()  # opaque outline in the object's colour
    inner = (labels == 4) & ~border
    expected = np.rint(rgb[inner] * 0.5 + np.asarray(color) * 0.5)
    assert np.abs(out[inner].astype(int) - expected).max() <= 1
    plain = overlay_frame(rgb.astype(np.float32) / 255, labels, outline=False)
    assert (plain[border] != color).any()


# ------------------------------------------------------------------------------ outputs
def test_masks_png_sequence(clip, tmp_path):
    path, labels, _ = clip
    out = export_video(path, labels, tmp_path / "masks", "masks", objects=[2], progress=False)
    files = sorted(out.glob("*.png"))
    assert [f.name for f in files] == [f"frame_{i:06d}.png" for i in range(T)]
    for t, file in enumerate(files):
        with Image.open(file) as image:
            assert image.mode == "L" and image.size == (W, H)
            np.testing.assert_array_equal(np.asarray(image), (labels[t] == 2) * 255)


def test_matte_mp4_keeps_count_size_and_rate(clip, tmp_path):
    path, labels, _ = clip
    out = export_video(path, labels, tmp_path / "matte.mp4", "matte", progress=False)
    matte = decode_frames(out, "gray")
    assert matte.shape == (T, H, W) and _rate(out) == RATE
    mask = labels > 0
    inside, outside = _inside(mask)
    assert matte[inside].min() >= 250 and matte[outside].max() <= 8
    assert np.abs(matte.astype(int) - mask * 255).mean() < 1


def test_matte_ffv1_is_exact_and_feathered(clip, tmp_path):
    path, labels, _ = clip
    out = export_video(path, labels, tmp_path / "matte.mkv", "matte", feather=1.5, progress=False)
    matte = decode_frames(out, "gray")
    expected = [np.rint(mask_alpha(labels[t], feather=1.5) * 255) for t in range(T)]
    np.testing.assert_array_equal(matte, np.stack(expected).astype(np.uint8))
    assert ((matte > 0) & (matte < 255)).any()


@pytest.mark.parametrize(
    ("name", "alpha_tol", "rgb_tol"),
    [("cut.mov", 1, 3), ("cut.mkv", 0, 0), ("cut.webm", 8, 16), ("cut_png", 0, 0)],
)
def test_cutout_has_alpha_matching_the_mask(clip, tmp_path, name, alpha_tol, rgb_tol):
    path, labels, decoded = clip
    out = export_video(path, labels, tmp_path / name, "cutout", dilate=1, progress=False)
    if out.is_dir():
        rgba = np.stack([decode_frames(f, "rgba")[0] for f in sorted(out.glob("*.png"))])
    else:
        assert _rate(out) == RATE
        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            assert stream.frames in (0, T)
            if name.endswith(".mov"):
                assert stream.codec_context.name == "prores"
                assert stream.codec_context.profile == "4444"
                assert stream.codec_context.pix_fmt.startswith("yuva444p")
            if name.endswith(".webm"):
                assert stream.metadata.get("alpha_mode") == "1"
        rgba = decode_frames(out, "rgba")
    assert rgba.shape == (T, H, W, 4)
    expected_alpha = np.stack([mask_alpha(labels[t], dilate=1) for t in range(T)]) * 255
    alpha_error = np.abs(rgba[..., 3].astype(int) - expected_alpha)
    inside, outside = _inside(expected_alpha > 0, margin=1)
    assert alpha_error[inside | outside].max() <= alpha_tol
    assert alpha_error.mean() <= max(alpha_tol, 0.5)
    rgb_error = np.abs(rgba[..., :3].astype(int) - decoded)[inside]
    assert rgb_error.max() <= rgb_tol  # straight alpha: the source's colours, untouched


def test_cutout_of_16_bit_frames_keeps_16_bits(tmp_path):
    rng = np.random.default_rng(2)
    frames = rng.integers(1000, 5000, (3, 20, 30), dtype=np.uint16)
    labels = _labels(3, 20, 30)
    source = open_frames(frames, contrast_limits=(1000, 5000))
    out = export_video(source, labels, tmp_path / "cut16", "cutout", progress=False)
    first = decode_frames(sorted(out.glob("*.png"))[0], "rgba64le")[0]
    assert first.dtype == np.uint16
    expected = np.rint(np.asarray(source.read_rgb(0)) * 65535)
    np.testing.assert_array_equal(first[..., :3], expected)
    assert len(np.unique(first[..., 0])) > 256  # more levels than 8 bits can hold
    np.testing.assert_array_equal(first[..., 3], (labels[0] > 0) * 65535)


def test_background_colour_replaces_only_the_background(clip, tmp_path):
    path, labels, decoded = clip
    out = export_video(
        path, labels, tmp_path / "bg.mkv", "background", background="#3366cc", progress=False
    )
    frames = decode_frames(out, "rgb24")
    assert frames.shape == (T, H, W, 3) and _rate(out) == RATE
    mask = labels > 0
    assert (frames[~mask] == (0x33, 0x66, 0xCC)).all()
    np.testing.assert_array_equal(frames[mask], decoded[mask])


def test_background_image_odd_size_mp4_from_an_array(tmp_path):
    """No video metadata: 10 fps; odd sizes kept exactly (H.264 4:4:4)."""
    frames = np.full((4, 33, 41, 3), 200, np.uint8)
    labels = _labels(4, 33, 41)
    image = tmp_path / "beach.png"
    Image.fromarray(np.full((10, 12, 3), (10, 120, 30), np.uint8)).save(image)
    out = export_video(
        frames, labels, tmp_path / "bg.mp4", "background", background=image, progress=False
    )
    decoded = decode_frames(out, "rgb24")
    assert decoded.shape == (4, 33, 41, 3) and _rate(out) == 10
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv444p"
    inside, outside = _inside(labels > 0, margin=3)
    assert np.abs(decoded[outside].astype(int) - (10, 120, 30)).max() <= 6
    assert np.abs(decoded[inside].astype(int) - 200).max() <= 6


def test_overlay_differs_only_on_objects(clip, tmp_path):
    path, labels, decoded = clip
    out = export_video(path, labels, tmp_path / "overlay.mkv", "overlay", progress=False)
    frames = decode_frames(out, "rgb24")
    assert frames.shape == (T, H, W, 3) and _rate(out) == RATE
    changed = np.any(frames != decoded, axis=-1)
    assert not changed[labels == 0].any()
    assert changed[labels > 0].mean() > 0.9
    colors = label_colors([1, 2])
    for t in range(T):  # every outline pixel carries its object's colour on every frame
        border = object_borders(labels[t])
        assert (frames[t][border & (labels[t] == 1)] == colors[1]).all()
        assert (frames[t][border & (labels[t] == 2)] == colors[2]).all()
    mp4 = export_video(
        path, labels, tmp_path / "overlay.mp4", "overlay", objects=[1], fps=12, progress=False
    )
    assert decode_frames(mp4).shape == (T, H, W, 3) and _rate(mp4) == 12


def test_labels_from_a_tiff_path(clip, tmp_path):
    import tifffile

    path, labels, _ = clip
    tiff = tmp_path / "labels.tif"
    tifffile.imwrite(tiff, labels, imagej=True, metadata={"axes": "TYX"})
    out = export_video(path, tiff, tmp_path / "m.mkv", "matte", progress=False)
    np.testing.assert_array_equal(decode_frames(out, "gray"), (labels > 0) * 255)


# ------------------------------------------------------------------------------ bad input
def test_replaces_only_its_own_outputs_and_only_when_asked(clip, tmp_path):
    path, labels, _ = clip
    target = tmp_path / "matte.mkv"
    target.write_bytes(b"keep me")  # the user's file: never replaced
    with pytest.raises(FileExistsError, match="overwrite"):
        export_video(path, labels, target, "matte", progress=False)
    with pytest.raises(NotOurOutputError, match="did not write"):
        export_video(path, labels, target, "matte", overwrite=True, progress=False)
    assert target.read_bytes() == b"keep me"
    ours = tmp_path / "ours.mkv"
    export_video(path, labels, ours, "matte", progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        export_video(path, labels, ours, "matte", progress=False)
    export_video(path, labels, ours, "matte", overwrite=True, progress=False)  # ours: replaced
    assert decode_frames(ours, "gray").shape == (T, H, W)

    folder = tmp_path / "masks"
    folder.mkdir()  # an empty folder takes the images
    export_video(path, labels, folder, "masks", progress=False)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        export_video(path, labels, folder, "masks", progress=False)
    export_video(path, labels, folder, "masks", overwrite=True, progress=False)
    assert len(list(folder.glob("*.png"))) == T  # the images replaced, the notes kept
    assert (folder / "notes.txt").read_text() == "mine"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "frame_000000.png").write_bytes(b"not ours")
    with pytest.raises(NotOurOutputError):
        export_video(path, labels, theirs, "masks", overwrite=True, progress=False)
    assert (theirs / "frame_000000.png").read_bytes() == b"not ours"
    assert not list(tmp_path.glob("*.partial*"))


def test_labels_from_an_ome_zarr_are_its_labels_not_its_image(clip, tmp_path):
    path, labels, decoded = clip
    store = tmp_path / "tracked.ome.zarr"
    with open_sink(store, labels.shape, labels.dtype, source=lambda i: decoded[i]) as sink:
        for t, frame in enumerate(labels):
            sink.write_labels(t, frame)
    from_zarr = export_video(path, store, tmp_path / "a", "masks", progress=False)
    from_array = export_video(path, labels, tmp_path / "b", "masks", progress=False)
    for a, b in zip(sorted(from_zarr.glob("*.png")), sorted(from_array.glob("*.png")), strict=True):
        np.testing.assert_array_equal(decode_frames(a, "gray"), decode_frames(b, "gray"))


def test_refuses_to_write_onto_or_into_its_inputs(clip, tmp_path):
    path, labels, _ = clip
    before = Path(path).read_bytes()
    with pytest.raises(ValueError, match="is the input"):
        export_video(path, labels, path, "overlay", overwrite=True, progress=False)
    frames = tmp_path / "frames"
    frames.mkdir()
    for t in range(T):
        Image.fromarray(np.full((H, W), t, np.uint8)).save(frames / f"{t:03d}.png")
    with pytest.raises(ValueError, match="is the input"):
        export_video(frames, labels, frames, "masks", overwrite=True, progress=False)
    assert Path(path).read_bytes() == before and len(list(frames.iterdir())) == T


def test_unknown_kind_codec_or_container(clip, tmp_path):
    path, labels, _ = clip
    with pytest.raises(ExportError, match="masks, matte, cutout, background, overlay"):
        export_video(path, labels, tmp_path / "x.mp4", "sparkles", progress=False)
    with pytest.raises(ExportError, match=r"libx264.*prores_ks.*qtrle"):
        export_video(path, labels, tmp_path / "x.mov", "matte", codec="h265", progress=False)
    with pytest.raises(ExportError, match=r"\.mov \(prores_ks, qtrle\)"):
        export_video(path, labels, tmp_path / "x.mp4", "cutout", progress=False)
    with pytest.raises(ExportError, match="background= applies"):
        export_video(path, labels, tmp_path / "x.mp4", "matte", background="red", progress=False)
    with pytest.raises(ExportError, match="neither an image file nor a colour"):
        export_video(path, labels, tmp_path / "x.mp4", "background", background="nope")
    with pytest.raises(ExportError, match="labels are 5 frames"):
        export_video(path, labels[:5], tmp_path / "x.mp4", "matte", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_missing_vp9_alpha_names_what_is_available(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(_video_io, "vp9_alpha_round_trip", lambda: False)
    path, labels, _ = clip
    with pytest.raises(ExportError, match=r"cannot encode libvpx-vp9 with alpha.*\.mov"):
        export_video(path, labels, tmp_path / "cut.webm", "cutout", progress=False)
    assert ".webm" not in video_export.available_codecs("cutout")


def test_an_error_midway_leaves_no_file(clip, tmp_path):
    path, labels, _ = clip

    class Failing(np.ndarray):
        def __getitem__(self, index):
            if np.ndim(index) == 0 and index == 3 or isinstance(index, tuple) and index[0] == 3:
                raise RuntimeError("disk on fire")
            return np.asarray(self)[index]

    failing = labels.view(Failing)
    with pytest.raises(Exception, match="disk on fire"):
        export_video(path, failing, tmp_path / "matte.mp4", "matte", progress=False)
    with pytest.raises(Exception, match="disk on fire"):
        export_video(path, failing, tmp_path / "masks", "masks", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_labels_of_a_frame_range(clip, tmp_path):
    """Labels for video frames 2..4 only (e.g. from track(frames=range(2, 5))) give a 3-frame
    output of those frames; a range that does not fit the video is refused."""
    path, labels, decoded = clip
    part = labels[2:5]
    out = export_video(
        path,
        part,
        tmp_path / "part.mkv",
        "background",
        background="black",
        first_frame=2,
        progress=False,
    )
    frames = decode_frames(out)
    assert len(frames) == 3
    inside = part[1] != 0
    assert np.abs(frames[1][inside].astype(int) - decoded[3][inside].astype(int)).max() <= 2
    with pytest.raises(ExportError, match="starting at video frame 4"):
        export_video(path, part, tmp_path / "bad.mkv", "matte", first_frame=4, progress=False)
    with pytest.raises(ExportError, match="labels are 3 frames"):
        export_video(path, part, tmp_path / "bad2.mkv", "matte", first_frame=-1, progress=False)
