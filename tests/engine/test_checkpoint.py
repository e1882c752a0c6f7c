"""Tests for sam2_engine.checkpoint: reading, identifying, strict loading, atomic saving."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from sam2_engine.checkpoint import (
    MAX_LISTED,
    apply_state_dict,
    identify_model,
    read_checkpoint,
    save_checkpoint,
)
from sam2_engine.configs import MODEL_NAMES
from sam2_engine.errors import CheckpointError, CheckpointMismatchError, Sam2EngineError
from tests.support.official_shapes import official_manifest


def meta_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The official state dict of ``name`` as shape-only ``meta`` tensors (no memory used)."""
    entries = official_manifest(name)
    return {k: torch.empty(v["shape"], device="meta") for k, v in entries.items()}


class Tiny(nn.Module):
    """A small stand-in model: two layers and a buffer."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.a = nn.Linear(3, width)
        self.b = nn.Linear(width, 2)
        self.register_buffer("scale", torch.ones(2))


# --------------------------------------------------------------------------- read / save


def test_save_then_read_roundtrip(tmp_path: Path) -> None:
    model = Tiny()
    path = save_checkpoint(model, tmp_path / "sub" / "m.pt")
    assert path == tmp_path / "sub" / "m.pt"
    raw = torch.load(path, weights_only=True)
    assert list(raw) == ["model"]  # the official format
    sd = read_checkpoint(path)
    assert sd.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        assert torch.equal(sd[k], v)
        assert sd[k].device.type == "cpu"
    assert [p.name for p in path.parent.iterdir()] == ["m.pt"]  # no temp file left


def test_save_state_dict_and_wrapped_dict(tmp_path: Path) -> None:
    sd = {"w": torch.arange(3.0)}
    save_checkpoint(sd, tmp_path / "a.pt")
    save_checkpoint({"model": sd}, tmp_path / "b.pt")
    for name in ("a.pt", "b.pt"):
        raw = torch.load(tmp_path / name, weights_only=True)
        assert list(raw) == ["model"] and torch.equal(raw["model"]["w"], sd["w"])


def test_save_overwrites_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint({"w": torch.zeros(2)}, tmp_path / "m.pt")

    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint({"w": torch.ones(2)}, path)
    monkeypatch.undo()
    assert torch.equal(read_checkpoint(path)["w"], torch.zeros(2))  # old file intact
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # temp file removed


def test_read_bare_state_dict(tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2), "b": torch.zeros(1)}, tmp_path / "bare.pt")
    assert set(read_checkpoint(tmp_path / "bare.pt")) == {"w", "b"}


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found.*nope.pt"):
        read_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="not a file"):
        read_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty"),
        (b"hello world, definitely not a checkpoint " * 5, "corrupt or truncated"),
        (b"<html><body>404 Not Found</body></html>", "HTML"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n", "LFS"),
    ],
    ids=["empty", "garbage", "html", "lfs"],
)
def test_read_not_a_checkpoint(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value)
    assert "again" in str(info.value)  # says what to do


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_read_truncated(tmp_path: Path, keep: float) -> None:
    good = tmp_path / "good.pt"
    save_checkpoint({"w": torch.randn(1000)}, good)
    data = good.read_bytes()
    bad = tmp_path / "trunc.pt"
    bad.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        read_checkpoint(bad)


class _NotATensor:
    pass


def test_read_refuses_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "obj.pt"
    torch.save({"model": {"w": torch.ones(1)}, "cfg": _NotATensor()}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        read_checkpoint(path)


def test_read_no_model_key(tmp_path: Path) -> None:
    path = tmp_path / "trainer.pt"
    torch.save({"optimizer": {"lr": 0.1}, "epoch": 3, "net": {"w": torch.ones(1)}}, path)
    with pytest.raises(CheckpointError, match="no 'model' key") as info:
        read_checkpoint(path)
    for key in ("'optimizer'", "'epoch'", "'net'"):
        assert key in str(info.value)


def test_read_wrong_container(tmp_path: Path) -> None:
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a dict"):
        read_checkpoint(tmp_path / "list.pt")
    torch.save({"model": {"w": torch.ones(1), "step": 5}}, tmp_path / "mixed.pt")
    with pytest.raises(CheckpointError, match="not tensors.*step"):
        read_checkpoint(tmp_path / "mixed.pt")


# --------------------------------------------------------------------------- identify


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_identify_official_models(name: str) -> None:
    sd = meta_state_dict(name)
    assert identify_model(sd) == name
    assert identify_model({"model": sd}) == name


def test_identify_tiny_and_small_differ_only_in_blocks() -> None:
    small = meta_state_dict("sam2.1_hiera_small")
    blocks = [k for k in small if k.startswith("image_encoder.trunk.blocks.12.")]
    assert blocks
    for k in blocks:  # drop one block: 15 blocks fit no preset
        del small[k]
    assert identify_model(small) is None


def test_identify_unknown() -> None:
    assert identify_model({}) is None
    assert identify_model({"w": torch.ones(3)}) is None
    fake = {
        "image_encoder.trunk.patch_embed.proj.weight": torch.empty(64, 3, 7, 7, device="meta"),
        "image_encoder.trunk.pos_embed": torch.empty(1, 64, 7, 7, device="meta"),
    }
    assert identify_model(fake) is None


# --------------------------------------------------------------------------- apply


def test_apply_good_state_dict() -> None:
    source, target = Tiny(), Tiny()
    with torch.no_grad():
        source.scale.fill_(3.0)
    apply_state_dict(target, source.state_dict(), "tiny", "memory")
    for k, v in source.state_dict().items():
        assert torch.equal(target.state_dict()[k], v)


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_apply_reports_everything_and_loads_nothing() -> None:
    target = Tiny()
    before = _snapshot(target)
    sd = {k: torch.full_like(v, 7.0) for k, v in Tiny(width=5).state_dict().items()}
    del sd["b.bias"]  # missing
    sd["c.weight"] = torch.zeros(1)  # unexpected
    with pytest.raises(CheckpointMismatchError) as info:
        apply_state_dict(target, sd, "my_model", "/data/ckpt.pt")
    err = info.value
    msg = str(err)
    assert "/data/ckpt.pt" in msg and "'my_model'" in msg and "nothing was loaded" in msg
    assert "Missing keys (1): b.bias" in msg
    assert "Unexpected keys (1): c.weight" in msg
    assert "a.weight: expected [4, 3], found [5, 3]" in msg
    assert "b.weight: expected [2, 4], found [2, 5]" in msg
    assert err.missing == ["b.bias"] and err.unexpected == ["c.weight"]
    assert {k for k, _, _ in err.mismatched} == {"a.weight", "a.bias", "b.weight"}
    assert err.source == "/data/ckpt.pt" and err.identified is None
    assert isinstance(err, CheckpointError) and isinstance(err, Sam2EngineError)
    # No partial load: even the keys that fit ("scale") were not copied.
    for k, v in target.state_dict().items():
        assert torch.equal(v, before[k])


def test_apply_caps_long_lists() -> None:
    model = nn.Sequential(*[nn.Linear(1, 1) for _ in range(30)])
    with pytest.raises(CheckpointMismatchError) as info:
        apply_state_dict(model, {}, "seq", "empty.pt")
    msg = str(info.value)
    assert "Missing keys (60)" in msg
    assert f"and {60 - MAX_LISTED} more" in msg
    assert len(info.value.missing) == 60  # the attribute keeps the full list


def test_apply_suggests_the_right_model() -> None:
    sd = meta_state_dict("sam2.1_hiera_small")  # meta tensors: never copied
    with pytest.raises(CheckpointMismatchError) as info:
        apply_state_dict(Tiny(), sd, "sam2_hiera_tiny", "sam2.1_hiera_small.pt")
    msg = str(info.value)
    assert "pass model='sam2.1_hiera_small'" in msg
    assert info.value.identified == "sam2.1_hiera_small"
    assert "Unexpected keys (519)" in msg and "and 499 more" in msg


def test_apply_meta_model_with_assign() -> None:
    source = Tiny()
    with torch.device("meta"):
        target = Tiny()
    apply_state_dict(target, source.state_dict(), "tiny", "memory", assign=True)
    assert target.a.weight.device.type == "cpu"
    assert torch.equal(target.a.weight, source.a.weight)
