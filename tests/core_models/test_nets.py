"""Registered Mask R-CNN builders: training losses, eval outputs, options and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.ops import FrozenBatchNorm2d

from core_models.errors import InputError, ModelError
from core_models.nets import build_model, num_classes_for, registered_models
from core_models.nets.semantic import semantic_loss

#: small settings so every forward pass stays fast on a shared CPU
FAST = dict(min_size=128, max_size=128, box_batch_size_per_image=32, rpn_post_nms_top_n_train=200,
            rpn_post_nms_top_n_test=100, box_detections_per_img=8)


def _targets(n: int = 2, size: tuple[int, int] = (128, 128), semantic: bool = False) -> list[dict]:
    out = []
    for _ in range(n):
        masks = torch.zeros((2, *size), dtype=torch.uint8)
        masks[0, 20:60, 30:70] = 1
        masks[1, 70:110, 60:110] = 1
        target = {"boxes": torch.tensor([[30.0, 20, 70, 60], [60, 70, 110, 110]]),
                  "labels": torch.tensor([1, 2]), "masks": masks}
        if semantic:
            target["semantic"] = (masks[0].long() + 2 * masks[1].long()).clamp(max=2)
        out.append(target)
    return out


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def test_registry_lists_the_seed_builders() -> None:
    assert {"maskrcnn_light", "maskrcnn_resnet50_fpn"} <= set(registered_models())


@pytest.mark.parametrize("name", registered_models())
def test_every_builder_trains_and_detects(name: str) -> None:
    model = build_model(name, **FAST)
    images = [torch.rand(3, 128, 128) for _ in range(2)]
    model.train()
    losses = model(images, _targets())
    assert {"loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)

    model.eval()
    with torch.no_grad():
        detections = model(images)
    assert len(detections) == 2
    for det in detections:
        n = len(det["scores"])
        assert 0 < n <= FAST["box_detections_per_img"]
        assert det["masks"].shape == (n, 1, 128, 128)
        assert det["mask_logits"].shape == (n, 28, 28)
        assert bool((det["scores"][:-1] >= det["scores"][1:]).all())


def test_mask_logits_are_the_detected_class_logits_not_pasted() -> None:
    model = build_model("maskrcnn_light", mask_type="both", **FAST).eval()
    image = torch.rand(3, 100, 140)
    with torch.no_grad():
        det = model([image])[0]
    # pasting sigmoid(mask_logits) ourselves reproduces torchvision's pasted masks
    pasted = paste_masks_in_image(det["mask_logits"].sigmoid()[:, None], det["boxes"], (100, 140))
    assert torch.allclose(pasted, det["masks"], atol=1e-5)
    assert bool((det["labels"] >= 1).all()) and bool((det["labels"] <= 2).all())


def test_boxes_come_back_in_original_pixels_and_pasting_is_optional() -> None:
    model = build_model("maskrcnn_light", paste_masks=False, **{**FAST, "min_size": 64, "max_size": 64}).eval()
    seen: list[torch.Tensor] = []
    model.roi_heads.register_forward_hook(lambda _m, _i, out: seen.append(out[0][0]["boxes"].clone()))
    image = torch.rand(3, 96, 160)  # resized to 38×64 inside the model
    with torch.no_grad():
        det = model([image])[0]
    assert "masks" not in det and det["mask_logits"].shape[1:] == (28, 28)
    scale = torch.tensor([160 / 64, 96 / 38, 160 / 64, 96 / 38])
    assert torch.allclose(det["boxes"], seen[0] * scale, atol=1e-3)


def test_semantic_head_trains_and_returns_logits_at_original_size() -> None:
    model = build_model("maskrcnn_light", semantic_head=True, norm="group", **FAST)
    model.train()
    losses = model([torch.rand(3, 128, 128)], _targets(1, semantic=True))
    assert "loss_semantic" in losses and float(losses["loss_semantic"].detach()) > 0
    model.eval()
    with torch.no_grad():
        det = model([torch.rand(3, 90, 120)])[0]
    assert det["semantic_logits"].shape == (3, 90, 120)


@pytest.mark.parametrize("truncation", [1, 2])
def test_semantic_skips_feed_finer_layers_into_the_dense_head(truncation: int) -> None:
    plain = build_model("maskrcnn_light", semantic_head=True, norm="group", truncation=truncation, **FAST)
    skipped = build_model("maskrcnn_light", semantic_head=True, semantic_skips=True, norm="group",
                          truncation=truncation, **FAST)
    expected = {1: {"s4", "s8"}, 2: {"s4"}}[truncation]  # only layers finer than the kept one
    assert set(skipped.backbone.skip_channels) == expected
    assert set(skipped.semantic_head.skip_proj) == expected
    # everything but the dense head keeps its names and shapes (older checkpoints still load)
    outside = lambda m: {k: v.shape for k, v in m.state_dict().items() if not k.startswith("semantic_head.")}
    assert outside(plain) == outside(skipped)
    skipped.train()
    loss = skipped([torch.rand(3, 128, 128)], _targets(1, semantic=True))["loss_semantic"]
    loss.backward()
    for name in expected:  # each skip path carries gradient
        grad = skipped.semantic_head.skip_proj[name][0].weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0
    skipped.eval()
    with torch.no_grad():
        det = skipped([torch.rand(3, 90, 120)])[0]
    assert det["semantic_logits"].shape == (3, 90, 120)
    assert not skipped._skips  # no feature maps kept alive between calls


def test_semantic_skips_without_the_head_change_nothing() -> None:
    model = build_model("maskrcnn_light", semantic_skips=True, norm="group", **FAST)
    assert model.semantic_head is None and model.backbone.skip_channels == {}


def test_semantic_loss_rewards_the_right_labels() -> None:
    target = torch.zeros(16, 16, dtype=torch.long)
    target[4:10, 4:10] = 1
    target[12:, 12:] = 2
    perfect = torch.nn.functional.one_hot(target, 3).permute(2, 0, 1)[None].float() * 20
    uniform = torch.zeros(1, 3, 16, 16)
    good = semantic_loss(perfect, [target], [(16, 16)], [(16, 16)])
    flat = semantic_loss(uniform, [target], [(16, 16)], [(16, 16)])
    assert float(good) < 0.01
    assert float(flat) > float(torch.log(torch.tensor(3.0)))  # CE alone is log 3, plus Dice
    with pytest.raises(InputError):
        semantic_loss(uniform, [target + 5], [(16, 16)], [(16, 16)])


@pytest.mark.parametrize("mask_type", ["both", "ggo", "merge"])
def test_mask_type_sets_the_class_count(mask_type: str) -> None:
    model = build_model("maskrcnn_light", mask_type=mask_type, truncation=2)
    n = num_classes_for(mask_type)
    assert model.roi_heads.box_predictor.cls_score.out_features == n
    assert model.roi_heads.mask_predictor.mask_fcn_logits.out_channels == n


def test_norm_choices_change_the_backbone_layers() -> None:
    def kinds(model: nn.Module) -> set[type]:
        return {type(m) for m in model.backbone.body.modules()}

    assert nn.BatchNorm2d in kinds(build_model("maskrcnn_light", norm="batch"))
    assert FrozenBatchNorm2d in kinds(build_model("maskrcnn_light", norm="frozen_batch"))
    group = kinds(build_model("maskrcnn_light", norm="group"))
    assert nn.GroupNorm in group and nn.BatchNorm2d not in group


def test_light_truncation_picks_the_fpn_input() -> None:
    for truncation, channels in ((0, 512), (1, 256), (2, 128)):
        model = build_model("maskrcnn_light", truncation=truncation)
        assert model.backbone.fpn.inner_blocks[0][0].in_channels == channels
        assert len(model.backbone.fpn.inner_blocks) == 1
        assert model.rpn.anchor_generator.num_anchors_per_location() == [30]


def test_larger_anchors_and_per_level_anchors() -> None:
    light = build_model("maskrcnn_light", anchor_sizes=(8, 16, 32, 64, 128), anchor_ratios=(0.5, 1, 2))
    assert light.rpn.head.cls_logits.out_channels == 15
    full = build_model("maskrcnn_resnet50_fpn", anchor_sizes=[[8, 16], [32, 48], [64, 96], [128, 192]],
                       anchor_ratios=(0.5, 1, 2))
    assert full.rpn.anchor_generator.sizes[3] == (128.0, 192.0)
    with pytest.raises(ModelError):
        build_model("maskrcnn_resnet50_fpn", anchor_sizes=[[8], [16, 32], [64], [128]])


@pytest.mark.parametrize("kwargs", [dict(truncation=3), dict(backbone="resnet101"), dict(norm="instance"),
                                    dict(mask_type="lesion"), dict(no_such_option=1), dict(anchor_sizes=())])
def test_bad_builder_arguments_raise_model_error(kwargs: dict) -> None:
    with pytest.raises(ModelError):
        build_model("maskrcnn_light", **kwargs)


def test_unknown_builder_raises_model_error() -> None:
    with pytest.raises(ModelError, match="unknown model builder"):
        build_model("unet_9000")


def test_bad_images_and_targets_raise_input_error() -> None:
    model = build_model("maskrcnn_light", **FAST)
    model.eval()
    with pytest.raises(InputError):
        model([torch.rand(1, 64, 64)])
    with pytest.raises(InputError):
        model([])
    model.train()
    with pytest.raises(InputError):
        model([torch.rand(3, 64, 64)])
    bad = _targets(1)
    bad[0]["boxes"] = torch.tensor([[30.0, 20, 10, 60], [60, 70, 110, 110]])
    with pytest.raises(InputError, match="positive width"):
        model([torch.rand(3, 128, 128)], bad)


def test_label_map_equals_argmax_including_ties() -> None:
    from core_models.nets.semantic import label_map

    torch.manual_seed(3)
    logits = torch.randn(3, 37, 41)
    logits[:, :4] = torch.round(logits[:, :4])  # integer values: many ties between classes
    logits[1, 5, :] = logits[0, 5, :]  # exact ties of the first two classes
    logits[2, 6, :] = logits[1, 6, :] = logits[0, 6, :] + 1  # tie of the last two, above the first
    labels = label_map(logits)
    assert labels.dtype == np.uint8 and labels.shape == (37, 41)
    assert np.array_equal(labels, logits.argmax(0).numpy())
    assert (labels[6] == 1).all() and (labels[5] != 1).all()  # a tie goes to the lower label
    half = torch.randn(5, 8, 8).half()  # more classes, and fp16 logits as autocast gives them
    assert np.array_equal(label_map(half), half.float().argmax(0).numpy())
    with pytest.raises(InputError):
        label_map(torch.randn(8, 8))
