"""The human report of ``--stability-report DIR``: ``DIR/index.html``, rendered from the JSON results.

Self-contained: the pictures are PNG files in ``DIR/figures/`` beside the page, the styles and the few lines
of script (the "only failures" filter) are inline, nothing is fetched from the network. Per result:

* ``worst_case`` (and ``fuzz``): x, x + r, |r| magnified, f(Ax), f(A(x + r)), |difference| and the
  baseline's reconstructions of the same two inputs (the layout of the paper's Figs. 1, 3, 4);
* ``structure``: x + d with the detail's box marked, f(A(x + d)) and the baseline's f(A(x + d)) (Fig. 5);
* ``samples``: PSNR against the sampling ratio for the model and the baseline, the trained ratio marked
  (Fig. 5 bottom; needs matplotlib, the ``report`` extra), and the reconstructions per ratio.

Every string from users (node ids, model names, explanations) is escaped. torch, PIL and matplotlib are
imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from pathlib import Path
from typing import Any

from .store import atomic_write_text
from .summary import expectation_rows, margin_text, summary_row

__all__ = ["write_html"]

FIGURE_NAME = re.compile(r"[0-9a-f]{12}-(\d+|psnr)\.png")
MIN_PIXELS = 256  # small images are enlarged (nearest neighbour, every pixel kept) to at least this many pixels a side

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}
tr.fail td.verdict,section.fail h2 .verdict{color:#b00;font-weight:bold}
tr.pass td.verdict,section.pass h2 .verdict{color:#070}
section{border-top:2px solid #ddd;margin-top:1.5em;padding-top:.5em}
section h2{font-size:1.1em;word-break:break-all}
td a{word-break:break-all}
figure{display:inline-block;margin:.3em;text-align:center;vertical-align:top}
figure img{image-rendering:pixelated;border:1px solid #ccc}
figcaption{font-size:.85em;max-width:12em}
.explanation{background:#fafafa;border-left:3px solid #ccc;padding:.3em .6em}
.note{color:#666;font-size:.9em}
.incomplete{color:#b00;font-weight:bold}
body.only-failures .pass{display:none}
"""

SCRIPT = """
document.getElementById('only-failures').addEventListener('change', function (e) {
  document.body.classList.toggle('only-failures', e.target.checked);
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


# -- pictures --------------------------------------------------------------------------------------
def _magnitude(t: Any) -> Any:
    """(H, W) or (3, H, W) real tensor of one image: |complex|, root-sum-of-squares over non-RGB channels."""
    t = t.detach().cpu()
    while t.dim() > 3:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.is_complex():
        t = t.abs()
    t = t.float()
    if t.shape[0] == 3:
        return t
    return t.pow(2).sum(0).sqrt() if t.shape[0] > 1 else t[0].abs()


def _to_rgb(img: Any, peak: float) -> Any:
    """A (3, H', W') float tensor in [0, 1]: img / peak, clamped, enlarged to at least MIN_PIXELS a side."""
    import torch

    img = torch.nan_to_num(img, nan=0.0, posinf=peak, neginf=0.0)
    img = (img / peak if peak > 0 else img).clamp(0, 1)
    if img.dim() == 2:
        img = img.unsqueeze(0).expand(3, -1, -1)
    scale = max(1, math.ceil(MIN_PIXELS / max(img.shape[-2:])))
    return img.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1).contiguous()


def _save_png(rgb: Any, path: Path) -> None:
    import torch
    from PIL import Image

    array = (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(array, mode="RGB").save(path)


def _mark_box(rgb: Any, box: list[int], shape: tuple[int, int]) -> Any:
    """Draw the detail's box (top, left, bottom, right in pixels of ``shape``) in red on an enlarged picture."""
    scale = rgb.shape[-1] // shape[-1]
    top, left, bottom, right = (int(v) * scale for v in box)
    bottom, right = min(bottom, rgb.shape[-2]) - 1, min(right, rgb.shape[-1]) - 1
    top, left = max(top, 0), max(left, 0)
    red = rgb.new_tensor([1.0, 0.0, 0.0]).view(3, 1)
    rgb = rgb.clone()
    rgb[:, top, left:right + 1] = red
    rgb[:, bottom, left:right + 1] = red
    rgb[:, top:bottom + 1, left] = red
    rgb[:, top:bottom + 1, right] = red
    return rgb


