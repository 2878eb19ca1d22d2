"""Slice ordering, seed file names and series choice (no files needed)."""
from __future__ import annotations

import pytest

from core_models.errors import InputError
from core_models.io.names import natural_key, order_slice_files, parse_seed_name
from core_models.io.series import SeriesInfo, choose_series, short_uid, sort_series


def test_natural_order_puts_2_before_10():
    names = ["10.png", "2.png", "1.png", "img20.png", "img3.png", "A1.png"]
    assert sorted(names, key=natural_key) == ["1.png", "2.png", "10.png", "A1.png", "img3.png", "img20.png"]


def test_natural_key_never_compares_text_with_numbers():
    # names that start with a digit and names that start with a letter must still sort
    names = ["1a.png", "a1.png", "0010.png", "b.png", "9.png"]
    ordered = sorted(names, key=natural_key)
    assert ordered.index("1a.png") < ordered.index("0010.png")
    assert ordered.index("9.png") < ordered.index("0010.png")


@pytest.mark.parametrize(
    ("name", "class_id", "class_name"),
    [
        ("0_12_1_7.png", 0, "Control"),
        ("1_3_2_40.png", 1, "CP"),
        ("2_7_1_5.png", 2, "COVID-19"),
        ("Normal_12_1_7.png", 0, "Control"),
        ("Control_12_1_7.jpg", 0, "Control"),
        ("CP_5_0_3.png", 1, "CP"),
        ("Pneumonia_5_0_3.png", 1, "CP"),
        ("NCP_99_1_3.png", 2, "COVID-19"),
        ("COVID_99_1_3.png", 2, "COVID-19"),
    ],
)
def test_seed_names_parse(name, class_id, class_name):
    parsed = parse_seed_name(name)
    assert parsed is not None
    assert (parsed.class_id, parsed.class_name, parsed.file) == (class_id, class_name, name)


@pytest.mark.parametrize("name", ["slice_0001.png", "3_12_1_7.png", "2_12_x_7.png", "2_12_1.png", "scan.png"])
def test_non_seed_names_are_rejected(name):
    assert parse_seed_name(name) is None


def test_seed_parse_fields():
    parsed = parse_seed_name("2_P0042_3_117.png")
    assert (parsed.patient, parsed.scan, parsed.slice) == ("P0042", 3, 117)


def test_seed_folder_orders_by_patient_scan_slice():
    names = ["2_10_1_2.png", "2_9_2_1.png", "2_9_1_10.png", "2_9_1_2.png", "0_10_1_1.png"]
    ordered, seeds = order_slice_files(names)
    assert ordered == ["2_9_1_2.png", "2_9_1_10.png", "2_9_2_1.png", "0_10_1_1.png", "2_10_1_2.png"]
    assert [s.file for s in seeds] == ordered
    assert seeds[3].class_name == "Control"


def test_mixed_names_fall_back_to_natural_order():
    ordered, seeds = order_slice_files(["2_9_1_2.png", "10.png", "2.png"])
    assert seeds is None
    assert ordered == ["2.png", "2_9_1_2.png", "10.png"]


def _series(n: int, uid: str, date: str = "") -> SeriesInfo:
    return SeriesInfo(uid, f"series {uid}", n, "CT", date)


def test_largest_series_first_then_earliest():
    found = sort_series([_series(3, "1.2.3"), _series(40, "1.2.4"), _series(3, "1.2.5", "19000101")])
    assert [s.uid for s in found] == ["1.2.4", "1.2.5", "1.2.3"]  # undated ties go last
    dated = sort_series([_series(1, "9.9", "19010112"), _series(1, "1.1", "19001231")])
    assert [s.uid for s in dated] == ["1.1", "9.9"]


def test_choose_series_by_index_uid_and_prefix():
    found = [_series(40, "1.2.840.5"), _series(3, "1.2.840.77")]
    assert choose_series(found, None, "x") == 0
    assert choose_series(found, 1, "x") == 1
    assert choose_series(found, "1", "x") == 1
    assert choose_series(found, "1.2.840.77", "x") == 1
    assert choose_series(found, "1.2.840.7", "x") == 1


@pytest.mark.parametrize("bad", [2, "5", "9.9.9", "1.2.840"])
def test_choose_series_rejects_unknown_or_ambiguous(bad):
    found = [_series(40, "1.2.840.5"), _series(3, "1.2.840.77")]
    with pytest.raises(InputError) as info:
        choose_series(found, bad, "folder X")
    assert "folder X" in str(info.value) and "\n" not in str(info.value)


def test_short_uid_keeps_both_ends():
    uid = "1.2.826.0.1.3680043.10.474.419639.403650391453800318566197197100"
    short = short_uid(uid)
    assert short.startswith("1.2.826") and short.endswith(uid[-8:]) and len(short) < len(uid)
    assert short_uid("1.2.3") == "1.2.3"
