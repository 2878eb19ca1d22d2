"""LesionLoop's Qt-free core: volumes, IO, label tables, networks, inference, metrics.

Nothing in this package imports PySide6, pyqtgraph or :mod:`viewer`; an
import-linter contract (``pyproject.toml``) enforces it in CI.
"""
from __future__ import annotations

__version__ = "0.1.0"