class _Figures:
    """Writes the PNG panels of one result into DIR/figures and returns their <figure> markup."""

    def __init__(self, report_dir: Path, nodeid: str):
        self.folder = report_dir / "figures"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stem = hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        self.count = 0

    def panel(self, rgb: Any, caption: str) -> str:
        self.count += 1
        name = f"{self.stem}-{self.count}.png"
        _save_png(rgb, self.folder / name)
        return (f'<figure><img src="figures/{name}" alt="{_e(caption)}" width="{rgb.shape[-1]}" '
                f'height="{rgb.shape[-2]}"><figcaption>{_e(caption)}</figcaption></figure>')

    def image(self, t: Any, caption: str, peak: float, box: list[int] | None = None) -> str:
        img = _magnitude(t)
        rgb = _to_rgb(img, peak)
        if box is not None:
            rgb = _mark_box(rgb, box, tuple(img.shape[-2:]))
        return self.panel(rgb, caption)


def _peak(t: Any) -> float:
    value = float(_magnitude(t).max())
    return value if math.isfinite(value) and value > 0 else 1.0


def _worst_case_figures(fig: _Figures, tensors: dict[str, Any], record: dict[str, Any]) -> str:
    x, r = tensors.get("x"), tensors.get("perturbation")
    rec, out = tensors.get("reconstruction"), tensors.get("perturbed_reconstruction")
    if x is None:
        return ""
    peak = max(_peak(x), _peak(rec) if rec is not None else 0.0)  # one scale for the row; f(Ax) not clipped
    parts = [fig.image(x, "x", peak)]
    psnr_in, psnr_clean, psnr_out = (record.get(k) for k in ("psnr_input", "psnr_clean", "psnr_perturbed"))
    if r is not None and r.shape[-2:] == x.shape[-2:]:
        seen = "x + r" if record.get("domain") != "measurement" else "x + A*e"
        parts.append(fig.image(x + r, seen + (f", PSNR {_num(psnr_in, '.1f')} dB" if psnr_in is not None else ""),
                               peak))
        r_peak = _peak(r)
        parts.append(fig.image(r, f"|r| magnified ×{peak / r_peak:.3g}", r_peak))
    if rec is not None:
        parts.append(fig.image(rec, "f(Ax)" + (f", PSNR {_num(psnr_clean, '.1f')} dB" if psnr_clean is not None
                                                else ""), peak))
    if out is not None:
        parts.append(fig.image(out, "f(A(x + r))" + (f", PSNR {_num(psnr_out, '.1f')} dB" if psnr_out is not None
                                                      else ""), peak))
    if rec is not None and out is not None:
        diff = _magnitude(out - rec)
        d_peak = _peak(diff)
        parts.append(fig.image(diff, f"|f(A(x + r)) − f(Ax)| ×{peak / d_peak:.3g}", d_peak))
    name = record.get("baseline") or "baseline"
    if tensors.get("baseline_reconstruction") is not None:
        parts.append(fig.image(tensors["baseline_reconstruction"], f"{name}: g(Ax)", peak))
    if tensors.get("baseline_perturbed") is not None:
        parts.append(fig.image(tensors["baseline_perturbed"], f"{name}: g(A(x + r))", peak))
    return '<div class="figures">' + "".join(parts) + "</div>" + _growing_figures(fig, tensors, peak)


def _growing_figures(fig: _Figures, tensors: dict[str, Any], peak: float) -> str:
    """The paper's Fig. 1: x + r_k and f(A(x + r_k)) for the growing budgets eps_1 < eps_2 < ... of one search
    (present on the largest eps's item when the test asked for several)."""
    eps, inputs, outputs = (tensors.get(k) for k in ("growing_eps", "growing_inputs", "growing_reconstructions"))
    if eps is None or inputs is None or outputs is None:
        return ""
    row = [fig.image(inputs[k:k + 1], f"x + r{k + 1} (eps {float(e):.3g})", peak) for k, e in enumerate(eps)]
    row += [fig.image(outputs[k:k + 1], f"f(A(x + r{k + 1}))", peak) for k in range(len(eps))]
    return ('<p class="note">Growing perturbations r1 &lt; r2 &lt; … of one search, on the image worst at the '
            'largest eps:</p><div class="figures">' + "".join(row) + "</div>")


