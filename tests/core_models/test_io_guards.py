"""Pixel conversion to int16, memory guard, ITK error messages, NRRD header checks."""
from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from core_models.errors import InputError, ResourceError
from core_models.io import guards
from core_models.io.nrrd_header import check_data_file, nrrd_declared_bytes, read_nrrd_fields
from core_models.io.pixels import to_int16


def test_int16_passes_through_unchanged():
    arr = np.array([[[-1024, 0, 3071]]], dtype=np.int16)
    out, warnings = to_int16(arr, "x")
    assert out.dtype == np.int16 and warnings == []
    np.testing.assert_array_equal(out, arr)


def test_int32_in_range_is_cast_without_warning():
    arr = np.array([[[-3024, -1000, 1857]]], dtype=np.int32)
    out, warnings = to_int16(arr, "x")
    assert out.dtype == np.int16 and warnings == []
    np.testing.assert_array_equal(out, arr)


def test_int32_out_of_range_is_clipped_not_wrapped():
    arr = np.array([[[-40000, 5, 40000]], [[0, 1, 2]]], dtype=np.int32)
    out, warnings = to_int16(arr, "x")
    np.testing.assert_array_equal(out[0, 0], [-32768, 5, 32767])
    assert len(warnings) == 1 and "clipped" in warnings[0]


def test_float_is_rounded_to_nearest():
    arr = np.array([[[-999.6, -0.4, 0.5001, 1.49, 2.51]]], dtype=np.float32)
    out, _ = to_int16(arr, "x")
    np.testing.assert_array_equal(out[0, 0], [-1000, 0, 1, 1, 3])


def test_float_beyond_int16_is_clipped():
    arr = np.array([[[-1e6, 1e6, 12.0]]], dtype=np.float64)
    out, warnings = to_int16(arr, "x")
    np.testing.assert_array_equal(out[0, 0], [-32768, 32767, 12])
    assert any("clipped" in w for w in warnings)


def test_some_nan_become_the_minimum_with_a_warning():
    arr = np.full((2, 3, 3), 40.0, dtype=np.float32)
    arr[0, 0, 0] = np.nan
    arr[1, 2, 2] = np.inf
    arr[1, 1, 1] = -1000.0
    out, warnings = to_int16(arr, "x")
    assert out[0, 0, 0] == -1000 and out[1, 2, 2] == -1000
    assert out[0, 1, 1] == 40
    assert len(warnings) == 1 and "2 NaN" in warnings[0]


def test_all_nan_is_an_input_error():
    with pytest.raises(InputError, match="no finite values"):
        to_int16(np.full((2, 2, 2), np.nan, dtype=np.float32), "scan.nii")


def test_memory_guard_names_need_and_availability(monkeypatch):
    monkeypatch.setattr(guards, "available_memory", lambda: 2 * 1024**3)
    guards.check_memory(1024**3, "small")
    with pytest.raises(ResourceError) as info:
        guards.check_memory(5 * 1024**4, "huge.nrrd")
    message = str(info.value)
    assert "huge.nrrd" in message and "5.0 TiB" in message and "2.0 GiB" in message


def test_available_memory_is_positive():
    assert guards.available_memory() > 0


def test_format_bytes():
    assert guards.format_bytes(512) == "512 bytes"
    assert guards.format_bytes(1536) == "1.5 KiB"
    assert guards.format_bytes(3 * 1024**3) == "3.0 GiB"


@pytest.mark.parametrize(
    ("size", "components", "match"),
    [((4, 4, 4, 3), 1, "4D"), ((4, 4, 4), 3, "colour"), ((4,), 1, "1D")],
)
def test_check_shape_rejects(size, components, match):
    with pytest.raises(InputError, match=match):
        guards.check_shape(size, components, "f")


def test_check_shape_accepts_single_time_point():
    guards.check_shape((4, 4, 4, 1), 1, "f")
    guards.check_shape((4, 4), 1, "f")


def test_itk_errors_become_one_line():
    text = ("Exception thrown in SimpleITK ImageFileReader_Execute: /tmp/build/itkNiftiImageIO.cxx:123:\n"
            "ITK ERROR: NiftiImageIO(0x55c2636951b0): Cannot read requested file\n")
    with pytest.raises(InputError) as info:
        with guards.itk_errors("scan.nii.gz"):
            raise RuntimeError(text)
    message = str(info.value)
    assert message == "cannot read scan.nii.gz: Cannot read requested file"


def test_nrrd_header_fields_and_declared_size(tmp_path):
    path = tmp_path / "h.nhdr"
    path.write_bytes(b"NRRD0004\n# comment\ntype: short\ndimension: 3\nsizes: 10 20 30\n"
                     b"endian: little\nencoding: raw\ndata file: h.raw\nSegment0_Name:=GGO\n\n")
    fields = read_nrrd_fields(path)
    assert fields["type"] == "short" and fields["Segment0_Name"] == "GGO"
    assert nrrd_declared_bytes(fields) == 10 * 20 * 30 * 2
    with pytest.raises(InputError, match="h.raw"):
        check_data_file(path, fields)
    (tmp_path / "h.raw").write_bytes(b"\0" * 10)
    check_data_file(path, fields)


def test_non_nrrd_has_no_fields(tmp_path):
    path = tmp_path / "x.nrrd"
    path.write_bytes(b"hello")
    assert read_nrrd_fields(path) is None


def test_c_level_stderr_is_silenced_and_restored(capfd):
    def write_fd2(text: str) -> None:
        os.write(2, text.encode())

    with guards.silenced_c_stderr():
        write_fd2("hidden outer\n")
        inner = threading.Thread(target=lambda: _nested(write_fd2))
        inner.start()
        inner.join()
    write_fd2("visible after\n")
    err = capfd.readouterr().err
    assert "hidden" not in err and "visible after" in err


def _nested(write) -> None:  # noqa: ANN001 - the writer above
    with guards.silenced_c_stderr():
        write("hidden inner\n")
