"""The paper's headline, as pictures: ``python -m conftest_examples.headline REPORT_DIR OUT_DIR``.

For every worst-case item of a demo report (``./dev demo --stability-save-tensors`` writes ``stability-report/`` with
the items' tensors) at its largest eps, writes
``OUT_DIR/headline_<model>.png``: one row at full resolution (every pixel shown as 2 × 2) of x, x + r, f(Ax),
f(A(x + r)), |f(A(x + r)) − f(Ax)| and the TV baseline's g(A(x + r)), each captioned with its PSNR against x, on one
grey scale (the difference magnified, its factor in the caption). Prints, per model, the numbers the docs quote:
PSNR(x + r, x), PSNR of f(Ax) and of f(A(x + r)) against x, the loss in dB, κ and its limit.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from pytest_stability.metrics import psnr

SCALE = 2
CAPTION = 14  # pixels of caption under each panel


def _panel(image: torch.Tensor, peak: float, caption: str) -> Image.Image:
    a = (image.detach().abs().float().squeeze() / peak).clamp(0, 1)
    a = a.repeat_interleave(SCALE, 0).repeat_interleave(SCALE, 1)
    tile = Image.new("L", (a.shape[1], a.shape[0] + CAPTION), 255)
    tile.paste(Image.fromarray((a * 255).round().to(torch.uint8).numpy(), mode="L"), (0, 0))
    ImageDraw.Draw(tile).text((2, a.shape[0] + 1), caption, fill=0)
    return tile


def row(tensors: dict[str, torch.Tensor], domain: str) -> tuple[Image.Image, dict[str, float]]:
    """The picture row and its numbers for one worst-case item's saved tensors."""
    x, r = tensors["x"], tensors["perturbation"]
    clean, perturbed = tensors["reconstruction"], tensors["perturbed_reconstruction"]
    peak = float(x.abs().max())
    n = {"psnr_input": float(psnr(x + r, x)), "psnr_clean": float(psnr(clean, x)),
         "psnr_perturbed": float(psnr(perturbed, x))}
    diff = (perturbed - clean).abs()
    factor = peak / max(float(diff.max()), 1e-12)
    seen = "x + r" if domain == "image" else "x + A*e"
    panels = [_panel(x, peak, "x"), _panel(x + r, peak, f"{seen} {n['psnr_input']:.1f} dB"),
              _panel(clean, peak, f"f(Ax) {n['psnr_clean']:.1f} dB"),
              _panel(perturbed, peak, f"f(A(x+r)) {n['psnr_perturbed']:.1f} dB"),
              _panel(diff * factor, peak, f"|diff| x{factor:.1f}")]
    if "baseline_perturbed" in tensors:
        n["psnr_baseline_perturbed"] = float(psnr(tensors["baseline_perturbed"], x))
        caption = f"TV g(A(x+r)) {n['psnr_baseline_perturbed']:.1f} dB"
        panels.append(_panel(tensors["baseline_perturbed"], peak, caption))
    out = Image.new("L", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), 255)
    left = 0
    for p in panels:
        out.paste(p, (left, 0))
        left += p.width + 4
    return out, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    records = json.loads((args.report / "results.json").read_text())["results"]
    largest: dict[str, dict] = {}
    for r in records:
        biggest = largest.get(r["model"], {}).get("eps", 0)
        if r["check"] == "worst_case" and r.get("tensors_file") and r["eps"] >= biggest:
            largest[r["model"]] = r
    if not largest:
        raise SystemExit(f"{args.report}: no worst-case item kept its tensors; run the demo with them: "
                         "./dev demo --stability-save-tensors")
    args.out.mkdir(parents=True, exist_ok=True)
    for model, r in sorted(largest.items()):
        tensors = torch.load(args.report / r["tensors_file"], weights_only=True)
        picture, n = row(tensors, r["domain"])
        name = "headline_" + "".join(c if c.isalnum() else "_" for c in model.lower()).strip("_") + ".png"
        picture.save(args.out / name)
        print(f"{model}: eps {r['eps']:g}, PSNR(x + r, x) {n['psnr_input']:.1f} dB, f(Ax) {n['psnr_clean']:.1f} dB → "
              f"f(A(x + r)) {n['psnr_perturbed']:.1f} dB (loses {n['psnr_clean'] - n['psnr_perturbed']:.1f} dB), "
              f"κ {r['ratio']:.3g} vs limit {r['limit']:.3g} → {args.out / name}")


if __name__ == "__main__":
    main()
