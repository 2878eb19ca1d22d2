"""The model registry: register, list, activate (with its gate), roll back, remove, concurrency."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core_models import model_store
from core_models.checkpoints import read_spec
from core_models.errors import InputError, ModelError
from core_models.metrics import segmentation_report
from core_models.model_store import (
    BUNDLED_NAME,
    RegistryWarning,
    active_version,
    list_versions,
    metrics_summary,
    registry_dir,
    resolve_model_dir,
)
from training import registry
from training.registry import ActivationRefused, RegistryLock, activate, register_model, remove, rollback

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundled(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bundled model (a copy of the tiny model) in place of ``resources/models/default``."""
    folder = tmp_path / "bundled_default"
    shutil.copytree(tiny_model_dir, folder)
    monkeypatch.setattr(model_store, "bundled_model_dir", lambda: folder)
    return folder


def _active_json() -> dict:
    return json.loads((registry_dir() / "active.json").read_text(encoding="utf-8"))


def test_register_twice_gives_two_sorted_inactive_versions(tiny_model_dir: Path) -> None:
    first = register_model(tiny_model_dir, data_hash="abc123", metrics={"dice_binary": 0.5})
    second = register_model(tiny_model_dir, parent=first, notes="fine-tuned")
    assert first != second and sorted([second, first]) == [first, second]
    for name in (first, second):
        assert model_store.NUMBERED_RE.match(name)
        assert (registry_dir() / name / "weights.safetensors").read_bytes() == \
            (tiny_model_dir / "weights.safetensors").read_bytes()
    meta = read_spec(registry_dir() / second).metadata
    assert (meta.version, meta.parent, meta.notes) == (second, first, "fine-tuned")
    assert read_spec(registry_dir() / first).metadata.data_hash == "abc123"
    assert read_spec(registry_dir() / first).metadata.metrics == {"dice_binary": 0.5}
    assert active_version() == BUNDLED_NAME
    versions = list_versions()
    assert [v.version for v in versions] == [BUNDLED_NAME, first, second]
    assert versions[0].active and not versions[1].active
    assert versions[1].summary["dice_binary"] == 0.5 and versions[2].parent == first
    assert versions[1].architecture["backbone"] == "resnet18" and versions[1].architecture["truncation"] == 2
    assert not [p for p in registry_dir().iterdir() if p.name.startswith(".incoming")]


def test_list_shows_bundled_even_when_the_registry_is_empty(bundled: Path) -> None:
    versions = list_versions()
    assert len(versions) == 1 and versions[0].version == BUNDLED_NAME
    assert versions[0].active and not versions[0].broken and versions[0].path == bundled


def test_registering_sweeps_only_old_crash_leftovers(tiny_model_dir: Path) -> None:
    old, fresh = registry_dir() / ".incoming-1-old", registry_dir() / ".incoming-2-fresh"
    for folder in (old, fresh):
        folder.mkdir(parents=True)
        (folder / "weights.safetensors").write_bytes(b"half a copy")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    version = register_model(tiny_model_dir)
    assert not old.exists() and fresh.exists()
    assert model_store.registered_names() == [version]


def test_register_with_names(tiny_model_dir: Path) -> None:
    assert register_model(tiny_model_dir, name="my-model.1") == "my-model.1"
    with pytest.raises(InputError, match="already exists"):
        register_model(tiny_model_dir, name="my-model.1")
    for bad in ("bundled", "../escape", ".hidden", "a b"):
        with pytest.raises(InputError, match="cannot name a version"):
            register_model(tiny_model_dir, name=bad)
    assert model_store.registered_names() == ["my-model.1"]


def test_register_refuses_a_folder_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        register_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="spec.json"):
        register_model(tmp_path / "empty")
    assert model_store.registered_names() == []


def test_activate_and_rollback(tiny_model_dir: Path, bundled: Path) -> None:
    one, two = register_model(tiny_model_dir), register_model(tiny_model_dir)
    assert activate(one) == BUNDLED_NAME
    assert resolve_model_dir() == registry_dir() / one
    assert activate(two) == one
    assert resolve_model_dir() == registry_dir() / two and active_version() == two
    assert _active_json()["history"] == [BUNDLED_NAME, one]
    assert rollback() == one and resolve_model_dir() == registry_dir() / one
    assert rollback() == BUNDLED_NAME and resolve_model_dir() == bundled
    with pytest.raises(ModelError, match="nothing to roll back"):
        rollback()
    assert set(model_store.registered_names()) == {one, two}  # rolling back deletes nothing


def test_rollback_to_a_named_version(tiny_model_dir: Path, bundled: Path) -> None:
    one, two, three = (register_model(tiny_model_dir) for _ in range(3))
    for name in (one, two):
        activate(name)
    with pytest.raises(ModelError, match="never active"):
        rollback(three)
    activate(three)
    assert rollback(one) == one and _active_json()["history"] == [BUNDLED_NAME]
    activate(two)
    assert rollback(BUNDLED_NAME) == BUNDLED_NAME and resolve_model_dir() == bundled
    with pytest.raises(ModelError, match="unknown model version"):
        rollback("v9999-nothing")


def test_rollback_skips_versions_that_vanished(tiny_model_dir: Path) -> None:
    one, two = register_model(tiny_model_dir), register_model(tiny_model_dir)
    activate(one)
    activate(two)
    shutil.rmtree(registry_dir() / one)  # removed by hand
    assert rollback() == BUNDLED_NAME


def _pair(tiny_model_dir: Path, parent_dice: float, child_dice: float, **child_metrics: object) -> tuple[str, str]:
    parent = register_model(tiny_model_dir, metrics={"dice_binary": parent_dice, "validation": "medseg-split"})
    child = register_model(tiny_model_dir, parent=parent,
                           metrics={"dice_binary": child_dice, "validation": "medseg-split", **child_metrics})
    return parent, child