def _structure_figures(fig: _Figures, tensors: dict[str, Any], record: dict[str, Any]) -> str:
    x, d = tensors.get("x"), tensors.get("detail")
    if x is None or d is None:
        return ""
    peak = _peak(x + d)
    box = record.get("box") if isinstance(record.get("box"), list) and len(record["box"]) == 4 else None
    parts = [fig.image(x + d, "x + d (box marked)", peak, box)]
    if tensors.get("detail_reconstruction") is not None:
        rho = _num(record.get("recovery"), ".2f")
        parts.append(fig.image(tensors["detail_reconstruction"], f"f(A(x + d)), ρ = {rho}", peak, box))
    if tensors.get("baseline_detail_reconstruction") is not None:
        name = record.get("baseline") or "baseline"
        parts.append(fig.image(tensors["baseline_detail_reconstruction"],
                               f"{name}: g(A(x + d)), ρ_g = {_num(record.get('baseline_recovery'), '.2f')}", peak, box))
    return '<div class="figures">' + "".join(parts) + "</div>"


def _samples_figures(fig: _Figures, tensors: dict[str, Any], record: dict[str, Any]) -> str:
    x = tensors.get("x")
    if x is None:
        return ""
    peak = _peak(x)
    parts = [fig.image(x, "x", peak)]
    for key in sorted(k for k in tensors if k.startswith("reconstruction@")):
        parts.append(fig.image(tensors[key], f"f(A x) at ratio {key.split('@', 1)[1]}", peak))
    return '<div class="figures">' + "".join(parts) + "</div>"


def _floats(values: Any) -> list[float] | None:
    if not isinstance(values, list):
        return None
    out = []
    for v in values:
        try:
            out.append(float(v))  # "inf" / "nan" strings from the JSON become floats
        except (TypeError, ValueError):
            return None
    return out


