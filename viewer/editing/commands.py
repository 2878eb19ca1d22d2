"""``LabelEditCommand``: one :class:`~core_models.editing.LabelEdit` on the session's undo stack.

The command holds only the edit (the changed voxels in their box), so undo
memory grows with what was edited, never with the volume. ``redo`` writes the
new values into ``session.corrected`` and ``undo`` the old ones; both tell the
session, which emits ``editApplied`` (with the edit as applied: the inverse on
undo) and ``labelsChanged`` (its box) so views repaint just that region.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtGui import QUndoCommand

from core_models.editing import LabelEdit

if TYPE_CHECKING:
    from viewer.session import ReviewSession


class LabelEditCommand(QUndoCommand):
    """An undoable label edit on ``session.corrected``.

    Parameters
    ----------
    session : the session whose corrected labels the edit changes.
    edit : the changed voxels.
    text : the undo action's description (``Undo <text>``).
    already_applied : the edit's new values are already in the labels (a live
        brush stroke): the first ``redo`` only announces it.
    """

    def __init__(self, session: ReviewSession, edit: LabelEdit, text: str = "edit",
                 already_applied: bool = False) -> None:
        super().__init__(text)
        self.session = session
        self.edit = edit
        self.labels = session.corrected  # the map this edit belongs to
        self._skip_write = already_applied

    def redo(self) -> None:  # noqa: D401 - Qt override
        if self.labels is None:
            return
        if not self._skip_write:
            self.edit.apply(self.labels.array)
        self._skip_write = False
        self.session._announce_edit(self.edit)

    def undo(self) -> None:  # noqa: D401 - Qt override
        if self.labels is None:
            return
        self.edit.revert(self.labels.array)
        self.session._announce_edit(self.edit.inverse())

    @property
    def nbytes(self) -> int:
        """Memory held by the command's edit (bytes)."""
        return self.edit.nbytes
