"""The edit journal: every committed change, appended and fsync'ed before it counts.

``journal.jsonl`` holds one JSON object per line::

    {"crc": 2719380721, "kind": "edit", "seq": 18, "edit": {...LabelEdit.to_json()...}}
    {"crc": 90412345, "kind": "status", "seq": 19, "z": 41, "status": "flagged", "note": "", ...}
    {"crc": 1184563, "kind": "confirm", "seq": 20, "z": 41, "roi": {"box": [...], "label": 1, "score": 0.9}}

``crc`` is the CRC32 of the record without it (keys sorted, compact
separators, UTF-8). Sequence numbers rise by one per record and carry on
across saves; ``review.json`` names the last one included in the saved
state. Reading stops at the first line that is torn (no newline: a kill
mid-write), unparsable, fails its CRC or breaks the sequence; nothing after
it is trusted.
"""
from __future__ import annotations

import json
import os
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from core_models.atomic import atomic_write_bytes
from core_models.errors import ResourceError

KINDS: tuple[str, ...] = ("edit", "status", "confirm")


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_record(seq: int, kind: str, payload: dict[str, Any]) -> bytes:
    """One journal line (with its CRC and the newline)."""
    if kind not in KINDS:
        raise ValueError(f"unknown journal record kind {kind!r}")
    record = {**payload, "seq": int(seq), "kind": kind}
    record["crc"] = zlib.crc32(_canonical(record))
    return _canonical(record) + b"\n"


def decode_record(line: bytes) -> dict[str, Any] | None:
    """The record of one complete line, or ``None`` when it is corrupt."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict):
        return None
    crc = record.pop("crc", None)
    if not isinstance(crc, int) or zlib.crc32(_canonical(record)) != crc:
        return None
    if not isinstance(record.get("seq"), int) or record.get("kind") not in KINDS:
        return None
    return record


def read_journal(path: str | Path) -> list[dict[str, Any]]:
    """The trustworthy records of a journal file, in order (empty when there is none).

    Reading stops at the first torn, corrupt or out-of-sequence line.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    records: list[dict[str, Any]] = []
    for line in data.splitlines(keepends=True):
        if not line.endswith(b"\n"):
            break  # torn: the writer was killed mid-line
        record = decode_record(line.rstrip(b"\n"))
        if record is None or (records and record["seq"] != records[-1]["seq"] + 1):
            break
        records.append(record)
    return records


class JournalWriter:
    """Appends records to a journal file, each flushed and fsync'ed before ``append`` returns."""

    def __init__(self, path: str | Path, next_seq: int) -> None:
        self.path = Path(path)
        self.next_seq = int(next_seq)
        self._fh: BinaryIO | None = None

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file (atomically) by exactly ``records``; appends continue after them."""
        self.close()
        atomic_write_bytes(self.path, b"".join(encode_record(r["seq"], r["kind"], r) for r in records))
        if records:
            self.next_seq = max(self.next_seq, int(records[-1]["seq"]) + 1)

    def append(self, kind: str, payload: dict[str, Any]) -> int:
        """Write one record durably; returns its sequence number."""
        line = encode_record(self.next_seq, kind, payload)
        try:
            if self._fh is None:
                self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open between records
            start = self._fh.tell()
            try:
                self._fh.write(line)
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError:
                self._fh.truncate(start)  # never leave half a record for later ones to hide behind
                raise
        except OSError as exc:
            self.close()
            raise ResourceError(f"cannot write the edit journal {self.path} ({exc.strerror or exc})") from None
        self.next_seq += 1
        return self.next_seq - 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
