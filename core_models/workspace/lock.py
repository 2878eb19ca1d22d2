"""One LesionLoop per workspace: ``lock.json``, and the clean-up of temp files a kill left behind.

A process that opens a workspace to change it creates ``lock.json`` in the
workspace folder (``os.open`` with ``O_CREAT | O_EXCL``, so exactly one
creator wins) holding who holds it::

    {"pid": 4242, "host": "ws-radiology-3", "user": "anna", "since": "2025-03-01T09:12:44Z",
     "app": "LesionLoop 0.1.0"}

A second process finds the file and gets :class:`WorkspaceBusy` (the user may
take the lock over anyway, ``force=True``). A lock whose holder is known dead
(same host, no process with its pid) or whose file is unreadable is stale and
is taken over without asking. Within one process the lock is re-entrant
(counted); the file goes when the last holder releases it, and at interpreter
exit for locks still held. Readers (training) never lock.

Taking a lock over (stale or forced) replaces the file, which ``O_EXCL``
cannot guard; so a taker first creates ``lock.json.takeover`` with
``O_EXCL``, checks under it that ``lock.json`` is still the file it judged,
writes its own record and deletes the guard. Two processes taking over the
same stale lock at once are thus served one after the other: the second
finds the first's live lock and is refused. A guard older than
``_GUARD_STALE_S`` (its taker was killed mid-takeover) is removed.

Caveats: another host's pid cannot be checked, so its lock holds until it is
released or taken over by force; a pid reused by an unrelated process looks
alive.
"""
from __future__ import annotations

import atexit
import errno
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

from core_models import __version__
from core_models.atomic import atomic_write_json, is_atomic_temp
from core_models.errors import InputError
from core_models.workspace.review import current_user, now_iso

LOCK_FILE = "lock.json"
#: the temporary names ``atomic_path`` makes: ``.<name>.<8 tempfile chars>.tmp<full suffix of name>``
_ATTEMPTS = 50  # tries while the file keeps changing (or is being written: 20 x 50 ms of grace)
_EMPTY_GRACE_S = 1.0  # an empty lock file younger than this is being written by its creator
GUARD_SUFFIX = ".takeover"
_GUARD_STALE_S = 10.0  # a takeover guard older than this was left by a taker that died

_held: dict[str, int] = {}  # absolute lock path -> acquisitions by this process not yet released
_held_guard = threading.Lock()


class WorkspaceBusy(InputError):
    """The workspace is locked by another live LesionLoop (or one on another host).

    Attributes
    ----------
    folder, user, host, pid, since : the workspace folder and who holds its lock since when (UTC ISO).
    """

    def __init__(self, folder: Path, user: str, host: str, pid: int, since: str) -> None:
        self.folder, self.user, self.host, self.pid, self.since = Path(folder), user, host, int(pid), since
        super().__init__(f"workspace {folder} is open in LesionLoop by {user} on {host} (pid {pid}) since {since}")


