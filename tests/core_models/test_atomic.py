from __future__ import annotations

import json

import pytest

from core_models.atomic import atomic_path, atomic_write_json


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "state.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "labels.nii.gz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.name.endswith(".nii.gz")  # writers choosing format by suffix still work
            tmp.write_bytes(b"half a fi")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.nii.gz"]


def test_json_safe_replaces_non_finite_floats():
    from core_models.atomic import json_safe

    assert json_safe({"a": float("nan"), "b": [1.5, float("inf")], 3: (float("-inf"),)}) == \
        {"a": None, "b": [1.5, None], "3": [None]}
