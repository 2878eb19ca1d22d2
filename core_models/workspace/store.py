"""``Workspace``: the corrections of one CT series, on disk and in memory.

A workspace folder holds::

    review.json         statuses, notes, confirmed RoIs, provenance (see :mod:`.review`)
    labels.nii.gz       corrected labels on the CT's grid (what training reads)
    labels.seg.nrrd     the same labels as a 3D Slicer segmentation (names, colours)
    prediction.nii.gz   the model's labels the corrections started from (when there was one)
    journal.jsonl       changes since the last save (see :mod:`.journal`)
    lock.json           who has it open to change it, while they do (see :mod:`.lock`)

Every change (label edit, status, RoI confirmation) is appended to the journal
and fsync'ed before the call returns; :meth:`Workspace.save` writes the files
atomically and then starts a fresh journal. After a crash, :meth:`Workspace.open`
finds the journal records newer than the saved state and :meth:`Workspace.recover`
replays them. Edits are absolute writes (new values at voxels), so replaying onto
labels that already hold them (a crash between writing the labels and resetting
the journal) ends in the same state.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core_models import __version__
from core_models.atomic import atomic_write_json
from core_models.editing.edit import LabelEdit
from core_models.errors import InputError
from core_models.io import read_labels, write_labels
from core_models.io.series import short_uid
from core_models.prediction import RoI
from core_models.volume import CTVolume, LabelMap
from core_models.workspace.journal import JournalWriter, read_journal
from core_models.workspace.locate import volume_series
from core_models.workspace.lock import WorkspaceLock, lock_for_writing, remove_temp_files
from core_models.workspace.review import (JOURNAL_FILE, LABELS_FILE, PREDICTION_FILE, SEG_FILE, STATUSES,
                                          WORKSPACE_FILE, WORKSPACE_FORMAT, WORKSPACE_SCHEMA, SliceReview,
                                          current_user, load_review_json, now_iso, parse_reviews, parse_series,
                                          resolve, reviews_to_json, slice_index)


class Workspace:
    """The corrections store of one series; make one with :meth:`create` or :meth:`open`.

    Attributes
    ----------
    folder : the workspace folder.
    ct_path : absolute path of the CT file or DICOM folder.
    series : SeriesInstanceUID of the series when ``ct_path`` is a DICOM folder, else None.
    corrected : the corrected labels (the viewer edits this array in place).
    predicted : the prediction the corrections started from, or None.
    reviews : {z: SliceReview} for slices that are reviewed or carry a note.
    confirmed : {z: [{"box": [x0, y0, x1, y1], "label": l, "score": s}]} accepted RoIs.
    model_version : version of the model that made ``predicted``.
    edit_counts : {z: number of label edits that changed slice z}.
    dirty : whether there are changes since the last save or open.
    lock : the held :class:`~core_models.workspace.lock.WorkspaceLock`, or None (not locked).
    removed_temp_files : temp files of interrupted saves deleted when it was opened with ``lock=True``.

    Notes
    -----
    While :meth:`pending_recovery` is non-zero, changes and :meth:`save` raise
    ``RuntimeError`` until :meth:`recover` or :meth:`discard_recovery` is called.
    One thread per workspace. One process per workspace when every writer asks for the
    lock (``lock=True`` in :meth:`open` and :meth:`create`, as the viewer does): a second
    one then gets :class:`~core_models.workspace.lock.WorkspaceBusy`. Readers (training,
    export) do not lock and are never refused.
    """

    def __init__(self, folder: Path, ct_path: Path, corrected: LabelMap, predicted: LabelMap | None = None, *,
                 model_version: str = "", created: str = "", saved_seq: int = 0, series: str | None = None) -> None:
        self.folder = Path(folder)
        self.ct_path = Path(ct_path)
        self.series = series
        self.corrected = corrected
        self.predicted = predicted
        self.reviews: dict[int, SliceReview] = {}
        self.confirmed: dict[int, list[dict]] = {}
        self.model_version = model_version
        self.edit_counts: dict[int, int] = {}
        self.dirty = False
        self.created = created or now_iso()
        self._saved_seq = saved_seq
        self._prediction_saved = False
        self._pending: list[dict[str, Any]] | None = None  # unresolved journal records after open
        self._kept: list[dict[str, Any]] = []  # records since the save that stay in the journal
        self._writer = JournalWriter(self.folder / JOURNAL_FILE, saved_seq + 1)
        self._writer_ready = False
        self.lock: WorkspaceLock | None = None
        self.removed_temp_files = 0

    # -- making one -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, ct_path: str | Path, volume: CTVolume, predicted: LabelMap | None = None,
               corrected: LabelMap | None = None, model_version: str = "", *, lock: bool = False) -> Workspace:
        """A new workspace, written to ``folder`` at once.

        ``corrected`` defaults to a copy of ``predicted`` (or empty labels); when given,
        its array is used as it is (not copied), so a viewer may share it. When ``volume``
        was read from a DICOM folder, its SeriesInstanceUID is recorded (``series``).
        With ``lock``, the folder is locked first (:class:`WorkspaceBusy` when another process
        holds it) and stays locked until :meth:`close`.
        """
        folder = Path(folder)
        if (folder / WORKSPACE_FILE).exists():
            raise InputError(f"{folder} already holds a workspace; open it instead")
        for labels, what in ((predicted, "prediction"), (corrected, "corrected labels")):
            if labels is not None and labels.shape != volume.shape:
                raise InputError(f"the {what} have shape {labels.shape} but the CT has {volume.shape}")
        if corrected is None:
            array = predicted.array.copy() if predicted is not None else np.zeros(volume.shape, np.uint8)
            corrected = LabelMap(array, volume.geometry, source="corrected labels")
        elif corrected.geometry != volume.geometry:
            corrected = LabelMap(corrected.array, volume.geometry, corrected.source, corrected.meta)
        if predicted is not None and predicted.geometry != volume.geometry:
            predicted = LabelMap(predicted.array, volume.geometry, predicted.source, predicted.meta)
        ws = cls(folder, Path(ct_path).expanduser().absolute(), corrected, predicted, model_version=model_version,
                 series=volume_series(volume))
        ws._writer_ready = True
        if lock:
            folder.mkdir(parents=True, exist_ok=True)
            ws.lock = WorkspaceLock.acquire(folder)
        try:
            if lock and (folder / WORKSPACE_FILE).exists():  # made by another process meanwhile
                raise InputError(f"{folder} already holds a workspace; open it instead")
            ws.save()
        except BaseException:
            ws.close()
            raise
        return ws

    @classmethod
    def open(cls, folder: str | Path, volume: CTVolume | None = None, *, lock: bool = False,
             force: bool = False) -> Workspace:
        """The saved state of a workspace; the journal is read but not replayed (see :meth:`recover`).

        With ``volume``, the labels must have its shape and geometry (then they take it exactly),
        and a workspace that records a DICOM series must be opened with that series.
        With ``lock``, the folder is locked until :meth:`close` (:class:`WorkspaceBusy` when another
        live process holds it, unless ``force``; a read-only folder opens unlocked) and the temp
        files of interrupted saves are deleted (counted in ``removed_temp_files``; not when the
        lock was taken by force, as its holder may be saving).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise InputError(f"no workspace at {folder}: it is not a folder")
        if not (folder / WORKSPACE_FILE).is_file():
            raise InputError(f"{folder} is not a LesionLoop workspace (it has no {WORKSPACE_FILE})")
        held = lock_for_writing(folder, force) if lock else None
        clean = held is not None and not held.reentered and held.taken_from != "forced"  # a live holder may be saving
        removed = remove_temp_files(folder) if clean else 0
        try:
            ws = cls._load(folder, volume)
        except BaseException:
            if held is not None:
                held.release()
            raise
        ws.lock, ws.removed_temp_files = held, removed
        return ws

    @classmethod
    def _load(cls, folder: Path, volume: CTVolume | None) -> Workspace:
        """The saved state of the workspace in ``folder`` (see :meth:`open`)."""
        data = load_review_json(folder)
        path = folder / WORKSPACE_FILE
        seq = data.get("journal_seq", 0)
        series = _check_series(parse_series(data, path), volume, folder)
        if not isinstance(seq, int) or seq < 0:
            raise InputError(f"{path}: \"journal_seq\" must be a whole number >= 0")
        corrected = _read_grid(resolve(folder, str(data.get("labels", LABELS_FILE))), volume, "corrected labels")
        predicted = None
        if isinstance(data.get("prediction"), str) and resolve(folder, data["prediction"]).is_file():
            predicted = _read_grid(resolve(folder, data["prediction"]), volume, "prediction")
            predicted = predicted if predicted.shape == corrected.shape else None
        prov = data.get("provenance", {})
        prov = prov if isinstance(prov, dict) else {}
        ws = cls(folder, resolve(folder, data["ct"]), corrected, predicted,
                 model_version=str(prov.get("model_version", "")), created=str(prov.get("created", "")), saved_seq=seq,
                 series=series)
        ws._prediction_saved = predicted is not None
        ws.reviews = parse_reviews(data, path)
        ws.confirmed = _parse_confirmed(data.get("confirmed", {}), path)
        ws.edit_counts = _parse_counts(prov.get("edit_counts", {}), path)
        ws._check_slices(path)
        ws._pending = [r for r in read_journal(folder / JOURNAL_FILE) if r["seq"] > seq] or None
        return ws

    def _check_slices(self, path: Path) -> None:
        n = self.n_slices
        for z in (*self.reviews, *self.confirmed, *self.edit_counts):
            if z >= n:
                raise InputError(f"{path}: slice {z} is listed but the labels have {n} slices")

    # -- state ----------------------------------------------------------------------------------
    @property
    def n_slices(self) -> int:
        return self.corrected.shape[0]

    def status(self, z: int) -> str:
        """Review status of slice ``z``."""
        review = self.reviews.get(int(z))
        return review.status if review else "unreviewed"

    def progress(self) -> tuple[int, int]:
        """(slices whose status is not unreviewed, number of slices)."""
        return sum(r.status != "unreviewed" for r in self.reviews.values()), self.n_slices

    # -- recovery -------------------------------------------------------------------------------
    def pending_recovery(self) -> int:
        """Journal records newer than the saved state, not yet recovered or discarded."""
        return len(self._pending) if self._pending else 0

    def recover(self) -> int:
        """Replay the pending journal records onto the saved state; returns how many."""
        records = self._pending or []
        for record in records:
            self._replay(record)
        self._pending = None
        self._kept = list(records)
        if records:
            self._writer.next_seq = max(self._writer.next_seq, int(records[-1]["seq"]) + 1)
            self.dirty = True
        return len(records)

    def discard_recovery(self) -> None:
        """Drop the pending journal records (the journal is rewritten atomically)."""
        self._pending = None
        self._kept = []
        self._writer.rewrite([])
        self._writer_ready = True

    def _replay(self, record: dict[str, Any]) -> None:
        try:
            if record["kind"] == "edit":
                edit = LabelEdit.from_json(record["edit"])
                edit.apply(self.corrected.array)
                self._count(edit)
            elif record["kind"] == "status":
                self._set_review(int(record["z"]), SliceReview(str(record["status"]), str(record["note"]),
                                                               str(record["user"]), str(record["time"])))
            else:
                self._add_confirmed(int(record["z"]), dict(record["roi"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"journal record {record.get('seq')} in {self.folder} is malformed") from None

    # -- changes (each journalled before it returns) ----------------------------------------------
    def _log(self, kind: str, payload: dict[str, Any]) -> None:
        if self._pending:
            raise RuntimeError("the workspace has unsaved journal records: recover() or discard_recovery() first")
        if not self._writer_ready:
            self._writer.rewrite(self._kept)  # drops stale or torn lines before appending
            self._writer_ready = True
        self._writer.append(kind, payload)

    def record_edit(self, edit: LabelEdit) -> None:
        """Journal an edit the caller has already applied to ``corrected.array``."""
        z0, z1, y0, y1, x0, x1 = edit.bbox
        if z1 > self.corrected.shape[0] or y1 > self.corrected.shape[1] or x1 > self.corrected.shape[2]:
            raise InputError(f"edit box {edit.bbox} lies outside the labels {self.corrected.shape}")
        self._log("edit", {"edit": edit.to_json()})
        self._count(edit)
        self.dirty = True

    def apply_edit(self, edit: LabelEdit) -> None:
        """Apply ``edit`` to the corrected labels and journal it."""
        edit.apply(self.corrected.array)
        self.record_edit(edit)

    def set_status(self, z: int, status: str, note: str | None = None) -> None:
        """Set slice ``z``'s status (and note, unless None), stamped with the user and the time."""
        z = self._check_z(z)
        if status not in STATUSES:
            raise InputError(f"unknown review status {status!r}; use one of {', '.join(STATUSES)}")
        old = self.reviews.get(z, SliceReview())
        review = SliceReview(status, old.note if note is None else str(note), current_user(), now_iso())
        self._log("status", {"z": z, "status": review.status, "note": review.note, "user": review.user,
                             "time": review.time})
        self._set_review(z, review)
        self.dirty = True

    def confirm_roi(self, z: int, roi: RoI) -> None:
        """Mark a detection on slice ``z`` as accepted by the reviewer."""
        z = self._check_z(z)
        entry = roi.to_json()
        if entry in self.confirmed.get(z, []):
            return
        self._log("confirm", {"z": z, "roi": entry})
        self._add_confirmed(z, entry)
        self.dirty = True

    def set_prediction(self, predicted: LabelMap, model_version: str = "") -> None:
        """Replace the stored prediction (written at the next save); the corrected labels stay."""
        if predicted.shape != self.corrected.shape:
            raise InputError(f"the prediction has shape {predicted.shape} but the labels have {self.corrected.shape}")
        self.predicted = LabelMap(predicted.array, self.corrected.geometry, predicted.source, predicted.meta)
        self.model_version = model_version or self.model_version
        self._prediction_saved = False
        self.dirty = True

    def _check_z(self, z: int) -> int:
        z = int(z)
        if not 0 <= z < self.n_slices:
            raise InputError(f"slice {z} does not exist; the series has {self.n_slices} slices")
        return z

    def _count(self, edit: LabelEdit) -> None:
        for z in edit.count_by_slice():
            self.edit_counts[z] = self.edit_counts.get(z, 0) + 1

    def _set_review(self, z: int, review: SliceReview) -> None:
        if review.is_blank:
            self.reviews.pop(z, None)
        else:
            self.reviews[z] = review

    def _add_confirmed(self, z: int, entry: dict) -> None:
        entries = self.confirmed.setdefault(z, [])
        if entry not in entries:
            entries.append(entry)

    # -- saving ---------------------------------------------------------------------------------
    def save(self) -> None:
        """Write labels (NIfTI + .seg.nrrd), the prediction (once) and review.json; reset the journal."""
        if self._pending:
            raise RuntimeError("the workspace has unsaved journal records: recover() or discard_recovery() first")
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.predicted is not None and not self._prediction_saved:
            write_labels(self.predicted, self.folder / PREDICTION_FILE)
            self._prediction_saved = True
        write_labels(self.corrected, self.folder / LABELS_FILE)
        write_labels(self.corrected, self.folder / SEG_FILE)
        last_seq = self._writer.next_seq - 1
        atomic_write_json(self.folder / WORKSPACE_FILE, self._review_json(last_seq))
        self._saved_seq = last_seq
        self._kept = []
        self._writer.rewrite([])
        self._writer_ready = True
        self.dirty = False

    def _review_json(self, last_seq: int) -> dict[str, Any]:
        slices, notes = reviews_to_json(self.reviews)
        return {
            "format": WORKSPACE_FORMAT, "schema": WORKSPACE_SCHEMA, "ct": _ct_reference(self.folder, self.ct_path),
            "series": self.series, "labels": LABELS_FILE,
            "segmentation": SEG_FILE, "prediction": PREDICTION_FILE if self._prediction_saved else None,
            "shape": list(self.corrected.shape), "slices": slices, "notes": notes,
            "confirmed": {str(z): v for z, v in sorted(self.confirmed.items()) if v},
            "provenance": {"model_version": self.model_version,
                           "edit_counts": {str(z): n for z, n in sorted(self.edit_counts.items())},
                           "created": self.created, "saved": now_iso(), "app": f"LesionLoop {__version__}"},
            "journal_seq": last_seq,
        }

    def close(self) -> None:
        """Close the journal file and release the lock, if held.

        The workspace stays usable (the next change reopens the journal) but is no longer locked.
        """
        self._writer.close()
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def _check_series(recorded: str | None, volume: CTVolume | None, folder: Path) -> str | None:
    """The workspace's series: the recorded one, checked against ``volume``'s (adopted when none is recorded)."""
    opened = volume_series(volume) if volume is not None else None
    if recorded is None or volume is None:
        return recorded or opened
    if opened != recorded:
        raise InputError(f"workspace {folder} holds the corrections of DICOM series {short_uid(recorded)}, "
                         f"not of the series opened ({short_uid(opened) if opened else 'no DICOM series'})")
    return recorded


def _read_grid(path: Path, volume: CTVolume | None, what: str) -> LabelMap:
    """A label file of the workspace, checked against the CT's shape and geometry when given."""
    if not path.is_file():
        raise InputError(f"the workspace's {what} file {path} is missing")
    labels = read_labels(path)
    if volume is None:
        return labels
    if labels.shape != volume.shape:
        raise InputError(f"the workspace's {what} have shape {labels.shape} but the CT has {volume.shape}")
    a, b = labels.geometry, volume.geometry
    if not (np.allclose(a.spacing, b.spacing, rtol=1e-4, atol=1e-4) and np.allclose(a.origin, b.origin, atol=1e-2)
            and np.allclose(a.direction, b.direction, atol=1e-4)):
        raise InputError(f"the workspace's {what} lie on another grid than the CT "
                         "(spacing, origin or direction differ)")
    return LabelMap(labels.array, volume.geometry, source=str(path), meta=labels.meta)


def _parse_confirmed(raw: Any, path: Path) -> dict[int, list[dict]]:
    if not isinstance(raw, dict) or not all(isinstance(v, list) for v in raw.values()):
        raise InputError(f"{path}: \"confirmed\" must map slice indices to lists of RoIs")
    return {slice_index(k, path): [dict(e) for e in v if isinstance(e, dict)] for k, v in raw.items()}


def _parse_counts(raw: Any, path: Path) -> dict[int, int]:
    if not isinstance(raw, dict) or not all(isinstance(v, int) and v >= 0 for v in raw.values()):
        raise InputError(f"{path}: \"edit_counts\" must map slice indices to whole numbers")
    return {slice_index(k, path): int(v) for k, v in raw.items()}


def _ct_reference(folder: Path, ct_path: Path) -> str:
    """The CT path as stored: relative when the workspace sits beside the data (the two move together)."""
    ct_path, folder = Path(ct_path).absolute(), Path(folder).absolute()
    if folder.parent == ct_path.parent:
        return str(Path("..") / ct_path.name)
    return str(ct_path)