def test_gate_refuses_a_worse_child_unless_forced(tiny_model_dir: Path) -> None:
    parent, child = _pair(tiny_model_dir, 0.71, 0.64)
    activate(parent)
    with pytest.raises(ActivationRefused) as refused:
        activate(child)
    err = refused.value
    assert (err.version, err.parent, err.value, err.parent_value) == (child, parent, 0.64, 0.71)
    assert "0.640" in str(err) and "0.710" in str(err) and isinstance(err, ModelError)
    assert active_version() == parent
    assert activate(child, force=True) == parent and active_version() == child


def test_gate_lets_better_or_incomparable_children_through(tiny_model_dir: Path) -> None:
    _, better = _pair(tiny_model_dir, 0.6, 0.7)
    activate(better)
    _, other_validation = _pair(tiny_model_dir, 0.7, 0.6, validation="another-set")
    activate(other_validation)
    parent = register_model(tiny_model_dir, metrics={"dice_binary": 0.9})
    unmeasured = register_model(tiny_model_dir, parent=parent)
    activate(unmeasured)
    assert active_version() == unmeasured


def test_summary_reads_a_segmentation_report(tiny_model_dir: Path) -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 3, size=(3, 16, 16), dtype=np.uint8)
    pred = gt.copy()
    pred[:, :4] = 0
    report = segmentation_report(pred, gt)
    version = register_model(tiny_model_dir, metrics={"segmentation": report, "detection": {"map": 0.25}})
    summary = registry.version_info(version).summary
    assert summary["dice_binary"] == pytest.approx(report["slice_mean"]["binary"]["dice"])
    assert summary["dice_consolidation"] == pytest.approx(report["slice_mean"]["consolidation"]["dice"])
    assert 0 < summary["dice_ggo"] < 1 and summary["map"] == 0.25
    assert metrics_summary({"dice_binary": float("nan")})["dice_binary"] is None


@pytest.mark.parametrize("content", ["{not json", '{"version": 3}', '["bundled"]', '{"version": "../x"}'])
def test_corrupt_active_json_means_bundled_with_a_warning(tiny_model_dir: Path, bundled: Path, content: str) -> None:
    version = register_model(tiny_model_dir)
    (registry_dir() / "active.json").write_text(content, encoding="utf-8")
    with pytest.warns(RegistryWarning, match="bundled"):
        assert active_version() == BUNDLED_NAME
    with pytest.warns(RegistryWarning):
        assert resolve_model_dir() == bundled
    with pytest.warns(RegistryWarning):
        assert list_versions()[0].active
    with pytest.warns(RegistryWarning):
        activate(version)  # repairs the file
    assert active_version() == version


def test_a_version_without_spec_is_listed_as_broken(tiny_model_dir: Path) -> None:
    good = register_model(tiny_model_dir)
    (registry_dir() / "v0005-broken").mkdir()
    (registry_dir() / "v0006-noweights").mkdir()
    shutil.copy(tiny_model_dir / "spec.json", registry_dir() / "v0006-noweights")
    versions = {v.version: v for v in list_versions()}
    assert not versions[good].broken
    assert "spec.json" in versions["v0005-broken"].problem
    assert "weights" in versions["v0006-noweights"].problem
    with pytest.raises(ModelError, match="cannot be used"):
        activate("v0005-broken")
    assert register_model(tiny_model_dir).startswith("v0007-")


def test_remove(tiny_model_dir: Path) -> None:
    one, two = register_model(tiny_model_dir), register_model(tiny_model_dir)
    activate(one)
    activate(two)
    with pytest.raises(ModelError, match="active"):
        remove(two)
    with pytest.raises(ModelError, match="bundled"):
        remove(BUNDLED_NAME)
    rollback()
    remove(two)
    assert model_store.registered_names() == [one]
    assert not [p for p in registry_dir().iterdir() if p.name.startswith(".")]


def test_threads_registering_at_once_get_distinct_versions(tiny_model_dir: Path) -> None:
    names: list[str] = []
    threads = [threading.Thread(target=lambda: names.append(register_model(tiny_model_dir))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 6 and sorted(model_store.registered_names()) == sorted(names)
    assert {read_spec(registry_dir() / n).metadata.version for n in names} == set(names)


_WORKER = """
import sys, time
from pathlib import Path
from training.registry import register_model
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
print(register_model(sys.argv[1]))
"""


def test_two_processes_registering_at_once_get_two_intact_versions(tiny_model_dir: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, str(tiny_model_dir), str(go)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    names = [out.strip() for out, _ in outs]
    assert len(set(names)) == 2 and sorted(model_store.registered_names()) == sorted(names)
    weights = (tiny_model_dir / "weights.safetensors").read_bytes()
    for name in names:
        assert read_spec(registry_dir() / name).metadata.version == name
        assert (registry_dir() / name / "weights.safetensors").read_bytes() == weights


def test_lock_waits_then_gives_a_clear_error_and_takes_over_dead_locks(tmp_path: Path) -> None:
    with RegistryLock(tmp_path):
        with pytest.raises(ModelError, match="busy"):
            with RegistryLock(tmp_path, timeout=0.1):
                pass
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    (tmp_path / ".lock").write_text(f"{socket.gethostname()} {dead.stdout.strip()}\n", encoding="utf-8")
    with RegistryLock(tmp_path, timeout=0.5):
        assert (tmp_path / ".lock").read_text(encoding="utf-8").split()[1] == str(os.getpid())
    assert not (tmp_path / ".lock").exists()
