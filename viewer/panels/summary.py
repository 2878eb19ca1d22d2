"""Review summary: lesion volume per class in mL."""
from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from core_models.labels import default_label_table
from viewer.session import ReviewSession


def summary_text(session: ReviewSession, source: str = "prediction") -> str:
    """Lines like ``Ground-glass opacity: 12.3 mL`` (mL from the voxel spacing)."""
    if session.labels(source) is None:
        return "no prediction yet"
    volumes = session.volumes_ml(source)
    lines = [f"{lab.name}: {volumes.get(lab.value, 0.0):.2f} mL" for lab in default_label_table().foreground()]
    done = len(session.slice_results)
    total = session.n_slices
    if done < total:
        lines.append(f"(from {done} of {total} slices)")
    return "\n".join(lines)


class SummaryLabel(QLabel):
    """Lesion volumes of the shown label map, kept up to date."""

    def __init__(self, session: ReviewSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.source = "prediction"
        session.predictionChanged.connect(self.refresh)
        session.volumeChanged.connect(self.refresh)
        session.sliceResultArrived.connect(lambda _z: self.refresh())
        self.refresh()

    def set_source(self, source: str) -> None:
        self.source = source
        self.refresh()

    def refresh(self) -> None:
        self.setText("Lesion volume\n" + summary_text(self.session, self.source))
