"""Loading validation images: every format, the normalisation, resizing and the errors."""

import numpy as np
import pytest
import torch

from pytest_stability.loaders import load_images


def _image(h=12, w=10, seed=0):
    return np.random.default_rng(seed).random((h, w)).astype(np.float32)


def test_png_and_tiff_are_read_as_luminance_and_normalised(tmp_path):
    from PIL import Image

    a = (_image() * 200).astype(np.uint8)
    Image.fromarray(a).convert("RGB").save(tmp_path / "a.png")
    Image.fromarray(_image(seed=1) * 7.0, mode="F").save(tmp_path / "b.tiff")
    x = load_images(str(tmp_path))
    assert x.shape == (2, 1, 12, 10) and x.dtype == torch.float32
    torch.testing.assert_close(x.amax(dim=(1, 2, 3)), torch.ones(2))
    torch.testing.assert_close(x[0, 0], torch.from_numpy(a / a.max()).float(), atol=2 / 255, rtol=0)
    torch.testing.assert_close(x[1, 0], torch.from_numpy(_image(seed=1) / _image(seed=1).max()))


def test_numpy_and_torch_arrays_keep_complex_phase(tmp_path):
    z = (_image() + 1j * _image(seed=2)).astype(np.complex64)
    np.save(tmp_path / "z.npy", np.stack([z, 2 * z]))
    torch.save(torch.from_numpy(_image(seed=3))[None, None], tmp_path / "t.pt")
    x = load_images(str(tmp_path / "z.npy"))
    assert x.shape == (2, 1, 12, 10) and x.is_complex()
    torch.testing.assert_close(x[0], x[1])  # each image divided by its own max |x|
    assert load_images(str(tmp_path / "*.pt")).shape == (1, 1, 12, 10)


def test_resizing_to_the_operator_size(tmp_path):
    np.save(tmp_path / "big.npy", _image(24, 20))
    x = load_images(str(tmp_path / "big.npy"), size=(12, 10))
    assert x.shape == (1, 1, 12, 10) and float(x.max()) == pytest.approx(1.0)


def test_dicom_when_pydicom_is_installed(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    x = load_images(path)
    ds = pydicom.dcmread(path)
    assert x.shape == (1, 1, *ds.pixel_array.shape) and float(x.abs().max()) == pytest.approx(1.0)


def test_fastmri_h5_when_h5py_is_installed(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "file1000.h5", "w") as f:
        f["reconstruction_rss"] = np.stack([_image(seed=s) for s in range(3)])
    assert load_images(str(tmp_path / "file1000.h5")).shape == (3, 1, 12, 10)


@pytest.mark.parametrize(("write", "match"), [
    (lambda p: None, "matched no image files"),
    (lambda p: (p / "x.png").write_bytes(b"not a png"), "cannot be read as an image"),
    (lambda p: np.save(p / "x.npy", np.zeros((4, 4))), "all zeros"),
    (lambda p: np.save(p / "x.npy", np.full((4, 4), np.nan)), "NaN"),
    (lambda p: np.save(p / "x.npy", np.ones((1, 1, 1, 4, 4))), "shape"),
    (lambda p: (np.save(p / "a.npy", np.ones((4, 4))), np.save(p / "b.npy", np.ones((5, 5)))), "mixes shapes"),
    (lambda p: np.save(p / "x.npy", np.array([object()], dtype=object)), "cannot be read"),
])
def test_unreadable_files_are_named(tmp_path, write, match):
    write(tmp_path)
    with pytest.raises(ValueError, match=match):
        load_images(str(tmp_path))
