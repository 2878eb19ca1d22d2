"""Label maps: volumes, Slicer .seg.nrrd, PNG masks, seed convention (small synthetic maps)."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from core_models.errors import InputError
from core_models.io import read_labels, write_labels
from core_models.io.nrrd_header import read_nrrd_fields
from core_models.labels import default_label_table
from core_models.volume import CTVolume, Geometry, LabelMap


def _geometry() -> Geometry:
    c, s = np.cos(0.3), np.sin(0.3)
    return Geometry(spacing=(2.0, 0.75, 0.7), origin=(-120.5, 33.25, 410.0),
                    direction=(c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))


def _labels(shape=(4, 10, 12)) -> LabelMap:
    arr = np.zeros(shape, np.uint8)
    last = shape[0] - 1
    arr[min(1, last):3, 2:6, 3:8] = 1
    arr[min(2, last), 4:9, 6:11] = 2
    return LabelMap(arr, _geometry(), source="synthetic")


def _same_geometry(a: Geometry, b: Geometry) -> None:
    np.testing.assert_allclose(a.spacing, b.spacing, atol=1e-4)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-4)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-4)


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".nrrd", ".mha", ".seg.nrrd"])
def test_label_volume_round_trip(tmp_path, suffix):
    labels = _labels()
    written = write_labels(labels, tmp_path / f"lab{suffix}")
    assert written == [tmp_path / f"lab{suffix}"]
    back = read_labels(written[0])
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, labels.array)
    _same_geometry(back.geometry, labels.geometry)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"lab{suffix}"]


def test_seg_nrrd_header_carries_slicer_fields(tmp_path):
    labels = _labels()
    path = write_labels(labels, tmp_path / "lab.seg.nrrd")[0]
    fields = read_nrrd_fields(path)
    assert fields["Segmentation_MasterRepresentation"] == "Binary labelmap"
    table = default_label_table()
    for i, lab in enumerate(table.foreground()):
        assert fields[f"Segment{i}_ID"] == lab.key
        assert fields[f"Segment{i}_Name"] == lab.name
        assert int(fields[f"Segment{i}_LabelValue"]) == lab.value
        assert fields[f"Segment{i}_Layer"] == "0"
        colour = [float(c) for c in fields[f"Segment{i}_Color"].split()]
        np.testing.assert_allclose(colour, [c / 255 for c in lab.color], atol=1e-5)
        zz, yy, xx = np.nonzero(labels.array == lab.value)
        extent = [xx.min(), xx.max(), yy.min(), yy.max(), zz.min(), zz.max()]
        assert [int(v) for v in fields[f"Segment{i}_Extent"].split()] == extent
    assert fields["type"] in ("unsigned char", "uchar", "uint8")


def _slicer_like(tmp_path, layers: np.ndarray, segments: list[tuple[str, str, int, int]],
                 geometry: Geometry, name: str = "slicer.seg.nrrd"):
    """A .seg.nrrd as Slicer may save it: own IDs, label values and layers."""
    is_vector = layers.ndim == 4
    image = geometry.apply_to(sitk.GetImageFromArray(layers, isVector=is_vector))
    for i, (seg_id, seg_name, value, layer) in enumerate(segments):
        image.SetMetaData(f"Segment{i}_ID", seg_id)
        image.SetMetaData(f"Segment{i}_Name", seg_name)
        image.SetMetaData(f"Segment{i}_LabelValue", str(value))
        image.SetMetaData(f"Segment{i}_Layer", str(layer))
    sitk.WriteImage(image, str(tmp_path / name), True)
    return tmp_path / name


def test_seg_nrrd_segments_map_back_by_name(tmp_path):
    stored = np.zeros((2, 5, 5), np.uint8)
    stored[0, 1, 1] = 7  # "Consolidation" stored as 7
    stored[1, 2, 2] = 5  # "GGO" stored as 5
    stored[1, 3, 3] = 9  # "lung" -> background for us
    path = _slicer_like(tmp_path, stored, [("Segment_1", "consolidation", 7, 0), ("Segment_2", "GGO", 5, 0),
                                           ("Segment_3", "Lung", 9, 0)], Geometry())
    back = read_labels(path)
    assert back.array[0, 1, 1] == 2 and back.array[1, 2, 2] == 1 and back.array[1, 3, 3] == 0
    assert int(back.array.sum()) == 3


def test_seg_nrrd_layers_combine_with_consolidation_on_top(tmp_path):
    layers = np.zeros((2, 4, 4, 2), np.uint8)
    layers[0, :2, :2, 0] = 1  # GGO in layer 0
    layers[0, 1:3, 1:3, 1] = 1  # consolidation in layer 1, overlapping at (0, 1, 1)
    path = _slicer_like(tmp_path, layers, [("a", "Ground-glass opacity", 1, 0), ("b", "Consolidation", 1, 1)],
                        Geometry())
    back = read_labels(path)
    assert back.array[0, 0, 0] == 1 and back.array[0, 1, 1] == 2 and back.array[0, 2, 2] == 2


def test_seg_nrrd_unknown_segment_is_named(tmp_path):
    path = _slicer_like(tmp_path, np.ones((1, 3, 3), np.uint8), [("Segment_1", "Tumour", 1, 0)], Geometry())
    with pytest.raises(InputError, match="Tumour"):
        read_labels(path)


def test_cropped_segmentation_is_placed_on_the_ct_grid(tmp_path):
    ct = CTVolume(np.zeros((6, 20, 30), np.int16), _geometry())
    crop = np.zeros((2, 3, 4), np.uint8)
    crop[1, 2, 3] = 1
    offset = ct.geometry.index_to_physical(3, 5, 7)  # crop starts at voxel (z3, y5, x7)
    crop_geometry = Geometry(ct.spacing, tuple(offset), ct.direction)
    path = _slicer_like(tmp_path, crop, [("g", "GGO", 1, 0)], crop_geometry)
    back = read_labels(path, reference=ct)
    assert back.shape == ct.shape
    assert list(zip(*np.nonzero(back.array), strict=True)) == [(4, 7, 10)]
    shifted = Geometry(ct.spacing, tuple(offset + np.array([0.3, 0.0, 0.0])), ct.direction)
    path = _slicer_like(tmp_path, crop, [("g", "GGO", 1, 0)], shifted, name="off.seg.nrrd")
    with pytest.raises(InputError, match="does not fit"):
        read_labels(path, reference=ct)


def test_seed_convention_writes_lung_and_shifted_lesions(tmp_path):
    labels = _labels()
    lung = np.zeros(labels.shape, bool)
    lung[:, 1:9, 1:11] = True
    path = write_labels(labels, tmp_path / "seed.nii.gz", convention="seed", lung=lung)[0]
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
    assert stored[labels.array == 1].min() == 2 and stored[labels.array == 2].min() == 3
    assert stored[lung & (labels.array == 0)].max() == 1 and stored[~lung].max() == 0
    back = read_labels(path, convention="seed")
    np.testing.assert_array_equal(back.array, labels.array)
    with pytest.raises(InputError, match=r"\[3\]"):
        read_labels(path)  # value 3 is not one of ours


def test_lung_mask_must_match(tmp_path):
    with pytest.raises(InputError, match="lung"):
        write_labels(_labels(), tmp_path / "x.nii", convention="seed", lung=np.zeros((2, 2, 2), bool))


def test_one_slice_png_round_trip_with_reference_geometry(tmp_path):
    labels = _labels(shape=(1, 10, 12))
    path = write_labels(labels, tmp_path / "mask.png")[0]
    with Image.open(path) as img:
        assert img.mode == "L"
    ct = CTVolume(np.zeros((1, 10, 12), np.int16), _geometry())
    back = read_labels(path, reference=ct)
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.geometry == ct.geometry
    with pytest.raises(InputError, match="shape"):
        read_labels(path, reference=CTVolume(np.zeros((1, 10, 11), np.int16)))


def test_many_slices_into_one_png_is_refused(tmp_path):
    with pytest.raises(InputError, match="folder"):
        write_labels(_labels(), tmp_path / "mask.png")


def test_png_folder_default_names_and_seed_convention(tmp_path):
    labels = _labels()
    written = write_labels(labels, tmp_path / "masks", convention="seed")
    assert [p.name for p in written] == [f"slice_{z:04d}.png" for z in range(4)]
    assert np.asarray(Image.open(written[2])).max() == 3
    back = read_labels(tmp_path / "masks", convention="seed")
    np.testing.assert_array_equal(back.array, labels.array)


def test_png_folder_follows_the_ct_slice_order(tmp_path):
    labels = _labels()
    names = ["2_9_1_2.png", "2_9_1_10.png", "2_10_1_1.png", "2_10_2_1.png"]  # seed order, not natural
    written = write_labels(labels, tmp_path / "masks", slice_names=names)
    assert [p.name for p in written] == names
    ct = CTVolume(np.zeros(labels.shape, np.int16), _geometry(), is_hu=False, meta={"slice_files": names})
    back = read_labels(tmp_path / "masks", reference=ct)
    np.testing.assert_array_equal(back.array, labels.array)
    assert back.meta["slice_files"] == names and back.geometry == ct.geometry


def test_slice_names_keep_dotted_stems(tmp_path):
    written = write_labels(_labels(shape=(2, 3, 3)), tmp_path / "m", slice_names=["case.001", "b.jpg"])
    assert [p.name for p in written] == ["case.001.png", "b.png"]


def test_foreign_values_are_refused_on_write_and_read(tmp_path):
    bad = LabelMap(np.full((1, 3, 3), 5, np.uint8))
    with pytest.raises(InputError, match="5"):
        write_labels(bad, tmp_path / "bad.nii")
    assert not list(tmp_path.iterdir())
    Image.fromarray(np.full((3, 3), 7, np.uint8)).save(tmp_path / "seven.png")
    with pytest.raises(InputError, match="7"):
        read_labels(tmp_path / "seven.png")


def test_fractional_label_volume_is_refused(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 2, 2), 0.5, np.float32)), str(tmp_path / "f.nii"))
    with pytest.raises(InputError, match="fractional"):
        read_labels(tmp_path / "f.nii")
    sitk.WriteImage(sitk.GetImageFromArray(np.full((2, 2, 2), 2.0, np.float32)), str(tmp_path / "w.nii"))
    assert int(read_labels(tmp_path / "w.nii").array.max()) == 2


def test_jpeg_masks_are_refused(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "m.jpg")
    with pytest.raises(InputError, match="PNG"):
        read_labels(tmp_path / "m.jpg")


def test_colour_mask_in_table_colours_is_mapped(tmp_path):
    table = default_label_table()
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = table.by_value(1).color
    rgb[1, 2] = table.by_value(2).color
    Image.fromarray(rgb).save(tmp_path / "colour.png")
    back = read_labels(tmp_path / "colour.png")
    assert back.array[0, 0, 0] == 1 and back.array[0, 1, 2] == 2 and int(back.array.sum()) == 3


def test_unknown_target_and_convention(tmp_path):
    with pytest.raises(InputError, match="cannot write labels"):
        write_labels(_labels(), tmp_path / "x.tif")
    with pytest.raises(InputError, match="convention"):
        write_labels(_labels(), tmp_path / "x.nii", convention="medseg")
