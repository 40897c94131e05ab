"""How the example zoo stores weights: float16, and matrices of a million entries or more in 8 bits per row."""

import torch

from conftest_examples import zoo


def test_large_matrices_round_trip_within_half_a_step_per_row_and_the_rest_in_float16(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.Conv2d(1, 4, 3))
    with torch.no_grad():
        model[0].weight[3] *= 100.0  # one row far larger: a per-row scale keeps the others' precision
    path = tmp_path / "weights-seed0.pt"
    zoo.save_weights(model, path)
    stored = torch.load(path, weights_only=True)
    assert stored["0.weight"].dtype == torch.int8 and stored["0.bias"].dtype == torch.float16
    assert stored["1.weight"].dtype == torch.float16

    loaded = zoo.load_weights(torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.Conv2d(1, 4, 3)).train(),
                              path)
    assert not loaded.training
    w, back = model[0].weight, loaded[0].weight
    step = w.abs().amax(dim=1, keepdim=True) / 127
    assert torch.all((back - w).abs() <= step / 2 + 1e-7)
    assert (back - w).abs()[0].max() < (back - w).abs()[3].max() / 50
    assert torch.equal(loaded[1].weight, model[1].weight.half().float())
    assert path.stat().st_size < 0.3 * 4 * w.numel()  # about a byte per entry, not four


def test_an_all_zero_row_stays_zero(tmp_path):
    model = torch.nn.Linear(1024, 1024)
    with torch.no_grad():
        model.weight[7] = 0.0
    zoo.save_weights(model, tmp_path / "w.pt")
    loaded = zoo.load_weights(torch.nn.Linear(1024, 1024), tmp_path / "w.pt")
    assert torch.isfinite(loaded.weight).all() and not loaded.weight[7].any()
