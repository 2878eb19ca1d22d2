"""Label editing, Qt-free: invertible edits and the painting tools that make them."""
from core_models.editing.edit import BBox, LabelEdit
from core_models.editing.tools import (
    HU_PRESETS,
    disk_footprint,
    flood_fill_mask,
    island_mask,
    limit_to_range,
    paint_edit,
    polygon_mask,
    roi_mask,
    stroke_mask,
)

__all__ = [
    "BBox",
    "HU_PRESETS",
    "LabelEdit",
    "disk_footprint",
    "flood_fill_mask",
    "island_mask",
    "limit_to_range",
    "paint_edit",
    "polygon_mask",
    "roi_mask",
    "stroke_mask",
]
