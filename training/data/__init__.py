"""Training data: sources and layouts, records and samples, instances, the torch dataset.

See :mod:`training.datasets` for the overview; the modules:

- :mod:`.records` - :class:`SliceRecord`, :class:`Sample`, :class:`SliceReader`;
- :mod:`.sources` - layout detection and listing (MedSeg, seed PNGs, volumes, phantoms, workspaces);
- :mod:`.workspace` - the reviewer workspace format;
- :mod:`.splits` - the ``medseg-split`` and the training data hash;
- :mod:`.instances` - detector targets from label maps;
- :mod:`.torch_dataset` - :class:`SliceDataset`, :func:`collate`, :class:`ResumableSampler`.
"""
from __future__ import annotations
