"""Classification module S: RoI ranking, padding, loss, prediction and the seed's freezing recipe."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection._utils import BoxCoder

from core_models.errors import InputError, ModelError
from core_models.nets import (ClassificationModuleS, MaskRCNNClassifier, build_model, freeze_for_classifier,
                              rank_rois)
from core_models.nets.roi_ranking import pad_by_repetition

FAST = dict(min_size=96, max_size=96, rpn_post_nms_top_n_test=60, box_detections_per_img=8)
CODER = BoxCoder((10.0, 10.0, 5.0, 5.0))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def _classifier(variant: str = "seed", roi_batch: int = 16) -> MaskRCNNClassifier:
    detector = build_model("maskrcnn_light", truncation=2, mask_type="both", **FAST)
    return MaskRCNNClassifier(detector, roi_batch=roi_batch, s_features=32, variant=variant)


def test_padding_repeats_rows_in_order() -> None:
    rows = torch.tensor([[0.9, 1, 1, 1, 1], [0.5, 2, 2, 2, 2], [0.2, 3, 3, 3, 3]])
    padded = pad_by_repetition(rows, 8)
    assert padded.shape == (8, 5)
    assert bool((padded[:-1, 0] >= padded[1:, 0]).all())  # ranking kept
    counts = [int((padded[:, 1] == v).sum()) for v in (1, 2, 3)]
    assert min(counts) >= 2 and max(counts) - min(counts) <= 1
    assert torch.equal(pad_by_repetition(rows, 2), rows[:2])
    assert torch.equal(pad_by_repetition(rows[:0], 4), torch.zeros(4, 5))


def _separate_proposals() -> torch.Tensor:
    return torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 0, 70, 10]])


def test_ranking_sorts_by_class_score_and_keeps_raw_regression() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0], [0.0, -1.0, 3.0], [0.0, 0.5, 0.2], [5.0, 0.0, 0.0]])
    regression = torch.randn(4, 12) * 0.1
    rows = rank_rois(logits, regression, [_separate_proposals()], [(80, 80)], CODER, 8, 0.5, "seed")[0]
    scores = logits.softmax(-1)[:, 1:]
    expected = scores.reshape(-1).sort(descending=True).values
    assert torch.allclose(rows[:, 0], expected, atol=1e-6)  # 8 candidates, none overlapping
    best_proposal, best_class = divmod(int(scores.reshape(-1).argmax()), 2)
    assert torch.allclose(rows[0, 1:], regression.reshape(4, 3, 4)[best_proposal, best_class + 1])


def test_ranking_nms_and_padding_fill_r_rows() -> None:
    proposals = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [40, 40, 50, 50]])
    logits = torch.tensor([[0.0, 3.0, -9.0], [0.0, 2.0, -9.0], [0.0, 1.0, -9.0]])
    rows = rank_rois(logits, torch.zeros(3, 12), [proposals], [(60, 60)], CODER, 12, 0.5, "seed")[0]
    assert rows.shape == (12, 5)
    distinct = torch.unique(rows[:, 0])
    # proposals 0 and 1 coincide: in each class the one with the higher score of that class
    # survives (class-wise NMS): 6 candidates - 2 = 4 distinct scores
    assert len(distinct) == 4
    probs = logits.softmax(-1)

    def kept(p: torch.Tensor) -> bool:
        return bool(torch.isclose(distinct, p, rtol=1e-4, atol=0).any())

    assert kept(probs[0, 1]) and not kept(probs[1, 1])  # class 1: proposal 0 wins
    assert kept(probs[1, 2]) and not kept(probs[0, 2])  # class 2: proposal 1 wins
    assert bool((rows[:-1, 0] >= rows[1:, 0]).all())


def test_decoded_variant_gives_normalised_boxes() -> None:
    logits = torch.randn(4, 3)
    rows = rank_rois(logits, torch.zeros(4, 12), [_separate_proposals()], [(80, 100)], CODER, 8, 0.5, "decoded")[0]
    # zero regression decodes to the proposals themselves, divided by (W, H, W, H) = (100, 80, 100, 80)
    normalised = _separate_proposals() / torch.tensor([100.0, 80, 100, 80])
    for row in rows:
        assert any(torch.allclose(row[1:], box, atol=1e-5) for box in normalised)
    assert float(rows[:, 1:].min()) >= 0 and float(rows[:, 1:].max()) <= 1


def test_module_s_layers_follow_the_seed() -> None:
    s_module = ClassificationModuleS(roi_batch=128, s_features=512)
    shapes = [tuple(m.weight.shape) for m in s_module.modules() if isinstance(m, nn.Linear)]
    assert shapes == [(512, 5 * 128), (512, 512), (3, 512)]
    assert s_module(torch.rand(2, 128, 5)).shape == (2, 3)


def test_training_loss_is_bce_on_one_hot_of_the_eval_logits() -> None:
    model = freeze_for_classifier(_classifier())
    images = [torch.rand(3, 96, 96) for _ in range(2)]
    classes = torch.tensor([2, 0])
    model.eval()
    with torch.no_grad():
        logits = torch.stack([r["class_logits"] for r in model(images)])
    model.train()
    loss = model(images, [{"image_class": 2}, {"image_class": 0}])["loss_image_class"]
    expected = F.binary_cross_entropy_with_logits(logits, F.one_hot(classes, 3).float())
    assert torch.allclose(loss.detach(), expected, atol=1e-5)


def test_eval_predicts_argmax_with_r_ranked_rows() -> None:
    model = _classifier(variant="decoded", roi_batch=24).eval()
    with torch.no_grad():
        results = model([torch.rand(3, 96, 96)])
    result = results[0]
    assert int(result["class"]) == int(result["class_logits"].argmax())
    assert torch.isclose(result["class_probs"].sum(), torch.tensor(1.0))
    assert result["ranked_rois"].shape == (24, 5)
    assert bool((result["ranked_rois"][:-1, 0] >= result["ranked_rois"][1:, 0]).all())
    assert "boxes" in result and result["mask_logits"].shape[1:] == (28, 28)
    with torch.no_grad():
        only_class = model([torch.rand(3, 96, 96)], detections=False)[0]
    assert "boxes" not in only_class and only_class["ranked_rois"].shape == (24, 5)


@pytest.mark.parametrize("variant", ["seed", "decoded"])
def test_detections_share_the_box_head_pass_with_the_ranking(variant: str) -> None:
    # with detections, S's rows come from the RoI heads' own box-head pass; they must equal
    # the rows of a separate ranking pass (detections=False) and the class output with them
    model = _classifier(variant=variant, roi_batch=20).eval()
    images = [torch.rand(3, 96, 96), torch.rand(3, 80, 96)]
    calls = []
    handle = model.detector.roi_heads.box_head.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        shared = model(images)
        separate = model(images, detections=False)
    handle.remove()
    assert len(calls) == 2  # one box-head pass per forward, not two
    for a, b in zip(shared, separate):
        assert torch.allclose(a["ranked_rois"], b["ranked_rois"], atol=1e-6)
        assert torch.allclose(a["class_logits"], b["class_logits"], atol=1e-6)
        assert "boxes" in a and "boxes" not in b


def _bn_state(model: MaskRCNNClassifier) -> dict[str, torch.Tensor]:
    return {n: b.clone() for n, b in model.named_buffers() if "running" in n}


def test_freeze_trains_only_s_and_batchnorm_affine_with_stats_frozen() -> None:
    model = freeze_for_classifier(_classifier())
    model.train()
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(n.startswith("s_module.") or ".bn" in n or ".downsample.1." in n for n in trainable)
    stats = _bn_state(model)
    conv = model.detector.backbone.body.layer1[0].conv1.weight.clone()
    bn_weight = model.detector.backbone.body.bn1.weight.clone()
    s_weight = model.s_module.hidden1.weight.clone()

    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model([torch.rand(3, 96, 96) for _ in range(2)], torch.tensor([1, 2]))["loss_image_class"]
    loss.backward()
    optimiser.step()

    after = _bn_state(model)
    assert all(torch.equal(stats[k], after[k]) for k in stats)
    assert torch.equal(conv, model.detector.backbone.body.layer1[0].conv1.weight)
    assert not torch.equal(s_weight, model.s_module.hidden1.weight)
    assert not torch.equal(bn_weight, model.detector.backbone.body.bn1.weight)


def test_without_freezing_batchnorm_statistics_move() -> None:
    model = _classifier().train()
    stats = _bn_state(model)
    model([torch.rand(3, 96, 96) for _ in range(2)], torch.tensor([0, 1]))
    after = _bn_state(model)
    assert any(not torch.equal(stats[k], after[k]) for k in stats)


def test_classifier_input_errors() -> None:
    model = _classifier().train()
    images = [torch.rand(3, 96, 96)]
    with pytest.raises(InputError):
        model(images)
    with pytest.raises(InputError, match="image classes"):
        model(images, torch.tensor([3]))
    with pytest.raises(InputError):
        model(images, torch.tensor([0, 1]))
    with pytest.raises(ModelError):
        MaskRCNNClassifier(model.detector, variant="boxes")
    with pytest.raises(ModelError):
        freeze_for_classifier(model.detector)  # type: ignore[arg-type]


def test_classifier_on_a_detector_with_semantic_skips_gives_detections_and_label_maps() -> None:
    detector = build_model("maskrcnn_light", truncation=1, mask_type="both", semantic_head=True,
                           semantic_skips=True, norm="group", **FAST)
    model = MaskRCNNClassifier(detector, roi_batch=16, s_features=32).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 90, 120)])[0]
    assert out["semantic_logits"].shape == (3, 90, 120)
    assert out["class_probs"].shape[-1] == 3 and abs(float(out["class_probs"].sum()) - 1.0) < 1e-5
    assert not detector._skips  # the skip maps are not kept alive between calls
