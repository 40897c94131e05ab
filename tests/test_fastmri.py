"""fastMRI end to end with the real library: its file format, its mask functions as nested families, its VarNet and
U-Net called as fastMRI calls them, and magnitude reconstructions of complex ground truths."""

import sys

import numpy as np
import pytest
import torch

from pytest_stability import (
    FastMRIUnet,
    PerturbationSearch,
    Reconstructor,
    TVReconstruction,
    fastmri_family,
    load_fastmri,
    load_images,
    write_fastmri,
)
from pytest_stability.checks import structural, worst_case
from pytest_stability.loaders import ImageFileError
from pytest_stability.operators import MultiCoilMRI, fft2c, simulate_coil_maps
from pytest_stability.phantoms import random_ellipses, shepp_logan

fastmri = pytest.importorskip("fastmri")
pytest.importorskip("h5py")
from fastmri.data import transforms  # noqa: E402
from fastmri.data.subsample import EquispacedMaskFractionFunc, EquiSpacedMaskFunc, RandomMaskFunc  # noqa: E402
from fastmri.models import Unet, VarNet  # noqa: E402

pytest_plugins = ["pytester"]

H, W = 32, 40  # rows (readout) and columns (phase encodes), as fastMRI's k-space grids are not square


def smooth_phase(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return torch.polar(torch.ones(h, w), 0.8 * xx + 0.5 * yy ** 2)


@pytest.fixture(scope="module")
def truth():
    """Three complex slices (3, 1, H, W) in fastMRI's intensity scale (~1e-4) and their 4 true coil maps."""
    x = torch.cat([shepp_logan(W)[..., 4:-4, :], random_ellipses(2, W, seed=5)[..., 4:-4, :]])
    return 3e-4 * x * smooth_phase(H, W), simulate_coil_maps(4, (H, W))


@pytest.fixture(scope="module")
def h5file(truth, tmp_path_factory):
    x, maps = truth
    return write_fastmri(tmp_path_factory.mktemp("fastmri") / "file_brain_AXT2_000.h5", fft2c(x * maps),
                         recon_size=(24, 24))


# -- the file ---------------------------------------------------------------------------------------------------
def test_fully_sampled_data_are_the_operator_applied_to_the_ground_truth(truth, h5file):
    x, maps = truth
    data = load_fastmri(h5file, coil_maps=maps)
    torch.testing.assert_close(data.images, x, atol=1e-10, rtol=1e-5)
    full = MultiCoilMRI(torch.ones(H, W, dtype=torch.bool), data.coil_maps)
    torch.testing.assert_close(full(data.images), data.kspace, atol=1e-10, rtol=1e-5)  # y = A x, float precision
    assert float(data.residual.max()) < 1e-6
    # |x| is the root-sum-of-squares image the file stores, centre-cropped to the header's recon size
    torch.testing.assert_close(data.images.abs()[:, 0, 4:28, 8:32], data.reconstruction, atol=1e-10, rtol=1e-5)
    header = data.header
    assert header.encoding_size == (H, W, 1) and header.recon_size == (24, 24, 1) and data.padding == (0, W)
    assert header.attrs["acquisition"] == "AXT2"
    assert header.attrs["max"] == pytest.approx(float(data.reconstruction.max()))
    assert data.slices == (0, 1, 2) and data.image_shape == (H, W)


def test_estimated_maps_slices_and_crops(truth, h5file):
    x, _ = truth
    data = load_fastmri(h5file, slices=[2, 0], calibration=20)
    assert data.slices == (2, 0) and data.coil_maps.shape == (2, 4, H, W)
    assert float(data.residual.max()) < 0.02  # ESPIRiT maps: nearly all of the data inside the SENSE model
    torch.testing.assert_close(data.images.abs(), x[[2, 0]].abs(), atol=0.05 * float(x.abs().max()), rtol=0)
    assert load_fastmri(h5file, slices=slice(1, None), coil_maps="lowres", calibration=12).slices == (1, 2)
    cropped = load_fastmri(h5file, slices=1, crop="recon", calibration=20)
    assert cropped.images.shape == (1, 1, 24, 24) and cropped.kspace.shape == (1, 4, 24, 24)
    assert cropped.padding == (0, 24) and float(cropped.residual[0]) < 0.02
    assert load_fastmri(h5file, slices=0, crop=(16, 20), calibration=12).image_shape == (16, 20)
    # the file's reconstructions are still images for load_images, each normalised to max 1
    stored = data.reconstruction
    torch.testing.assert_close(load_images(str(h5file))[[2, 0], 0], stored / stored.amax(dim=(1, 2), keepdim=True))


def test_single_coil_files(truth, tmp_path):
    x, _ = truth
    path = write_fastmri(tmp_path / "file1000000.h5", fft2c(x[:, 0]))
    data = load_fastmri(path)
    assert data.coil_maps is None and data.kspace.shape == (3, 1, H, W)
    torch.testing.assert_close(data.images, x, atol=1e-10, rtol=1e-5)
    torch.testing.assert_close(data.reconstruction, x[:, 0].abs(), atol=1e-10, rtol=1e-5)
    with pytest.raises(ValueError, match="single-coil k-space .* no coils for coil_maps"):
        load_fastmri(path, coil_maps=torch.ones(3, 1, H, W, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"recon_size=\(64, 8\) must be \(h, w\) no larger than"):
        write_fastmri(tmp_path / "x.h5", fft2c(x[:, 0]), recon_size=(64, 8))
    with pytest.raises(ValueError, match="kspace must be complex"):
        write_fastmri(tmp_path / "x.h5", x[:, 0].abs())


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"slices": 7}, ValueError, r"slices=7 does not select slices .* which has 3"),
    ({"slices": []}, ValueError, "selects none"),
    ({"crop": (64, 8)}, ValueError, "crop=.* no larger than"),
    ({"crop": "center"}, ValueError, "'recon'"),
    ({"coil_maps": "sense"}, ValueError, "coil_maps='sense' is not an estimator"),
    ({"coil_maps": torch.ones(2, 4, H, W)}, ValueError, r"coil_maps has shape \(2, 4, 32, 40\)"),
    ({"coil_maps": np.ones((4, H, W))}, TypeError, "coil_maps must be a torch.Tensor"),
])
def test_bad_arguments_name_themselves(h5file, kwargs, error, match):
    with pytest.raises(error, match=match):
        load_fastmri(h5file, **kwargs)


