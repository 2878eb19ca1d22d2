"""LesionLoop's PySide6 + pyqtgraph viewer: the only package that imports Qt."""
from __future__ import annotations
