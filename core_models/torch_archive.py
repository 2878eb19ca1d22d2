"""Read ``torch.save`` zip archives without executing pickled code.

A ``torch.save`` file (torch >= 1.6) is a zip archive: ``<name>/data.pkl``
holds the pickled object, ``<name>/data/N`` the raw bytes of each tensor
storage. Unpickling it with :mod:`pickle` or ``torch.load(weights_only=False)``
runs whatever callables the pickle names. :func:`read_torch_archive` uses a
restricted unpickler instead:

- only inert building blocks are resolved (our own tensor rebuild
  functions, storage types, dtypes, ``OrderedDict``, ``torch.Size``, a few
  builtin containers);
- every other class or function becomes an inert :class:`Placeholder`
  that records its name, arguments and state and runs nothing;
- storages are built from the archive's bytes (``persistent_load``), and
  tensors are strided views of them (bounds checked by torch).
"""
from __future__ import annotations

import _compat_pickle
import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core_models.errors import ModelError

_STORAGE_DTYPES: dict[str, torch.dtype] = {
    "FloatStorage": torch.float32, "DoubleStorage": torch.float64, "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool, "UntypedStorage": torch.uint8,
    "ComplexFloatStorage": torch.complex64, "ComplexDoubleStorage": torch.complex128,
}
_SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "tuple": tuple, "list": list, "dict": dict,
                  "complex": complex, "slice": slice}
#: an entry may expand to at most this many times the archive's size (zip-bomb guard)
_MAX_EXPANSION = 20


class Placeholder:
    """Inert stand-in for a class or function the reader does not allow.

    Creating, calling or rebuilding it only records ``args``, ``kwargs`` and
    ``state``; every instance is listed in its class's ``registry``.
    """

    qualname = "?"
    registry: list[Placeholder] | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:  # noqa: D102 - records only
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state = args, kwargs, None
        if cls.registry is not None:
            cls.registry.append(obj)
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<skipped {self.qualname}>"


@dataclass(frozen=True)
class _StorageType:
    name: str
    dtype: torch.dtype


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple,
                    requires_grad: bool = False, backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor):
        raise ModelError("checkpoint tensor refers to a storage that could not be read")
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _rebuild_parameter(data: Any, requires_grad: bool = False, backward_hooks: Any = None, state: Any = None) -> Any:
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch", "Size"): torch.Size,
}


def check_entry_size(info: zipfile.ZipInfo, archive_size: int) -> None:
    """Refuse an archive entry that would expand far beyond the archive (a zip bomb)."""
    if info.file_size > _MAX_EXPANSION * max(archive_size, 1):
        raise ModelError(f"checkpoint entry {info.filename} claims {info.file_size} bytes; the file is corrupt")


def _python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 3 name of a global that protocol-2 pickles write under its Python 2 name."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler of a torch zip archive that resolves only inert names (see module docstring)."""

    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, archive_size: int):
        super().__init__(file)
        self._archive = archive
        self._archive_size = archive_size
        self._prefix = prefix
        self._storages: dict[str, torch.Tensor] = {}
        self.skipped: list[Placeholder] = []
        self.skipped_names: set[str] = set()

    def find_class(self, module: str, name: str) -> Any:  # noqa: D102 - pickle API
        module, name = _python3_name(module, name)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "builtins" and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return self._placeholder(f"{module}.{name}")

    def _placeholder(self, qualname: str) -> type:
        self.skipped_names.add(qualname)
        return type("Skipped", (Placeholder,), {"qualname": qualname, "registry": self.skipped})

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 - pickle API
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise ModelError(f"checkpoint holds an unsupported persistent object {str(pid)[:60]}")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise ModelError(f"checkpoint storage {key} has an unknown type")
        if key not in self._storages:
            self._storages[key] = self._read_storage(key, storage_type.dtype)
        return self._storages[key]

    def _read_storage(self, key: str, dtype: torch.dtype) -> torch.Tensor:
        try:
            info = self._archive.getinfo(f"{self._prefix}data/{key}")
        except KeyError:
            raise ModelError(f"checkpoint lacks storage data/{key}: the file is truncated or corrupt") from None
        check_entry_size(info, self._archive_size)
        data = self._archive.read(info)
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(data) % itemsize:
            raise ModelError(f"checkpoint storage data/{key} has a broken size")
        if not data:
            return torch.empty(0, dtype=dtype)
        return torch.frombuffer(bytearray(data), dtype=dtype)


@dataclass
class TorchArchive:
    """What a torch zip checkpoint holds: the unpickled object and what was skipped."""

    obj: Any
    skipped: list[Placeholder] = field(default_factory=list)
    skipped_names: list[str] = field(default_factory=list)


def _pickle_prefix(archive: zipfile.ZipFile, path: Path) -> str:
    names = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
    if len(names) != 1:
        raise ModelError(f"{path} is a zip file but not a torch checkpoint (no single */data.pkl)")
    prefix = names[0][: -len("data.pkl")]
    if prefix + "byteorder" in archive.namelist() and archive.read(prefix + "byteorder").strip() != b"little":
        raise ModelError(f"{path} was saved on a big-endian machine; only little-endian checkpoints are read")
    return prefix


def read_torch_archive(path: str | Path) -> TorchArchive:
    """Read a ``torch.save`` zip file without executing pickled code.

    Raises
    ------
    ModelError
        When the file is missing, not a zip torch checkpoint (e.g. the legacy
        format of torch < 1.6), truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path} is not a zip-format torch checkpoint (legacy torch < 1.6 files are not read)")
    try:
        with zipfile.ZipFile(path) as archive:
            prefix = _pickle_prefix(archive, path)
            check_entry_size(archive.getinfo(prefix + "data.pkl"), path.stat().st_size)
            with archive.open(prefix + "data.pkl") as fh:
                unpickler = RestrictedUnpickler(fh, archive, prefix, path.stat().st_size)
                obj = unpickler.load()
    except ModelError:
        raise
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, OSError, ValueError, TypeError,
            AttributeError, IndexError, KeyError, RuntimeError) as exc:
        raise ModelError(f"{path} is truncated or corrupt ({type(exc).__name__})") from None
    return TorchArchive(obj, unpickler.skipped, sorted(unpickler.skipped_names))
