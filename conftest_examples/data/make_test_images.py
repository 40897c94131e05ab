"""Write ``mni152_128.npz``, the test and validation images the examples ship, from nilearn's MNI152 template.

    python -m conftest_examples.data.make_test_images      (needs nilearn: pip install -e '.[zoo]')

Keys (float16, 128 × 128, see :mod:`conftest_examples.datasets` for the slices and the CT model):
``test_t1`` / ``test_ct`` (4 axial slices) and ``val_t1`` / ``val_ct`` (8 slices of three orientations).
"""

from pathlib import Path

import numpy as np

from conftest_examples import datasets


def main() -> None:
    arrays = {}
    for split in ("test", "val"):
        maps = datasets.tissue_maps(split)
        arrays[f"{split}_t1"] = datasets.t1_images(maps)[:, 0].numpy().astype(np.float16)
        arrays[f"{split}_ct"] = datasets.ct_images(maps)[:, 0].numpy().astype(np.float16)
    out = Path(__file__).with_name("mni152_128.npz")
    np.savez_compressed(out, **arrays)
    print(f"{out}: " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items()))


if __name__ == "__main__":
    main()
