"""Side panels of the main window (passive: they show the session, emit intents)."""
from __future__ import annotations
