"""Bad input to ``python main.py info``: one line on stderr, exit status 2, never a traceback."""
from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def assert_one_line_error(path: Path, *words: str) -> str:
    """Run ``info`` on ``path``; check the error contract and return the message."""
    res = subprocess.run([sys.executable, str(REPO / "main.py"), "info", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("lesionloop info: error: ")
    assert res.stdout == ""
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _element(group: int, elem: int, vr: str, value: bytes) -> bytes:
    """One explicit-VR little-endian DICOM data element."""
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    head = struct.pack("<HH", group, elem) + vr.encode("ascii")
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _dicom_without_pixels() -> bytes:
    """A valid DICOM Part 10 file (a structured report header) with no pixel data."""
    sop_class = b"1.2.840.10008.5.1.4.1.1.88.11"
    meta = (_element(2, 1, "OB", b"\0\1") + _element(2, 2, "UI", sop_class)
            + _element(2, 3, "UI", b"1.2.3.4.5.6") + _element(2, 0x10, "UI", b"1.2.840.10008.1.2.1"))
    meta = _element(2, 0, "UL", struct.pack("<I", len(meta))) + meta
    data = (_element(8, 0x16, "UI", sop_class) + _element(8, 0x18, "UI", b"1.2.3.4.5.6")
            + _element(8, 0x60, "CS", b"SR") + _element(0x10, 0x10, "PN", b"Test^Patient")
            + _element(0x20, 0x0D, "UI", b"1.2.3.4.7") + _element(0x20, 0x0E, "UI", b"1.2.3.4.8"))
    return b"\0" * 128 + b"DICM" + meta + data


def test_missing_path(tmp_path):
    assert_one_line_error(tmp_path / "nowhere", "no such file")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    assert_one_line_error(tmp_path / "empty.nii.gz", "empty")


def test_truncated_dicom(shared_data, tmp_path):
    data = (shared_data / "lung_pet_ct_dx_chest_ct" / "1-01.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) // 2])
    assert_one_line_error(tmp_path / "cut.dcm", "cut.dcm", "truncated")


def test_random_bytes_named_nii_gz(tmp_path):
    (tmp_path / "noise.nii.gz").write_bytes(np.random.default_rng(7).bytes(4096))
    assert_one_line_error(tmp_path / "noise.nii.gz", "noise.nii.gz")


def test_text_file_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not a picture\n")
    assert_one_line_error(tmp_path / "notes.png", "notes.png", "not a readable")


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    assert_one_line_error(tmp_path, "no DICOM series or PNG/JPG slices")


def test_dicom_that_is_not_an_image(tmp_path):
    (tmp_path / "report.dcm").write_bytes(_dicom_without_pixels())
    assert_one_line_error(tmp_path / "report.dcm", "report.dcm", "no pixel data")


def test_nifti_full_of_nan(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.full((3, 4, 5), np.nan, np.float32)), str(tmp_path / "nan.nii.gz"))
    assert_one_line_error(tmp_path / "nan.nii.gz", "no finite values")


def test_4d_volume(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((3, 2, 4, 5), np.int16), isVector=False)
    sitk.WriteImage(image, str(tmp_path / "time.nii.gz"))
    assert_one_line_error(tmp_path / "time.nii.gz", "4D")


def test_rgb_volume(tmp_path):
    image = sitk.GetImageFromArray(np.zeros((2, 4, 5, 3), np.uint8), isVector=True)
    sitk.WriteImage(image, str(tmp_path / "rgb.nrrd"))
    assert_one_line_error(tmp_path / "rgb.nrrd", "colour")


def test_mixed_size_png_folder(tmp_path):
    for i in range(3):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / f"{i}.png")
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "10.png")
    assert_one_line_error(tmp_path, "10.png", "8x9")


def test_declared_size_too_large(tmp_path):
    header = (b"NRRD0004\ntype: int16\ndimension: 3\nsizes: 100000 100000 1000\n"
              b"endian: little\nencoding: raw\ndata file: huge.raw\n\n")
    (tmp_path / "huge.nhdr").write_bytes(header)  # the data file does not even exist
    message = assert_one_line_error(tmp_path / "huge.nhdr", "memory", "TiB")
    assert "available" in message
