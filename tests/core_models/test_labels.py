from __future__ import annotations

import re

import numpy as np
import pytest

from core_models.errors import InputError
from core_models.labels import CONSOLIDATION, GGO, check_label_values, default_label_table, from_seed, to_seed


def test_bundled_table_is_medseg_convention():
    table = default_label_table()
    assert table.values == (0, 1, 2)
    assert table.by_value(GGO).key == "ggo"
    assert table.by_value(CONSOLIDATION).key == "consolidation"
    assert all(len(lab.color) == 3 for lab in table.labels)
    assert table.by_value(GGO).color != table.by_value(CONSOLIDATION).color


def test_seed_conversion_round_trip_and_lung():
    ours = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    lung = np.array([[1, 1, 1], [0, 0, 1]], bool)
    seed = to_seed(ours, lung)
    np.testing.assert_array_equal(seed, [[1, 2, 3], [3, 2, 1]])
    np.testing.assert_array_equal(from_seed(seed), ours)


def test_seed_mask_with_foreign_value_is_refused():
    with pytest.raises(InputError, match="0-3"):
        from_seed(np.array([[0, 4]], np.uint8))


def test_foreign_label_values_are_named():
    with pytest.raises(InputError, match=r"\[3, 255\]"):
        check_label_values(np.array([0, 1, 3, 255], np.uint8))


@pytest.mark.parametrize("values, dtype, bad", [([0, -1, 2], np.int16, "[-1]"), ([0, 1, 2.5], np.float32, "[2.5]")])
def test_foreign_values_of_other_types_are_named(values, dtype, bad):
    with pytest.raises(InputError, match=re.escape(bad)):
        check_label_values(np.array(values, dtype))


def test_a_clean_volume_passes_on_the_fast_path():
    labels = np.zeros((30, 64, 64), np.uint8)
    labels[3, 4, 5], labels[7, 8, 9] = 1, 2
    check_label_values(labels)  # raises on failure
    labels[0, 0, 0] = 3
    with pytest.raises(InputError, match=r"\[3\]"):
        check_label_values(labels)


def test_table_json_round_trip():
    table = default_label_table()
    assert type(table).from_json(table.to_json()) == table