def test_files_that_are_not_fastmri_raw_data(tmp_path, monkeypatch):
    import h5py

    with h5py.File(tmp_path / "recon.h5", "w") as f:
        f["reconstruction_rss"] = np.ones((1, 4, 4), dtype=np.float32)
    with pytest.raises(ImageFileError, match="no kspace dataset.*load_images"):
        load_fastmri(tmp_path / "recon.h5")
    with h5py.File(tmp_path / "noheader.h5", "w") as f:
        f["kspace"] = np.ones((1, 2, 4, 4), dtype=np.complex64)
    with pytest.raises(ImageFileError, match="no ismrmrd_header"):
        load_fastmri(tmp_path / "noheader.h5")
    with h5py.File(tmp_path / "badheader.h5", "w") as f:
        f["kspace"] = np.ones((1, 2, 4, 4), dtype=np.complex64)
        f["ismrmrd_header"] = b"<ismrmrdHeader xmlns='http://www.ismrm.org/ISMRMRD'/>"
    with pytest.raises(ImageFileError, match="encodedSpace/matrixSize"):
        load_fastmri(tmp_path / "badheader.h5")
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match="pip install h5py"):
        load_fastmri(tmp_path / "recon.h5")


# -- fastMRI's mask functions as families ----------------------------------------------------------------------
def test_random_masks_are_fastmris_own_and_nested():
    family = fastmri_family(RandomMaskFunc, (H, 368), center_fraction=lambda a: 0.32 / a, seed=3)
    previous = None
    for ratio, acceleration in ((0.125, 8), (0.25, 4), (0.5, 2)):
        op = family(ratio)
        mask, low = RandomMaskFunc([0.32 / acceleration], [acceleration])((1, H, 368, 2), None, 3)
        assert torch.equal(op.mask[0], mask.reshape(-1) > 0)  # fastMRI's own draw for that acceleration
        assert op.low_frequencies == low == round(368 * 0.32 / acceleration)
        assert family.achieved_ratio(ratio) == pytest.approx(float(mask.mean()))
        assert previous is None or bool((previous <= op.mask).all())  # nested
        previous = op.mask
    instance = fastmri_family(RandomMaskFunc([0.04], [8]), (H, W))
    assert instance(0.25).low_frequencies == round(0.04 * W)


def test_masks_that_are_not_nested_are_refused_with_the_fix():
    family = fastmri_family(EquispacedMaskFractionFunc, (H, 368), seed=0)
    family(0.125)
    with pytest.raises(ValueError, match=r"ratios 0.125 and 0.25 .* are not nested.*RandomMaskFunc.*offset=0"):
        family(0.25)
    equispaced = fastmri_family(EquiSpacedMaskFunc, (H, 368), offset=0)
    assert all(bool((equispaced(a).mask <= equispaced(b).mask).all()) for a, b in ((0.125, 0.25), (0.25, 0.5)))
    with pytest.raises(ValueError, match="whole columns"):
        equispaced(0.3)
    padded = fastmri_family(RandomMaskFunc, (H, W), padding=(4, 36))(0.5)
    assert not padded.mask[:, :4].any() and not padded.mask[:, 36:].any()


