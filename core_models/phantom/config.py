"""Settings of the synthetic chest CT phantom and the case classes it draws.

A :class:`PhantomConfig` fixes the grid (in-plane size, slice count, field of
view, slice spacing), the case class (``kind``) and the scanner model (noise,
blur). Everything else (body size, lung shape, vessels, lesions) is drawn per
case from the seed and the case index.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core_models.errors import InputError, ResourceError

#: case classes the generator knows; ``mixed`` cycles through the first three
KINDS: tuple[str, ...] = ("covid", "cap", "normal", "mixed")

#: the seed's class ids (file names ``{cls}_{patient}_{scan}_{slice}.png``)
CLASS_IDS: dict[str, int] = {"normal": 0, "cap": 1, "covid": 2}

#: human names of the class ids, as the seed's classifier has them
CLASS_NAMES: dict[int, str] = {0: "Control", 1: "Common pneumonia", 2: "COVID-19"}

#: the order ``mixed`` cycles through, by case index
MIXED_CYCLE: tuple[str, ...] = ("covid", "cap", "normal")

#: slice spacings (mm) drawn per case when ``z_spacing_mm`` is not set
Z_SPACING_CHOICES_MM: tuple[float, ...] = (1.25, 1.5, 2.0, 2.5)

MIN_SIZE, MAX_SIZE = 64, 2048
MAX_SLICES = 2048
#: largest grid (voxels) one case may have: the generator holds a few float32 copies
MAX_VOXELS = 512 * 512 * 512


@dataclass(frozen=True)
class PhantomConfig:
    """Grid, class and scanner settings of generated phantoms.

    Attributes
    ----------
    size : pixels per side of each axial slice (square).
    slices : number of axial slices.
    kind : ``covid``, ``cap`` (common pneumonia), ``normal`` or ``mixed``.
    fov_mm : in-plane field of view in mm; the pixel spacing is ``fov_mm / size``.
    z_spacing_mm : slice spacing in mm; ``None`` draws one of 1.25, 1.5, 2.0, 2.5 per case.
    noise_hu : standard deviation of the scanner noise in HU (after the blur).
    blur_px : in-plane Gaussian blur (sigma, pixels) of the scanner's point spread.
    vessels : draw the pulmonary vessel trees (off only to make tiny test cases faster).
    """

    size: int = 512
    slices: int = 48
    kind: str = "mixed"
    fov_mm: float = 360.0
    z_spacing_mm: float | None = None
    noise_hu: float = 15.0
    blur_px: float = 0.6
    vessels: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` (or :class:`ResourceError`) on settings that cannot work."""
        _check_int("size", self.size, MIN_SIZE, MAX_SIZE)
        _check_int("slices", self.slices, 1, MAX_SLICES)
        if self.kind not in KINDS:
            raise InputError(f"unknown phantom kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        _check_number("field of view (mm)", self.fov_mm, 300.0, 500.0)
        if self.z_spacing_mm is not None:
            _check_number("slice spacing (mm)", self.z_spacing_mm, 0.5, 10.0)
        _check_number("noise (HU)", self.noise_hu, 0.0, 200.0)
        _check_number("blur (pixels)", self.blur_px, 0.0, 5.0)
        voxels = self.size * self.size * self.slices
        if voxels > MAX_VOXELS:
            raise ResourceError(
                f"a {self.size}x{self.size}x{self.slices} phantom has {voxels:,} voxels; "
                f"the limit is {MAX_VOXELS:,} (use fewer slices or a smaller size)"
            )

    @property
    def pixel_spacing_mm(self) -> float:
        """In-plane pixel spacing in mm."""
        return self.fov_mm / self.size

    def kind_for_case(self, index: int) -> str:
        """The case class of case ``index`` (``mixed`` cycles covid, cap, normal)."""
        if self.kind == "mixed":
            return MIXED_CYCLE[index % len(MIXED_CYCLE)]
        return self.kind

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhantomConfig:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"phantom {name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise InputError(f"phantom {name} must be between {low} and {high}, got {value}")


def _check_number(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"phantom {name} must be a number, got {value!r}")
    if not low <= float(value) <= high:
        raise InputError(f"phantom {name} must be between {low:g} and {high:g}, got {value:g}")


def check_case_request(cases: int, seed: int) -> None:
    """Raise :class:`InputError` unless ``cases`` >= 1 and ``seed`` is a non-negative integer."""
    _check_int("case count", cases, 1, 100_000)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0 or seed >= 2**63:
        raise InputError(f"phantom seed must be a whole number from 0 to 2^63-1, got {seed!r}")
