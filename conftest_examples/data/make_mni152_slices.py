"""Make the brain slices the example networks train and are tested on, from the MNI152 template in nilearn.

nilearn ships the MNI152 T1 template (ICBM 2009a, 1 mm) inside its package, so nothing is downloaded. This
script is run once by a developer (it needs nilearn, which is not a dependency) and its output,
``mni152_slices_64.npz`` (about 1 MB), is committed:

* ``train``: (N, 64, 64) float16 — every second axial slice and every second coronal slice with enough brain,
  except the held-out axial slices and their immediate neighbours;
* ``test``: (4, 64, 64) float16 — axial slices z = 70, 90, 110, 130 (the validation images of the demo).

Each slice is cropped to a centred square around the head, low-pass filtered and resampled to 64 × 64, and
scaled to max 1. Usage: ``python conftest_examples/data/make_mni152_slices.py`` (with nilearn installed).
"""

from pathlib import Path

import numpy as np
from nilearn.datasets import load_mni152_template
from scipy.ndimage import gaussian_filter, zoom

SIZE = 64
TEST_Z = (70, 90, 110, 130)


def to_square(image: np.ndarray) -> np.ndarray:
    side = max(image.shape)
    out = np.zeros((side, side), dtype=np.float64)
    top, left = (side - image.shape[0]) // 2, (side - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    factor = SIZE / side
    small = zoom(gaussian_filter(out, sigma=0.5 / factor), factor, order=1)
    small = np.clip(small, 0, None)
    return small / small.max()


def main() -> None:
    volume = load_mni152_template(resolution=1).get_fdata()  # (x, y, z) = (197, 233, 189)
    axial = {z: np.rot90(volume[:, :, z]) for z in range(volume.shape[2])}
    coronal = {y: np.rot90(volume[:, y, :]) for y in range(volume.shape[1])}
    enough = lambda s: (s > 0.1).mean() > 0.15  # noqa: E731
    held_out = {z + d for z in TEST_Z for d in (-1, 0, 1)}
    train = [to_square(s) for z, s in axial.items() if z % 2 == 0 and z not in held_out and enough(s)]
    train += [to_square(s) for y, s in coronal.items() if y % 2 == 0 and enough(s)]
    test = [to_square(axial[z]) for z in TEST_Z]
    out = Path(__file__).with_name(f"mni152_slices_{SIZE}.npz")
    np.savez_compressed(out, train=np.stack(train).astype(np.float16), test=np.stack(test).astype(np.float16))
    print(f"{out}: {len(train)} training and {len(test)} test slices of {SIZE}x{SIZE}")


if __name__ == "__main__":
    main()