def _samples_plot(report_dir: Path, record: dict[str, Any]) -> str:
    """PSNR against the sampling ratio as a PNG (matplotlib), or a note when matplotlib is not installed."""
    ratios, psnr, base = (_floats(record.get(k)) for k in ("ratios", "psnr", "baseline_psnr"))
    if not ratios or not psnr or len(ratios) != len(psnr):
        return ""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return ('<p class="note">Plots need matplotlib: <code>pip install pytest-stability[report]</code>.</p>')
    figure = Figure(figsize=(4.8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.plot(ratios, psnr, "o-", label=str(record.get("model", "model")))
    if base is not None and len(base) == len(ratios):
        ax.plot(ratios, base, "s--", label=str(record.get("baseline") or "baseline"))
    trained = record.get("trained_ratio")
    if isinstance(trained, (int, float)) and not isinstance(trained, bool):
        ax.axvline(float(trained), color="gray", linestyle=":", label=f"trained ratio {float(trained):.3g}")
    ax.set_xlabel("sampling ratio")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    folder = report_dir / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{hashlib.sha1(str(record.get('nodeid', '')).encode()).hexdigest()[:12]}-psnr.png"
    figure.savefig(folder / name)
    return (f'<figure><img src="figures/{name}" alt="PSNR against sampling ratio" class="plot">'
            f'<figcaption>PSNR against sampling ratio</figcaption></figure>')


def _samples_table(record: dict[str, Any]) -> str:
    ratios, psnr, base = (_floats(record.get(k)) for k in ("ratios", "psnr", "baseline_psnr"))
    if not ratios or not psnr:
        return ""
    rows = ["<tr><th>sampling ratio</th><th>PSNR model (dB)</th><th>PSNR baseline (dB)</th></tr>"]
    for i, ratio in enumerate(ratios):
        b = base[i] if base is not None and i < len(base) else None
        p = psnr[i] if i < len(psnr) else None
        rows.append(f"<tr><td>{_num(ratio)}</td><td>{_num(p, '.2f')}</td><td>{_num(b, '.2f')}</td></tr>")
    return '<table class="sweep">' + "".join(rows) + "</table>"


# -- the page --------------------------------------------------------------------------------------
def _numbers(record: dict[str, Any]) -> str:
    check = record.get("check")
    keys = {"worst_case": ("eps", "ratio", "limit", "margin", "baseline_ratio", "baseline_reused", "max_ratio",
                           "baseline_factor", "relative_output_change", "psnr_input", "psnr_clean", "psnr_perturbed",
                           "sigma1", "domain", "search_mode", "steps"),
            "fuzz": ("evaluated", "input_kind", "ratio", "limit", "baseline_ratio", "recovery", "min_recovery"),
            "structure": ("detail", "recovery", "limit", "margin", "min_recovery", "baseline_recovery",
                          "recovery_margin", "box_psnr",
                          "box_ssim", "baseline_box_psnr", "baseline_box_ssim", "contrast"),
            "samples": ("trained_ratio", "worst_drop_db", "tol_db", "gain_db", "baseline_gain_db", "min_gain_db",
                        "margin")}
    cells = [f"<tr><th>{_e(k)}</th><td>{_e(margin_text(record[k]) if k == 'margin' else _num(record.get(k)))}</td>"
             "</tr>" for k in keys.get(check, ()) if k in record]
    cells.append(f"<tr><th>model</th><td>{_e(record.get('model', '?'))}</td></tr>")
    if record.get("image_shape"):
        cells.append(f"<tr><th>image_shape</th><td>{_e(' × '.join(map(str, record['image_shape'])))}</td></tr>")
    if record.get("expected"):
        said = record["expected"] + (f" ({record['expected_note']})" if record.get("expected_note") else "")
        cells.append(f"<tr><th>expected</th><td>{_e(said)}; the check measured {_e(record.get('check_verdict'))}"
                     + (f"; declared mismatch: {_e(record['mismatch_reason'])}" if record.get("mismatch_reason")
                        else "") + "</td></tr>")
    if record.get("baseline"):
        cells.append(f"<tr><th>baseline</th><td>{_e(record['baseline'])}</td></tr>")
    return '<table class="numbers">' + "".join(cells) + "</table>"


def _load_tensors(report_dir: Path, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The record's saved tensors, or {} and a note why there are none."""
    name = record.get("tensors_file")
    if not name:
        return {}, "no tensors were saved for this item"
    root = report_dir.resolve()
    path = (report_dir / str(name)).resolve()
    if root not in path.parents:
        return {}, "the tensors file lies outside the report folder; not read"
    if not path.is_file():
        return {}, f"tensors file {name} not found"
    import torch

    try:
        tensors = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # a corrupt file costs its pictures, not the report
        return {}, f"could not read {name}: {exc}"
    if not isinstance(tensors, dict):
        return {}, f"{name} holds no dict of tensors"
    return {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}, ""


def _section(report_dir: Path, index: int, record: dict[str, Any]) -> str:
    nodeid = str(record.get("nodeid", "?"))
    passed = bool(record.get("passed"))
    verdict = "stable" if passed else ("REGRESSED" if record.get("regression") else "UNSTABLE")
    parts = [f'<section id="item-{index}" class="{"pass" if passed else "fail"}">',
             f'<h2><span class="verdict">{_e(verdict)}</span> {_e(nodeid)}</h2>',
             f'<p class="explanation">{_e(record.get("explanation", ""))}</p>']
    for reason in record.get("regression") or []:
        parts.append(f'<p class="explanation">{_e(reason)}</p>')
    parts.append(_numbers(record))
    check = record.get("check")
    if check == "samples":
        parts.append(_samples_plot(report_dir, record))
        parts.append(_samples_table(record))
    tensors, note = _load_tensors(report_dir, record)
    if tensors:
        fig = _Figures(report_dir, nodeid)
        draw = {"worst_case": _worst_case_figures, "fuzz": _worst_case_figures, "structure": _structure_figures,
                "samples": _samples_figures}.get(check)
        if draw is not None:
            parts.append(draw(fig, tensors, record))
    elif note:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _summary(ordered: list[tuple[int, dict[str, Any]]]) -> str:
    rows = ["<tr><th>test</th><th>model</th><th>check</th><th>metric</th><th>limit</th><th>margin</th>"
            "<th>baseline</th><th>verdict</th></tr>"]
    for index, record in ordered:
        try:
            model, what, metric, limit, margin, base, verdict = summary_row(record)
        except (KeyError, TypeError, ValueError, IndexError):
            model, what, metric, limit, margin, base = record.get("model", "?"), record.get("check", "?"), "-", "-", \
                "-", "-"
            verdict = "stable" if record.get("passed") else "UNSTABLE"
        cls = "pass" if record.get("passed") else "fail"
        rows.append(f'<tr class="{cls}"><td><a href="#item-{index}">{_e(record.get("nodeid", "?"))}</a></td>'
                    f"<td>{_e(model)}</td><td>{_e(what)}</td><td>{_e(metric)}</td><td>{_e(limit)}</td>"
                    f'<td>{_e(margin)}</td><td>{_e(base)}</td><td class="verdict">{_e(verdict)}</td></tr>')
    return '<table class="summary">' + "".join(rows) + "</table>"


def _findings(records: list[dict[str, Any]]) -> str:
    """Per network and check with a declared expectation: expected, measured, margin, agreement (and why not)."""
    rows = expectation_rows(records)
    if not rows:
        return ""
    head = ("<tr><th>model</th><th>image</th><th>check</th><th>expected</th><th>measured</th><th>margin</th>"
            "<th>agrees</th></tr>")
    body = []
    for f in rows:
        shape = "×".join(str(n) for n in f["image_shape"] or []) or "-"
        note = f' <span class="note">({_e(f["expected_note"])})</span>' if f["expected_note"] else ""
        cls = "pass" if f["agrees"] else "fail"
        body.append(f'<tr class="{cls}"><td>{_e(f["model"])}</td><td>{_e(shape)}</td><td>{_e(f["check"])}</td>'
                    f'<td>{_e(f["expected"])}{note}</td><td>{_e(f["measured"])}</td><td>{_e(f["margin_text"])}</td>'
                    f'<td>{_e(f["agrees_text"])}</td></tr>')
    agree = sum(f["agrees"] for f in rows)
    return (f"<h2>Expected findings: {agree} of {len(rows)} checks as declared</h2>"
            '<p class="note">Per network and check: the finding declared before measuring (expect=), the check\'s '
            "verdict (unstable when any of its items is), the margin of its item closest to (or furthest past) its "
            "limit, relative to the limit, and whether the run agrees. A margin within ±10 % is fragile.</p>"
            f'<table class="summary">{head}{"".join(body)}</table>')


def _incomplete_note(results: dict[str, Any]) -> str:
    """A warning line for a run that did not reach its end ("complete": false): Ctrl-C, -x, a crash."""
    if results.get("complete") is not False:
        return ""
    status = results.get("exitstatus")
    how = "was stopped before its end" if status is None else f"ended early (pytest exit status {_e(status)})"
    return f'<p class="incomplete">This run {how}: the report holds only the items that finished.</p>'


def write_html(report_dir: Path, results: dict[str, Any]) -> Path:
    """Render ``report_dir/index.html`` (and ``report_dir/figures/*.png``) from the JSON document ``results``
    (the dict written to results.json) and the saved tensors the records name. Returns the page's path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    figures = report_dir / "figures"
    if figures.is_dir():  # pictures of an earlier run into the same folder (only the names this module writes)
        for old in figures.glob("*.png"):
            if FIGURE_NAME.fullmatch(old.name):
                old.unlink(missing_ok=True)
    records = [r for r in results.get("results", []) if isinstance(r, dict)]
    ordered = sorted(enumerate(records), key=lambda ir: (bool(ir[1].get("passed")), str(ir[1].get("nodeid", ""))))
    stable = sum(bool(r.get("passed")) for r in records)
    env = results.get("environment") or {}
    env_text = ", ".join(f"{k} {v}" for k, v in sorted(env.items()) if v is not None)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pytest-stability report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>pytest-stability report</h1>",
        f"<p><strong>{stable} stable, {len(records) - stable} unstable</strong></p>",
        _incomplete_note(results),
        f'<p class="note">{_e(env_text)}</p>',
        '<p><label><input type="checkbox" id="only-failures"> show only failures</label></p>',
        _findings(records),
        _summary(ordered) if records else "<p>No stability results in this run.</p>",
    ]
    body += [_section(report_dir, index, record) for index, record in ordered]
    body += [f"<script>{SCRIPT}</script>", "</body></html>"]
    path = report_dir / "index.html"
    atomic_write_text(path, "\n".join(body) + "\n")
    return path
