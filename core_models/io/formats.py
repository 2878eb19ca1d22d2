"""What a path is: DICOM, NIfTI, NRRD, MetaImage, PNG/JPG, or a folder of them."""
from __future__ import annotations

from pathlib import Path

from core_models.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SITK_SUFFIXES = {".nii": "nifti", ".nii.gz": "nifti", ".nrrd": "nrrd", ".nhdr": "nrrd",
                 ".seg.nrrd": "nrrd", ".mha": "metaimage", ".mhd": "metaimage"}
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: ITK ImageIO class per kind (set explicitly: clearer errors, no probing of every reader)
IMAGE_IO = {"nifti": "NiftiImageIO", "nrrd": "NrrdImageIO", "metaimage": "MetaImageIO",
            "dicom-file": "GDCMImageIO"}
KIND_NAMES = {"nifti": "NIfTI file", "nrrd": "NRRD file", "metaimage": "MetaImage file",
              "dicom-file": "DICOM file", "image": "image", "itk": "image file"}
#: files that may sit beside slices without making a folder "mixed"
_SIDE_FILES = (".txt", ".md", ".json", ".csv", ".xml", ".ini", ".db")


def full_suffix(path: str | Path) -> str:
    """Lower-case suffix that names the format: ``.nii.gz``, ``.seg.nrrd``, ``.png``..."""
    name = Path(path).name.lower()
    for double in (".nii.gz", ".seg.nrrd"):
        if name.endswith(double):
            return double
    return Path(name).suffix


def is_dicom_file(path: Path) -> bool:
    """True when the file carries the DICOM Part 10 marker ``DICM`` at byte 128."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def check_exists(path: Path) -> None:
    """InputError for a missing path or an empty (0-byte) file."""
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")


def file_kind(path: Path) -> str:
    """Kind of a single file: nifti, nrrd, metaimage, image, dicom-file or itk."""
    suffix = full_suffix(path)
    if suffix in SITK_SUFFIXES:
        return SITK_SUFFIXES[suffix]
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in DICOM_SUFFIXES or is_dicom_file(path):
        return "dicom-file"
    return "itk"


def folder_files(folder: Path) -> list[Path]:
    """Visible regular files of a folder (not recursive), sorted by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(f"cannot list folder {folder}: {exc.strerror or exc}") from None
    return [p for p in entries if p.is_file() and not p.name.startswith(".")]


def image_files(files: list[Path]) -> list[Path]:
    """The PNG/JPG files among ``files``."""
    return [p for p in files if full_suffix(p) in IMAGE_SUFFIXES]


def only_images(files: list[Path]) -> bool:
    """True when a folder holds PNG/JPG slices and nothing a DICOM reader should scan."""
    images = image_files(files)
    others = [p for p in files if p not in images and full_suffix(p) not in _SIDE_FILES]
    return bool(images) and not others
