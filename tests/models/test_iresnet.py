"""iResNet backbones: arcface_torch parameter names/shapes, fc size per input size, registry and loading."""

from __future__ import annotations

import json

import pytest
import torch

from x2softmax.models import BACKBONES, build_backbone, load_backbone
from x2softmax.models.iresnet import stage_output_size

torch.set_num_threads(1)


def arcface_torch_shapes(layers: list[int], embedding_size: int = 512) -> dict[str, tuple[int, ...]]:
    """Expected state_dict of arcface_torch's IResNet (widths 64..512, 112x112 input), written out from its code."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 3, 3)
    bn("bn1", 64)
    shapes["prelu.weight"] = (64,)
    inplanes = 64
    for stage, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512), strict=True), start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            bn(f"{p}.bn1", inplanes)
            shapes[f"{p}.conv1.weight"] = (planes, inplanes, 3, 3)
            bn(f"{p}.bn2", planes)
            shapes[f"{p}.prelu.weight"] = (planes,)
            shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn3", planes)
            if b == 0:
                shapes[f"{p}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes)
            inplanes = planes
    bn("bn2", 512)
    shapes["fc.weight"] = (embedding_size, 512 * 7 * 7)
    shapes["fc.bias"] = (embedding_size,)
    bn("features", embedding_size)
    return shapes


def test_r50_state_dict_matches_arcface_torch_names_and_shapes():
    model = build_backbone("r50")
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == arcface_torch_shapes([3, 4, 14, 3])
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(43.6e6, rel=0.01)
    assert not model.features.weight.requires_grad
    assert torch.all(model.features.weight == 1)


@pytest.mark.parametrize("name", ["r18", "r34"])
def test_other_depths_follow_the_same_layout(name):
    layers = list(BACKBONES[name][0])
    got = {k: tuple(v.shape) for k, v in build_backbone(name, embedding_size=256).state_dict().items()}
    assert got == arcface_torch_shapes(layers, embedding_size=256)


@pytest.mark.parametrize(("size", "side"), [(112, 7), (56, 4), (32, 2)])
def test_fc_input_follows_input_size(size, side):
    assert stage_output_size(size) == side
    model = build_backbone("iresnet_tiny", embedding_size=8, input_size=size).eval()
    assert model.fc.in_features == 128 * side * side
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 8)


def test_small_and_tiny_widths_and_depths():
    small = build_backbone("iresnet_small", input_size=56).state_dict()
    tiny = build_backbone("iresnet_tiny", input_size=56).state_dict()
    assert small["conv1.weight"].shape[0] == 32 and small["layer4.1.conv2.weight"].shape[0] == 256
    assert "layer1.2.bn1.weight" not in small
    assert tiny["conv1.weight"].shape[0] == 16 and tiny["layer4.0.conv2.weight"].shape[0] == 128
    assert "layer1.1.bn1.weight" not in tiny


def test_unknown_backbone_lists_the_names():
    with pytest.raises(ValueError, match="iresnet_tiny"):
        build_backbone("resnet9000")


def test_load_backbone_from_summary_and_from_bare_state_dict(tmp_path):
    torch.manual_seed(0)
    model = build_backbone("iresnet_tiny", embedding_size=16, input_size=32).eval()
    torch.save(model.state_dict(), tmp_path / "backbone.pt")
    spec = {"model": {"backbone": "iresnet_tiny", "embedding_size": 16, "input_size": 32, "dropout": 0.0}}
    (tmp_path / "summary.json").write_text(json.dumps({"spec": spec}))
    x = torch.randn(3, 3, 32, 32)
    loaded, model_spec = load_backbone(tmp_path / "backbone.pt")
    assert model_spec["input_size"] == 32 and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    bare = tmp_path / "bare"
    bare.mkdir()
    torch.save(model.state_dict(), bare / "model.pt")
    loaded, model_spec = load_backbone(bare / "model.pt", name="iresnet_tiny", input_size=32)
    assert model_spec["embedding_size"] == 16
    with pytest.raises(FileNotFoundError, match="summary.json"):
        load_backbone(bare / "model.pt")
    with pytest.raises(ValueError, match="does not fit"):
        load_backbone(bare / "model.pt", name="iresnet_small", input_size=32)
    (bare / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        load_backbone(bare / "junk.pt", name="iresnet_tiny")