# -- the networks, called as fastMRI calls them ------------------------------------------------------------------
@pytest.fixture(scope="module")
def loaded(truth, h5file):
    return load_fastmri(h5file, coil_maps=truth[1])


def tiny_varnet() -> VarNet:
    torch.manual_seed(0)
    return VarNet(num_cascades=2, chans=4, pools=2, sens_chans=4, sens_pools=2)


def test_varnet_sees_what_fastmris_varnet_transform_gives_it(loaded):
    varnet = tiny_varnet()
    op = fastmri_family(RandomMaskFunc, loaded.image_shape, center_fraction=0.16, seed=7,
                        coil_maps=loaded.coil_maps)(0.25)
    with torch.no_grad():
        ours = Reconstructor(varnet, op, inputs="fastmri")(op(loaded.images))
    masked, mask, low = transforms.apply_mask(transforms.to_tensor(loaded.kspace.numpy()), RandomMaskFunc([0.16], [4]),
                                              seed=7)
    with torch.no_grad():
        theirs = varnet(masked, mask.bool(), low)  # the three slices as one batch, as fastMRI's loader collates them
    assert ours.shape == (3, 1, H, W) and not ours.is_complex()
    torch.testing.assert_close(ours[:, 0], theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))


def test_varnet_batches_split_by_max_batch_keep_each_slice_with_its_maps(loaded):
    """Split into single images by max_batch (a chunk is searched as if it were the whole batch), each slice's
    worst case is the one of that slice alone under its own coil maps."""
    def family(maps):
        return fastmri_family(RandomMaskFunc, loaded.image_shape, center_fraction=0.16, coil_maps=maps)

    kwargs = {"inputs": "fastmri", "search": PerturbationSearch(eps=0.02, steps=3, power_iterations=2),
              "max_ratio": 100.0, "baseline": None, "noise_draws": 0, "persistence_levels": ()}
    split = worst_case(tiny_varnet(), loaded.images, family(loaded.coil_maps)(0.25), max_batch=1, **kwargs)[0]
    for b in range(3):
        alone = worst_case(tiny_varnet(), loaded.images[b:b + 1], family(loaded.coil_maps[b])(0.25), **kwargs)[0]
        assert float(split.numbers["ratios"][b]) == pytest.approx(alone.numbers["ratio"], rel=1e-4)


def test_a_model_that_reads_the_operator_keeps_each_slice_with_its_maps_when_its_batch_is_split(loaded):
    """max_batch=1 splits the reconstruction's own batch: with inputs="naive" (A* y under each slice's maps) and
    the TV baseline, a split call gives what the whole batch gives."""
    operator = fastmri_family(RandomMaskFunc, loaded.image_shape, center_fraction=0.16,
                              coil_maps=loaded.coil_maps)(0.25)
    y = operator(loaded.images)
    for model in (torch.nn.Identity(), TVReconstruction(operator, max_iter=20)):
        whole = Reconstructor(model, operator, inputs="naive" if isinstance(model, torch.nn.Identity) else "y")
        split = Reconstructor(model, operator, inputs=whole.inputs, max_batch=1)
        with torch.no_grad():
            torch.testing.assert_close(split(y), whole(y))


