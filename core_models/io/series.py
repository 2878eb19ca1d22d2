"""The series found in an input, and picking one of them."""
from __future__ import annotations

from dataclasses import dataclass, field

from core_models.errors import InputError


@dataclass(frozen=True)
class SeriesInfo:
    """One series (or the one image) found at a path.

    Attributes
    ----------
    uid : DICOM SeriesInstanceUID; empty for non-DICOM inputs.
    description : SeriesDescription, or the kind of file for non-DICOM inputs.
    n_slices : number of slices (DICOM files, or z size).
    modality : DICOM modality (``CT``...), empty when unknown.
    date : series date and time ``YYYYMMDDhhmmss`` as far as given.
    files : the series' files in z order (DICOM only).
    """

    uid: str
    description: str
    n_slices: int
    modality: str = ""
    date: str = ""
    files: tuple[str, ...] = field(default=(), repr=False)

    def to_json(self, chosen: bool = False) -> dict:
        """Dict for ``volume.meta["series"]`` and ``lesionloop info --json``."""
        return {"uid": self.uid, "description": self.description, "n_slices": self.n_slices,
                "modality": self.modality, "chosen": bool(chosen)}


def short_uid(uid: str, keep: int = 10) -> str:
    """A UID shortened for messages: ``1.2.826.0.1...66197100``."""
    return uid if len(uid) <= 2 * keep + 3 else f"{uid[:keep].rstrip('.')}...{uid[-8:]}"


def sort_series(found: list[SeriesInfo]) -> list[SeriesInfo]:
    """Largest series first; ties by date (earliest first, undated last), then UID."""
    return sorted(found, key=lambda s: (-s.n_slices, s.date or "~", s.uid))


def plural(n: int, word: str) -> str:
    """``1 slice``, ``2 slices``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _describe(found: list[SeriesInfo]) -> str:
    return "; ".join(f"{i}: {short_uid(s.uid)} ({plural(s.n_slices, 'slice')})" for i, s in enumerate(found))


def choose_series(found: list[SeriesInfo], series: str | int | None, where: str) -> int:
    """Index of the series to read.

    Parameters
    ----------
    found : series in :func:`sort_series` order.
    series : None (the first, i.e. largest), a 0-based index, a SeriesInstanceUID,
        or a unique UID prefix; a string of digits is taken as an index.
    where : the input, named in messages.
    """
    if not found:
        raise InputError(f"no series found in {where}")
    if series is None:
        return 0
    if isinstance(series, int) or (isinstance(series, str) and series.strip().isdigit()):
        index = int(series)
        if 0 <= index < len(found):
            return index
        raise InputError(f"series {index} does not exist: {where} holds {len(found)} "
                         f"series ({_describe(found)})")
    text = str(series).strip()
    exact = [i for i, s in enumerate(found) if s.uid == text]
    matches = exact or [i for i, s in enumerate(found) if text and s.uid.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    reason = "matches several series" if matches else "matches no series"
    raise InputError(f"series '{text}' {reason} in {where} ({_describe(found)})")
