"""Shared test set-up: offscreen Qt, real-data location, temporary LesionLoop home.

Real CT data is looked up in ``$LESIONLOOP_DATA``, then ``../shared/data``
beside the repository, then ``/work/shared/data``. Where it is missing, tests
that need it are skipped - unless ``LESIONLOOP_REQUIRE_DATA=1`` (set by
``.ci/run``), which turns the skip into a failure.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent


def find_shared_data() -> Path | None:
    candidates = [os.environ.get("LESIONLOOP_DATA"), REPO.parent / "shared" / "data", "/work/shared/data"]
    for cand in candidates:
        if cand and Path(cand, "README.md").exists():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real CT data (``../shared/data``)."""
    path = find_shared_data()
    if path is None:
        message = "real CT data not found (set LESIONLOOP_DATA or provide ../shared/data)"
        if os.environ.get("LESIONLOOP_REQUIRE_DATA") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own empty ``$LESIONLOOP_HOME`` (model registry, logs)."""
    monkeypatch.setenv("LESIONLOOP_HOME", str(tmp_path_factory.mktemp("home")))


def make_tiny_spec(semantic: bool = False, classifier: bool = False):
    """A small, fast light Mask R-CNN spec for tests (random weights)."""
    from core_models.model_spec import ModelMetadata, ModelSpec, Preprocessing

    return ModelSpec(
        builder="maskrcnn_light",
        builder_args={"backbone": "resnet18", "truncation": 2, "norm": "group", "semantic_head": semantic,
                      "anchor_sizes": (8, 16, 32)},
        mask_type="both",
        preprocessing=Preprocessing(input_kind="hu", min_size=64, max_size=96),
        score_threshold=0.0,
        classifier={"R": 16, "s": 32, "variant": "seed", "trained_on": "phantom"} if classifier else None,
        metadata=ModelMetadata(version="tiny-test"),
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model folder (weights + spec.json), built once per session."""
    import torch

    from core_models.checkpoints import save_model

    torch.manual_seed(0)
    spec = make_tiny_spec()
    folder = tmp_path_factory.mktemp("tiny_model")
    save_model(spec.build(), spec, folder)
    return folder