@pytest.mark.parametrize("crop", [None, (24, 24)])
def test_unet_sees_what_fastmris_unet_transform_gives_it(loaded, crop):
    torch.manual_seed(0)
    unet = Unet(1, 1, chans=4, num_pool_layers=2).eval()
    op = fastmri_family(RandomMaskFunc, loaded.image_shape, center_fraction=0.16, coil_maps=loaded.coil_maps)(0.25)
    y = op(loaded.images)
    with torch.no_grad():
        ours = Reconstructor(FastMRIUnet(unet, crop=crop), op, inputs="fastmri")(y)
    target = np.zeros(crop or (H, W), dtype=np.float32)  # fixes the crop, as the file's target does
    sample = transforms.UnetDataTransform("multicoil")(y[1].numpy(), None, target, {}, "file.h5", 1)
    with torch.no_grad():
        theirs = unet(sample.image[None, None])[0, 0] * sample.std + sample.mean  # UnetModule's output
    top, left = ((H - crop[0]) // 2, (W - crop[1]) // 2) if crop else (0, 0)
    window = ours[1, 0, top:top + theirs.shape[0], left:left + theirs.shape[1]]
    torch.testing.assert_close(window, theirs, rtol=1e-4, atol=1e-4 * float(theirs.abs().max()))
    outside = ours[1, 0].clone()
    outside[top:top + theirs.shape[0], left:left + theirs.shape[1]] = 0
    assert not bool(outside.any())  # nothing outside the U-Net's window


def test_the_unet_pipeline_is_differentiable_where_the_zero_filled_image_is_zero(monkeypatch):
    """Where the zero-filled coil images are all exactly 0 (sqrt has an infinite derivative there, and 0 · ∞ is
    NaN), FastMRIUnet's RSS stays differentiable, so the search gets a finite gradient. The inverse FFT is replaced
    by a map with exact zeros (an FFT's rounding rarely gives them, but real data do)."""
    import pytest_stability.operators.mri as module

    window = torch.ones(1, 1, H, W)
    window[..., :4, :] = 0.0
    monkeypatch.setattr(module, "ifft2c", lambda k: k * window)
    torch.manual_seed(0)
    kspace = torch.randn(1, 2, H, W, 2, requires_grad=True)
    out = FastMRIUnet(Unet(1, 1, chans=4, num_pool_layers=2).eval())(kspace, None, None)
    (grad,) = torch.autograd.grad(out.sum(), kspace)
    assert bool(torch.isfinite(grad).all())


# -- magnitude reconstructions of complex ground truths ----------------------------------------------------------
def rss(masked_kspace, mask, num_low_frequencies):
    """The RSS of the zero-filled coil images: fastMRI's VarNet output convention, here exact on full data."""
    return fastmri.rss_complex(fastmri.ifft2c(masked_kspace), dim=1)


def test_a_magnitude_reconstruction_of_complex_images_is_judged_on_magnitudes(truth):
    x, maps = truth
    x = x * 1j  # a phase of π/2 and more: a real detail d would not change |x| at all
    op = MultiCoilMRI(torch.ones(H, W, dtype=torch.bool), maps)
    for r in structural(rss, x, op, inputs="fastmri", details=("lesion", "spade"), baseline=None):
        assert r.passed and min(r.numbers["recoveries"].tolist()) == pytest.approx(1.0, abs=1e-3)
    result = worst_case(rss, x, op, inputs="fastmri", eps=0.02, steps=3, max_ratio=1.0 + 1e-3, baseline=None)[0]
    assert result.passed and result.numbers["psnr_clean"] > 80  # |f(Ax)| = |x|: compared on magnitude


# -- through the plugin ------------------------------------------------------------------------------------------
UNET_PROJECT = '''
import pytest
import torch
from fastmri.data.subsample import RandomMaskFunc
from fastmri.models import Unet

from pytest_stability import Case, FastMRIUnet, fastmri_family, load_fastmri, stable


@pytest.fixture(scope="session")
def unet():
    torch.manual_seed(0)
    return FastMRIUnet(Unet(1, 1, chans=4, num_pool_layers=2))


@stable(steps=3, details="lesion", ratio_sweep=(0.25, 0.5), baseline="none", max_ratio=10.0)
def test_unet(unet):
    data = load_fastmri("PATH", slices=[0, 1], calibration=20)
    family = fastmri_family(RandomMaskFunc, data.image_shape, center_fraction=0.16, coil_maps=data.coil_maps)
    return Case(unet, family, ratio=0.25, images=data.images, inputs="fastmri", name="fastMRI U-Net")
'''


def test_a_fastmri_unet_runs_every_check_to_a_verdict(pytester, h5file):
    pytester.makepyfile(test_unet=UNET_PROJECT.replace("PATH", str(h5file)))
    result = pytester.runpytest("--stability", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0 and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3, result.stdout
    result.stdout.fnmatch_lines(["*fastMRI U-Net*structure lesion*", "*fastMRI U-Net*samples*",
                                 "*fastMRI U-Net*worst_case eps=0.02*"])  # the summary table, sorted


def test_the_tv_baseline_is_differentiable_at_fastmris_intensity_scale(loaded):
    """Data of ~1e-4 (fastMRI's scale) and a zero background: the unrolled TV's gradient stays finite, and the
    baseline is scale-free (λ relative to max|A* y|), so its worst case is that of the same images scaled up."""
    from pytest_stability.checks.references import reference

    op = fastmri_family(RandomMaskFunc, loaded.image_shape, center_fraction=0.16, coil_maps=loaded.coil_maps)(0.25)
    tv = reference("tv", op, differentiable=True)
    z = torch.zeros_like(loaded.images, requires_grad=True)
    out = tv(op(loaded.images + z))
    (grad,) = torch.autograd.grad(out.abs().pow(2).sum(), z)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().max()) > 0
    with torch.no_grad():
        scaled = tv(op(1e4 * loaded.images))
    torch.testing.assert_close(scaled, 1e4 * out.detach(), rtol=1e-3, atol=1e-3 * float(scaled.abs().max()))
