"""``ReviewController``: the workspace (corrections store) of the open series.

It owns the :class:`core_models.workspace.Workspace` of the series in the
session, creates it on the first edit or status change (never on mere
viewing), journals every committed edit (``session.editApplied``) and RoI
confirmation (``session.roiConfirmed``), sets a slice's status to
``corrected`` on its first edit, and saves, saves elsewhere and exports.

The workspace shares its corrected label array with the session: the viewer
paints into ``session.corrected`` and the workspace saves that same array.
The workspace is locked (``lock.json``) while it is open here, so a second
LesionLoop asks before opening it too. No widgets here; questions to the user
go through callbacks.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from core_models.editing.edit import LabelEdit
from core_models.errors import LesionLoopError
from core_models.prediction import RoI
from core_models.volume import CTVolume
from viewer.session import ReviewSession

if TYPE_CHECKING:
    from core_models.workspace import Workspace, WorkspaceBusy

#: the user's answer to "recover N unsaved edits from <time>?": True recovers, False discards
AskRecover = Callable[[int, str], bool]
#: the user's answer to "this workspace is open elsewhere (who, where, since when); open it anyway?"
AskBusy = Callable[["WorkspaceBusy"], bool]
EXPORT_FORMATS = ("nifti", "seg-nrrd", "png", "png-seed")


class ReviewController(QObject):
    """Review state and workspace of the session's series."""

    statusMessage = Signal(str)
    errored = Signal(str)
    workspaceChanged = Signal(object)  # the Workspace or None

    def __init__(self, session: ReviewSession, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.workspace: Workspace | None = None
        self._seen_prediction: tuple[int, int] = (0, 0)
        self.blocked: Path | None = None  # an unreadable workspace folder we must not overwrite
        self.busy: Path | None = None  # a workspace open in another LesionLoop that the user left alone
        self._busy_reason = ""
        self._refusals: set[str] = set()  # reasons already shown as a dialog for this series
        self.remembered: dict[str, str] = {}  # memory_key(CT path, series) -> workspace folder chosen by "save as"
        session.editApplied.connect(self._on_edit)
        session.roiConfirmed.connect(self._on_roi_confirmed)
        session.predictionChanged.connect(self._on_prediction)

    # -- opening -----------------------------------------------------------------------------
    def workspace_folder(self, ct_path: str | Path, series: str | None = None) -> Path | None:
        """The folder of an existing workspace for ``ct_path`` (the one chosen by "save as" first).

        ``series``: the SeriesInstanceUID when ``ct_path`` is a DICOM folder (each series has its own).
        """
        chosen = self.remembered.get(memory_key(ct_path, series))
        if chosen and (Path(chosen) / _store().WORKSPACE_FILE).exists():
            return Path(chosen)
        return _store().find_workspace(ct_path, series)

    def open_series(self, ct_path: str | Path, volume: CTVolume, ask_recover: AskRecover | None = None,
                    ask_busy: AskBusy | None = None) -> bool:
        """Load (and lock) the workspace of the series just opened, if it has one; True when one was loaded.

        With a journal newer than the saved state, ``ask_recover(n, when)`` decides: recover
        (replay every committed record) or discard. Without ``ask_recover`` it recovers.
        When another live LesionLoop holds the workspace's lock, ``ask_busy(busy)`` decides:
        True opens it anyway (takes the lock over), False leaves it alone (the series stays open
        without a workspace, and none is created over it). Without ``ask_busy`` it is left alone.
        """
        if self.workspace is not None:
            self.workspace.close()  # gives its lock back
        self._attach(None)
        self.blocked, self.busy, self._busy_reason = None, None, ""
        self._refusals.clear()
        folder = self.workspace_folder(ct_path, _store().volume_series(volume))
        if folder is None:
            return False
        workspace = None
        try:
            workspace = self._open_locked(folder, volume, ask_busy)
            if workspace is None:
                return False
            self._resolve_journal(workspace, ask_recover)
        except (LesionLoopError, OSError) as exc:
            if workspace is not None:
                workspace.close()  # gives its lock back
            self.blocked = folder
            self.errored.emit(f"workspace {folder} not loaded: {exc}")
            return False
        self.session.load_review_labels(workspace.predicted, workspace.corrected, workspace.model_version)
        self._attach(workspace)
        done, total = workspace.progress()
        removed = workspace.removed_temp_files
        litter = f"; removed {removed} temp files of an interrupted save" if removed else ""
        self.statusMessage.emit(f"workspace {folder}: {done} of {total} slices reviewed{litter}")
        return True

    def _open_locked(self, folder: Path, volume: CTVolume, ask_busy: AskBusy | None) -> Workspace | None:
        """Open and lock ``folder``; None when another LesionLoop has it and the user leaves it alone."""
        store = _store()
        try:
            return store.Workspace.open(folder, volume, lock=True)
        except store.WorkspaceBusy as busy:
            if ask_busy is None or not ask_busy(busy):
                self.busy = folder
                self._busy_reason = (f"workspace {folder} is open in LesionLoop by {busy.user} on {busy.host} "
                                     f"(pid {busy.pid}): edits here are not saved; open the series again and "
                                     "choose Open anyway, or use File → Save workspace as…")
                self.statusMessage.emit(f"workspace {folder} not opened: it is open in LesionLoop by {busy.user} "
                                        f"on {busy.host} (pid {busy.pid})")
                return None
            workspace = store.Workspace.open(folder, volume, lock=True, force=True)
            self.statusMessage.emit(f"took workspace {folder} over from {busy.user} on {busy.host} (pid {busy.pid})")
            return workspace

    def close(self) -> None:
        """Close the series' workspace (journal file and lock) and detach it; the series stays open."""
        if self.workspace is not None:
            self.workspace.close()
            self._attach(None)

    def _resolve_journal(self, workspace: Workspace, ask_recover: AskRecover | None) -> None:
        """Recover or discard the journal records newer than the saved state, if any."""
        pending = workspace.pending_recovery()
        if not pending:
            return
        when = _mtime_text(workspace.folder / _store().JOURNAL_FILE)
        if ask_recover is None or ask_recover(pending, when):
            applied = workspace.recover()
            self.statusMessage.emit(f"recovered {applied} unsaved edits from {when}")
        else:
            workspace.discard_recovery()
            self.statusMessage.emit(f"discarded {pending} unsaved edits from {when}")

    def _attach(self, workspace: Workspace | None) -> None:
        self.workspace = workspace
        if workspace is not None:
            self.busy = None  # e.g. "save as" started a workspace of our own
        self._seen_prediction = self._prediction_key()
        self.session.attach_workspace(workspace)
        self.workspaceChanged.emit(workspace)

    def _refuse(self, reason: str) -> None:
        """Say why there is no workspace: a dialog the first time per series, then the status bar."""
        if reason in self._refusals:
            self.statusMessage.emit(reason)
        else:
            self._refusals.add(reason)
            self.errored.emit(reason)

    def ensure_workspace(self, folder: str | Path | None = None) -> Workspace | None:
        """The open series' workspace, created in ``folder`` (default: beside the data) when missing."""
        s = self.session
        if self.workspace is not None and folder is None:
            return self.workspace
        if s.volume is None:
            return None
        if s.path is None:
            self._refuse("this volume has no file behind it: edits are not journalled; save it first, then review")
            return None
        series = _store().volume_series(s.volume)
        target = Path(folder) if folder is not None else _store().default_workspace_dir(s.path, series)
        if folder is None and self.busy is not None:
            self._refuse(self._busy_reason)
            return None
        if folder is None and self.blocked is not None and target == self.blocked:
            self._refuse(f"workspace {target} is unreadable: use File → Save workspace as… to start a new one")
            return None
        try:
            workspace = _store().Workspace.create(target, s.path, s.volume, predicted=s.predicted,
                                                  corrected=s.corrected, model_version=s.model_version, lock=True)
        except (LesionLoopError, OSError) as exc:
            self.errored.emit(f"could not create a workspace in {target}: {exc}")
            return None
        self._share_labels(workspace)
        self._attach(workspace)
        return workspace

    def _share_labels(self, workspace: Workspace) -> None:
        """Make the workspace and the session hold the same label maps (edits land in both)."""
        s = self.session
        if s.corrected is None:
            s.corrected = workspace.corrected
        elif workspace.corrected.array is not s.corrected.array:
            workspace.corrected = s.corrected

    # -- review state ------------------------------------------------------------------------
    def set_status(self, z: int, status: str, note: str | None = None) -> bool:
        """Set slice ``z``'s status (and note); creates the workspace if needed."""
        workspace = self.ensure_workspace()
        if workspace is None:
            return False
        try:
            workspace.set_status(int(z), status, note)
        except LesionLoopError as exc:
            self.errored.emit(str(exc))
            return False
        self._changed(int(z))
        return True

    def toggle_status(self, z: int, status: str) -> bool:
        """Key A / F: set ``status``, or undo it when the slice has it already.

        Undoing a flag returns to ``corrected`` when the slice was edited; ``accepted`` on a
        corrected slice keeps it corrected (its edits stay what the reviewer approved).
        """
        current = self.session.review_status(z)
        if status == "accepted" and current == "corrected":
            self.statusMessage.emit(f"slice {z + 1} is corrected (edited): it counts as reviewed")
            return False
        if current == status:
            edited = self.workspace is not None and self.workspace.edit_counts.get(int(z), 0) > 0
            status = "corrected" if edited else "unreviewed"
        return self.set_status(z, status)

    def set_note(self, z: int, note: str) -> bool:
        """Attach ``note`` to slice ``z`` (its status stays)."""
        return self.set_status(z, self.session.review_status(z), note)

    def next_slice(self, status: str, start: int | None = None) -> int | None:
        """The first slice after ``start`` (default: the current one) with ``status``, wrapping round."""
        n = self.session.n_slices
        first = self.session.current_slice if start is None else int(start)
        for step in range(1, n + 1):
            z = (first + step) % n
            if self.session.review_status(z) == status:
                return z
        return None

    def go_next(self, status: str) -> int | None:
        """Show the next slice with ``status``; a status message when there is none."""
        z = self.next_slice(status)
        if z is None:
            self.statusMessage.emit(f"no {status} slices")
        else:
            self.session.set_slice(z)
        return z

    def _changed(self, z: int) -> None:
        self.session.reviewChanged.emit(z)
        self.session.sync_dirty()

    # -- session signals ---------------------------------------------------------------------
    def _on_edit(self, edit: LabelEdit) -> None:
        """A committed edit (or its undo) now in ``session.corrected``: journal it at once."""
        workspace = self.workspace
        if workspace is None and self.session.corrected is not None:
            edit.revert(self.session.corrected.array)  # the new workspace's saved state is the one before it
            try:
                workspace = self.ensure_workspace()
            finally:
                edit.apply(self.session.corrected.array)
        if workspace is None:
            return
        try:
            workspace.record_edit(edit)
            for z in edit.slices:
                if workspace.status(z) in ("unreviewed", "accepted"):
                    workspace.set_status(z, "corrected")
        except (LesionLoopError, OSError) as exc:
            self.errored.emit(f"edit not journalled: {exc}")
            return
        for z in edit.slices:
            self.session.reviewChanged.emit(z)
        self.session.sync_dirty()

    def _on_roi_confirmed(self, z: int, roi: RoI) -> None:
        workspace = self.ensure_workspace()
        if workspace is not None:
            workspace.confirm_roi(int(z), roi)
            self._changed(int(z))

    def _prediction_key(self) -> tuple[int, int]:
        """Identity of the session's current prediction (its label array and its run result)."""
        s = self.session
        return id(s.predicted.array) if s.predicted is not None else 0, id(s.prediction)

    def _on_prediction(self) -> None:
        """A run began or ended: the workspace keeps the newest prediction (saved with it next time)."""
        workspace, s = self.workspace, self.session
        if workspace is None or s.predicted is None or self._prediction_key() == self._seen_prediction:
            return
        self._seen_prediction = self._prediction_key()
        workspace.set_prediction(s.predicted, s.model_version)  # unreviewed slices take it: dirty
        s.sync_dirty()

    # -- saving and export -------------------------------------------------------------------
    def save(self) -> Path | None:
        """Save the workspace (creating it beside the data if needed); its folder, or None."""
        workspace = self.ensure_workspace()
        if workspace is None:
            return None
        try:
            workspace.save()
        except (LesionLoopError, OSError) as exc:
            self.errored.emit(f"workspace not saved: {exc}")
            return None
        self.session.sync_dirty()
        self.statusMessage.emit(f"saved workspace {workspace.folder}")
        return workspace.folder

    def save_as(self, folder: str | Path) -> Path | None:
        """Save the whole review state as a new workspace in ``folder`` and continue there."""
        old, target = self.workspace, Path(folder)
        if old is not None and target.absolute() == old.folder.absolute():
            return self.save()
        store = _store()
        if (target / store.WORKSPACE_FILE).exists() or (target / store.JOURNAL_FILE).exists():
            self.errored.emit(f"{target} already holds a workspace: choose an empty folder")
            return None
        workspace = self.ensure_workspace(target)
        if workspace is None:
            return None
        if old is not None:
            old.close()  # its folder keeps its last saved state and journal
            workspace.reviews = {z: replace(r) for z, r in old.reviews.items()}
            workspace.confirmed = {z: list(v) for z, v in old.confirmed.items()}
            workspace.edit_counts = dict(old.edit_counts)
        self.remembered[memory_key(workspace.ct_path, workspace.series)] = str(workspace.folder)
        saved = self.save()
        self.session.reviewChanged.emit(-1)
        return saved

    def export(self, out_dir: str | Path, formats: Sequence[str] = EXPORT_FORMATS) -> list[Path]:
        """Write the corrected labels in ``formats`` to ``out_dir``; the files written."""
        workspace = self.ensure_workspace()
        if workspace is None:
            return []
        try:
            written = _store().export_workspace(workspace, out_dir, tuple(formats))
        except (LesionLoopError, OSError) as exc:
            self.errored.emit(f"export failed: {exc}")
            return []
        self.statusMessage.emit(f"exported {len(written)} files to {out_dir}")
        return written


def memory_key(ct_path: str | Path, series: str | None = None) -> str:
    """Key of a series for remembered workspace folders: the absolute CT path, plus ``#<uid>`` for a DICOM series."""
    absolute = str(Path(ct_path).expanduser().absolute())
    return f"{absolute}#{series}" if series else absolute


def _store():
    """``core_models.workspace``, imported when first used."""
    from core_models import workspace

    return workspace


def _mtime_text(path: Path) -> str:
    """Local modification time of ``path`` as ``YYYY-MM-DD HH:MM`` ("an unknown time" if missing)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except OSError:
        return "an unknown time"
