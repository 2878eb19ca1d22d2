"""LabelEdit: changed voxels only, exact apply/revert, journal round trip, memory ∝ changes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core_models.editing import LabelEdit
from core_models.errors import InputError


def volume(seed: int = 0, shape: tuple[int, int, int] = (6, 40, 50)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 3, shape).astype(np.uint8)


def test_from_mask_keeps_only_changed_voxels_and_applies_exactly() -> None:
    labels = np.zeros((3, 20, 20), np.uint8)
    labels[1, 5:8, 5:8] = 1                      # 9 voxels already GGO
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1:5] = True                        # 16 voxels at offset (4, 4) -> rows/cols 5..8
    edit = LabelEdit.from_mask(labels, 1, mask, 1, offset=(4, 4))
    assert edit is not None
    assert edit.count == 16 - 9
    assert edit.bbox == (1, 2, 5, 9, 5, 9)
    assert set(edit.old.tolist()) == {0} and set(edit.new.tolist()) == {1}
    before = labels.copy()
    edit.apply(labels)
    expected = before.copy()
    expected[1, 5:9, 5:9] = 1
    assert np.array_equal(labels, expected)
    edit.revert(labels)
    assert np.array_equal(labels, before)


def test_from_mask_returns_none_when_nothing_changes() -> None:
    labels = np.ones((2, 8, 8), np.uint8)
    assert LabelEdit.from_mask(labels, 0, np.ones((8, 8), bool), 1) is None
    assert LabelEdit.from_mask(labels, 0, np.zeros((8, 8), bool), 2) is None


def test_from_mask_rejects_a_mask_leaving_the_slice() -> None:
    labels = np.zeros((2, 8, 8), np.uint8)
    with pytest.raises(InputError):
        LabelEdit.from_mask(labels, 0, np.ones((4, 4), bool), 1, offset=(6, 6))


def test_from_arrays_3d_round_trip_and_per_slice_counts() -> None:
    labels = volume(1)
    corner = (1, 10, 12)
    before = labels[1:5, 10:30, 12:40].copy()
    after = before.copy()
    after[0, 2:4, 3:6] = 2
    after[3, 0, 0] = (after[3, 0, 0] + 1) % 3
    changed = int((before != after).sum())
    edit = LabelEdit.from_arrays(before, after, corner)
    assert edit is not None and edit.count == changed
    assert list(edit.slices) == [1, 2, 3, 4]
    assert edit.count_by_slice() == {1: int((before[0] != after[0]).sum()), 4: 1}
    original = labels.copy()
    edit.apply(labels)
    assert np.array_equal(labels[1:5, 10:30, 12:40], after)
    edit.inverse().apply(labels)
    assert np.array_equal(labels, original)
    assert LabelEdit.from_arrays(before, before.copy(), corner) is None


@pytest.mark.parametrize("seed", range(5))
def test_random_sequence_reverts_exactly_in_reverse_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = volume(seed)
    original = labels.copy()
    edits = []
    for _ in range(30):
        z = int(rng.integers(0, labels.shape[0]))
        y, x = rng.integers(0, 30, 2)
        mask = rng.random((10, 10)) < 0.5
        edit = LabelEdit.from_mask(labels, z, mask, int(rng.integers(0, 3)), offset=(int(y), int(x)))
        if edit is not None:
            edit.apply(labels)
            edits.append(edit)
    assert edits and not np.array_equal(labels, original)
    for edit in reversed(edits):
        edit.revert(labels)
    assert np.array_equal(labels, original)


def test_journal_form_is_json_safe_and_round_trips() -> None:
    labels = volume(3)
    mask = np.zeros((12, 12), bool)
    mask[2:9, 3:11] = True
    edit = LabelEdit.from_mask(labels, 2, mask, 2, offset=(5, 7))
    assert edit is not None
    text = json.dumps(edit.to_json())
    back = LabelEdit.from_json(json.loads(text))
    assert back.bbox == edit.bbox
    for name in ("index", "old", "new"):
        assert np.array_equal(getattr(back, name), getattr(edit, name))
    assert back.index.dtype == np.uint32 and back.old.dtype == np.uint8
    a, b = labels.copy(), labels.copy()
    edit.apply(a)
    back.apply(b)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("broken", [
    {},
    {"bbox": [0, 1, 0, 2, 0, 2], "index": "abc", "old": "", "new": ""},      # torn base64
    {"bbox": [0, 1, 0, 2, 0, 2], "index": "AAAA", "old": "", "new": ""},     # 3 index bytes
    {"bbox": [0, 1, 0, 2, 0, 2], "index": "AAAAAA==", "old": "AA==", "new": ""},  # sizes differ
    {"bbox": [0, 1, 0, 2], "index": "", "old": "", "new": ""},
])
def test_malformed_journal_records_raise_input_error(broken: dict) -> None:
    with pytest.raises(InputError):
        LabelEdit.from_json(broken)


def test_journal_record_with_index_outside_its_box_is_rejected() -> None:
    labels = np.zeros((1, 4, 4), np.uint8)
    edit = LabelEdit.from_mask(labels, 0, np.ones((2, 2), bool), 1)
    assert edit is not None
    record = edit.to_json()
    record["bbox"] = [0, 1, 0, 1, 0, 1]          # box of 1 voxel, indices up to 3
    with pytest.raises(InputError):
        LabelEdit.from_json(record)


def test_apply_outside_the_volume_raises() -> None:
    labels = np.zeros((2, 10, 10), np.uint8)
    edit = LabelEdit.from_mask(labels, 1, np.ones((3, 3), bool), 1, offset=(7, 7))
    assert edit is not None
    with pytest.raises(InputError):
        edit.apply(np.zeros((2, 9, 9), np.uint8))


@pytest.mark.parametrize("side", [4, 16, 64])
def test_memory_is_six_bytes_per_changed_voxel_independent_of_volume(side: int) -> None:
    small = np.zeros((2, 128, 128), np.uint8)
    big = np.zeros((40, 512, 512), np.uint8)
    mask = np.ones((side, side), bool)
    edits = [LabelEdit.from_mask(v, 1, mask, 1, offset=(10, 10)) for v in (small, big)]
    for edit in edits:
        assert edit is not None
        assert edit.nbytes == 6 * side * side
        # the arrays own their memory: no view keeps a slice or volume alive
        assert all(a.base is None for a in (edit.index, edit.old, edit.new))


# -- memory on a full-size volume ---------------------------------------------------------------
SHAPE = (300, 512, 512)                  # 78.6 MB as uint8
BYTES_PER_VOXEL = 6                      # uint32 index in the box + uint8 old + uint8 new
PER_EDIT_OVERHEAD = 1024                 # bytes: the dataclass, its bbox tuple, three ndarray headers


def original_slice(z: int) -> np.ndarray:
    """The label slice the volume starts with (rebuilt for the final comparison, no copy kept)."""
    out = np.zeros(SHAPE[1:], np.uint8)
    out[150:350, 100:250] = 1
    if z % 3 == 0:
        out[200:400, 260:420] = 2
    return out


def random_stroke_edits(labels: np.ndarray, n: int, seed: int) -> list[LabelEdit]:
    """``n`` random brush strokes (radius 3-10 mm at 0.7 mm) that change something, each applied."""
    from core_models.editing import paint_edit, stroke_mask

    rng = np.random.default_rng(seed)
    edits = []
    while len(edits) < n:           # strokes that change nothing make no edit and do not count
        start = rng.uniform(0, 512, 2)
        points = start + np.cumsum(rng.normal(0, 8, (int(rng.integers(1, 25)), 2)), axis=0)
        crop = stroke_mask(SHAPE[1:], points, float(rng.uniform(3, 10)), (0.7, 0.7))
        if crop is None:
            continue
        z, value = int(rng.integers(0, SHAPE[0])), int(rng.integers(0, 3))
        edit = paint_edit(labels, z, crop[0], crop[1], value)
        if edit is not None:
            edit.apply(labels)
            edits.append(edit)
    return edits


def test_thousand_strokes_on_a_full_volume_stay_within_the_memory_budget() -> None:
    import gc
    import tracemalloc

    labels = np.empty(SHAPE, np.uint8)
    for z in range(SHAPE[0]):
        labels[z] = original_slice(z)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        edits = random_stroke_edits(labels, 1000, seed=6)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    changed = sum(e.count for e in edits)
    budget = BYTES_PER_VOXEL * changed + PER_EDIT_OVERHEAD * len(edits)
    assert len(edits) == 1000 and changed > 500_000           # the strokes really edited a lot
    assert sum(e.nbytes for e in edits) == BYTES_PER_VOXEL * changed
    assert retained <= budget, f"{retained} B held by {len(edits)} edits, budget {budget} B"
    assert retained < labels.nbytes / 5                      # far below one volume copy (78.6 MB)
    for edit in reversed(edits):
        edit.revert(labels)
    for z in range(SHAPE[0]):
        assert np.array_equal(labels[z], original_slice(z)), f"slice {z} not restored"
