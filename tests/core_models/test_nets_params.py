"""Parameter counts against the COVID-CT-Mask-Net publication (6.12M, 11.45M, 31.78M)."""
from __future__ import annotations

import pytest

from core_models.nets import build_model, count_parameters

#: (builder, builder args, published size in millions)
PUBLISHED = [
    ("maskrcnn_light", {"backbone": "resnet18", "truncation": 1}, 6.12),
    ("maskrcnn_light", {"backbone": "resnet34", "truncation": 1}, 11.45),
    ("maskrcnn_resnet50_fpn", {}, 31.78),
]


@pytest.mark.parametrize(("name", "args", "published"), PUBLISHED)
def test_parameter_count_matches_the_publication(name: str, args: dict, published: float) -> None:
    counts = {mt: count_parameters(build_model(name, mask_type=mt, **args)) / 1e6 for mt in ("both", "merge")}
    print(f"{name} {args}: both {counts['both']:.3f}M, merge {counts['merge']:.3f}M, published {published}M")
    for millions in counts.values():
        assert abs(millions - published) / published < 0.10
    # the mask type changes only the predictors' output width: under 0.1% of the model
    assert 0 < counts["both"] - counts["merge"] < 0.001 * published
    # the published size counts the detector without module S, with the seed's anchors (30 per location)
    assert abs(counts["both"] - published) / published < 0.02


def test_the_light_heads_are_much_smaller_than_torchvision_defaults() -> None:
    light = build_model("maskrcnn_light", backbone="resnet18", truncation=1)
    box_head = count_parameters(light.roi_heads.box_head)
    mask_head = count_parameters(light.roi_heads.mask_head) + count_parameters(light.roi_heads.mask_predictor)
    assert box_head == 256 * 7 * 7 * 128 + 128 + 128 * 128 + 128
    assert mask_head < 400_000  # one 128-channel conv + deconv, vs ~2.6M for torchvision's 4×256 head
