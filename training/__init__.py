"""LesionLoop training: datasets, training loops, evaluation, the model registry's
write side, and the ``lesionloop`` command line. Qt-free."""
from __future__ import annotations