class WorkspaceLock:
    """A held ``lock.json``; make one with :meth:`acquire`, give it back with :meth:`release`.

    Attributes
    ----------
    path : the lock file.
    pid, host : this process and host (what the file names while the lock is ours).
    taken_from : whom the lock was taken from: None (it was free or already ours),
        ``"stale"`` (a dead holder or an unreadable file) or ``"forced"`` (a live or unknown holder).
    reentered : True when this process already held the lock (the file was not written again).
    """

    def __init__(self, path: Path, taken_from: str | None, reentered: bool) -> None:
        self.path = path
        self.pid, self.host = os.getpid(), socket.gethostname()
        self.taken_from = taken_from
        self.reentered = reentered
        self._released = False

    @classmethod
    def acquire(cls, folder: str | os.PathLike[str], *, force: bool = False) -> WorkspaceLock:
        """Lock the workspace ``folder`` (which must exist) for this process.

        Raises
        ------
        WorkspaceBusy
            Another live process (or one on another host) holds it and ``force`` is False.
        OSError
            The lock file cannot be created (e.g. a read-only folder).
        """
        folder = Path(folder)
        path = folder / LOCK_FILE
        for _ in range(_ATTEMPTS):
            if _create(path, _record()):
                return cls._count(path, None)
            raw, holder = _read(path)
            if raw is None:
                continue  # released meanwhile: try to create it again
            if holder is not None and _is_ours(holder):
                return cls._count(path, None)
            if holder is None and not raw.strip() and _age_s(path) < _EMPTY_GRACE_S:
                time.sleep(0.05)  # its creator has not written it yet
                continue
            stale = holder is None or (holder["host"] == socket.gethostname() and not pid_alive(holder["pid"]))
            if not stale and not force:
                raise WorkspaceBusy(folder, holder["user"], holder["host"], holder["pid"], holder["since"])
            if _take_over(path, raw):
                return cls._count(path, "stale" if stale else "forced")
        raise InputError(f"could not lock workspace {folder}: its {LOCK_FILE} keeps changing")

    @classmethod
    def _count(cls, path: Path, taken_from: str | None) -> WorkspaceLock:
        key = os.path.abspath(path)
        with _held_guard:
            before = _held.get(key, 0) if taken_from is None else 0
            _held[key] = before + 1
        return cls(path, taken_from, reentered=before > 0)

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give this acquisition back; the file is deleted when no holder in this process is left
        and it still names this process and host. Never raises (a missing file is fine)."""
        if self._released:
            return
        self._released = True
        key = os.path.abspath(self.path)
        with _held_guard:
            left = _held.get(key, 1) - 1
            if left > 0:
                _held[key] = left
                return
            _held.pop(key, None)
        _remove_if_ours(self.path)

    def __enter__(self) -> WorkspaceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_for_writing(folder: str | os.PathLike[str], force: bool = False) -> WorkspaceLock | None:
    """:meth:`WorkspaceLock.acquire`, or None when ``folder`` is read-only (nobody can save there)."""
    try:
        return WorkspaceLock.acquire(folder, force=force)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return None
        raise


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` runs on this host (a process we may not signal counts as alive)."""
    if pid <= 0:
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _windows_pid_alive(pid: int) -> bool:
    """``os.kill(pid, 0)`` would send Ctrl+C on Windows; ask for the process's exit code instead."""
    import ctypes

    kernel = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return kernel.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return bool(kernel.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel.CloseHandle(handle)


def remove_temp_files(folder: str | os.PathLike[str]) -> int:
    """Delete the temp files of interrupted atomic writes directly in ``folder``; how many were deleted.

    Only regular files whose names :func:`is_atomic_temp` accepts; call it only while holding the lock.
    """
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if is_atomic_temp(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


def _record() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "user": current_user(), "since": now_iso(),
            "app": f"LesionLoop {__version__}"}


def _is_ours(holder: dict[str, Any]) -> bool:
    return holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()


def _create(path: Path, record: dict[str, Any]) -> bool:
    """Create ``path`` holding ``record`` if it does not exist; False when it does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(json.dumps(record, indent=2).encode("utf-8") + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _read(path: Path) -> tuple[bytes | None, dict[str, Any] | None]:
    """(the file's bytes or None when it is missing, its holder or None when unreadable or malformed)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError:
        return b"", None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return raw, None
    if not isinstance(data, dict) or type(data.get("pid")) is not int or not isinstance(data.get("host"), str):
        return raw, None
    return raw, {"pid": data["pid"], "host": data["host"], "user": str(data.get("user") or "unknown"),
                 "since": str(data.get("since") or "an unknown time")}


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _take_over(path: Path, judged: bytes) -> bool:
    """Replace the lock file (still holding ``judged``) by ours under the takeover guard.

    True when ours is in place afterwards; False when another taker holds the
    guard or the file changed since it was judged (the caller looks again).
    """
    guard = path.with_name(path.name + GUARD_SUFFIX)
    if not _create(guard, _record()):
        if _age_s(guard) > _GUARD_STALE_S:
            _unlink_quietly(guard)  # its taker died mid-takeover
        else:
            time.sleep(0.02)
        return False
    try:
        raw, _ = _read(path)
        if raw != judged:
            return False  # it changed since we looked: look again
        atomic_write_json(path, _record())
        _, holder = _read(path)
        return holder is not None and _is_ours(holder)
    finally:
        _unlink_quietly(guard)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _remove_if_ours(path: Path) -> None:
    _, holder = _read(path)
    if holder is not None and _is_ours(holder):
        _unlink_quietly(path)


@atexit.register
def _release_all() -> None:
    """At interpreter exit, delete the lock files this process still holds."""
    with _held_guard:
        keys = list(_held)
        _held.clear()
    for key in keys:
        _remove_if_ours(Path(key))
