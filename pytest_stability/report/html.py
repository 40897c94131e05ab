"""The human report of ``--stability-report DIR``: ``DIR/index.html``, rendered from the JSON results.

Self-contained: the pictures are PNG files in ``DIR/figures/`` beside the page, the styles and the few lines
of script (the "only failures" filter) are inline, nothing is fetched from the network. Per result: its numbers,
then what its check kind draws (:mod:`pytest_stability.kinds`): the worst case's and the fuzz check's x, x + r,
|r| magnified, f(Ax), f(A(x + r)), |difference| and the baseline's reconstructions (the layout of the paper's
Figs. 1, 3, 4); the structure check's x + d with the detail's box and both reconstructions (Fig. 5); the
more-samples check's PSNR against the sampling ratio (Fig. 5 bottom; needs matplotlib, the ``report`` extra) and
its reconstructions per ratio.

Every string from users (node ids, model names, explanations) is escaped. torch, PIL and matplotlib are
imported inside the functions: importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from ..kinds import REGISTRY, record
from ..kinds.base import number
from ..records import Record
from .figures import Figures
from .figures import escape as _e
from .figures import num as _num
from .store import atomic_write_text
from .summary import expectation_rows, expected_failure, margin_text, summary_row

__all__ = ["write_html"]

FIGURE_NAME = re.compile(r"[0-9a-f]{12}-(\d+|psnr|kappa)\.png")

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
table.matrix td{min-width:11em}
table.matrix td.pass{background:#e7f5e7}
table.matrix td.fail{background:#fbe1e1}
table.matrix td.xfail{background:#fff1c9}
table.matrix td a{color:inherit;text-decoration:none}
table.matrix .cell-verdict{font-weight:bold}
"""

SCRIPT = """
document.getElementById('only-failures').addEventListener('change', function (e) {
  document.body.classList.toggle('only-failures', e.target.checked);
});
"""


# -- the page --------------------------------------------------------------------------------------
def _numbers(rec: Record) -> str:
    """The numbers its kind lists (those the record has), then the model, image size, expectation and baseline."""
    check = REGISTRY.get(rec.check)
    keys = check.numbers if check is not None else ()
    values = rec.numbers.to_json()
    cells = [f"<tr><th>{_e(k)}</th><td>{_e(margin_text(values[k]) if k == 'margin' else _num(values[k]))}</td>"
             "</tr>" for k in keys if k in values]
    cells.append(f"<tr><th>model</th><td>{_e(rec.model)}</td></tr>")
    if rec.image_shape:
        cells.append(f"<tr><th>image_shape</th><td>{_e(' × '.join(map(str, rec.image_shape)))}</td></tr>")
    if rec.expected:
        said = rec.expected + (f" ({rec.expected_note})" if rec.expected_note else "")
        cells.append(f"<tr><th>expected</th><td>{_e(said)}; the check measured {_e(rec.check_verdict)}"
                     + (f"; declared mismatch: {_e(rec.mismatch_reason)}" if rec.mismatch_reason else "")
                     + "</td></tr>")
    if rec.baseline:
        cells.append(f"<tr><th>baseline</th><td>{_e(rec.baseline)}</td></tr>")
    return '<table class="numbers">' + "".join(cells) + "</table>"


def _load_tensors(report_dir: Path, rec: Record) -> tuple[dict[str, Any], str]:
    """The record's saved tensors, or {} and a note why there are none."""
    name = rec.tensors_file
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


def _section(report_dir: Path, index: int, rec: Record) -> str:
    passed = bool(rec.passed)
    verdict = "stable" if passed else ("REGRESSED" if rec.regression else "UNSTABLE")
    parts = [f'<section id="item-{index}" class="{"pass" if passed else "fail"}">',
             f'<h2><span class="verdict">{_e(verdict)}</span> {_e(rec.nodeid)}</h2>',
             f'<p class="explanation">{_e(rec.explanation)}</p>']
    for reason in rec.regression or []:
        parts.append(f'<p class="explanation">{_e(reason)}</p>')
    parts.append(_numbers(rec))
    check = REGISTRY.get(rec.check)
    if check is not None:
        parts += check.report(report_dir, rec)
    tensors, note = _load_tensors(report_dir, rec)
    if tensors:
        if check is not None:
            parts.append(check.figures(Figures(report_dir, rec.nodeid), tensors, rec))
    elif note:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _summary(ordered: list[tuple[int, Record]]) -> str:
    rows = ["<tr><th>test</th><th>model</th><th>check</th><th>metric</th><th>limit</th><th>margin</th>"
            "<th>baseline</th><th>verdict</th></tr>"]
    for index, rec in ordered:
        try:
            model, what, metric, limit, margin, base, verdict = summary_row(rec)
        except (KeyError, TypeError, ValueError, IndexError):  # a record of a foreign or partial file
            model, what, metric, limit, margin, base = rec.model, rec.check, "-", "-", "-", "-"
            verdict = "stable" if rec.passed else "UNSTABLE"
        cls = "pass" if rec.passed else "fail"
        rows.append(f'<tr class="{cls}"><td><a href="#item-{index}">{_e(rec.nodeid)}</a></td>'
                    f"<td>{_e(model)}</td><td>{_e(what)}</td><td>{_e(metric)}</td><td>{_e(limit)}</td>"
                    f'<td>{_e(margin)}</td><td>{_e(base)}</td><td class="verdict">{_e(verdict)}</td></tr>')
    return '<table class="summary">' + "".join(rows) + "</table>"


def _matrix(ordered: list[tuple[int, Record]]) -> str:
    """The paper's table: one row per model, one column per check, each cell the check's verdict (unstable when
    any of its items is), the deciding item's metric against its limit (the failing or closest item), the
    finding declared for it (expect=), and a link to that item."""
    checks = [c for c in REGISTRY if any(r.check == c for _, r in ordered)]
    models = list(dict.fromkeys(r.model for _, r in sorted(ordered, key=lambda ir: ir[1].model)))
    head = "<tr><th>model</th>" + "".join(f"<th>{_e(c)}</th>" for c in checks) + "</tr>"
    body = []
    for model in models:
        cells = []
        for check in checks:
            items = [(i, r) for i, r in ordered if r.model == model and r.check == check]
            if not items:
                cells.append('<td class="none">-</td>')
                continue
            failing = [(i, r) for i, r in items if not r.passed]
            index, shown = min(failing or items, key=lambda ir: _margin_key(ir[1]))
            verdict = "UNSTABLE" if failing else "stable"
            cls = "fail" if failing else "pass"
            if failing and all(expected_failure(r) for _, r in failing):
                verdict, cls = "UNSTABLE (expected)", "xfail"
            _, what, metric, limit, _, _, _ = summary_row(shown)
            where = f"{what}: " if len(items) > 1 else ""
            declared = ""
            if shown.expected:
                note = f" — {shown.expected_note}" if shown.expected_note else ""
                differs = "; a mismatch is declared (see the item)" if shown.mismatch_reason else ""
                declared = f'<br><span class="note">declared {_e(shown.expected)}{_e(note)}{_e(differs)}</span>'
            count = f' <span class="note">({len(items)} items)</span>' if len(items) > 1 else ""
            cells.append(f'<td class="{cls}"><a href="#item-{index}"><span class="cell-verdict">{_e(verdict)}'
                         f"</span>{count}<br>{_e(where)}{_e(metric)} {_e(limit)}{declared}</a></td>")
        body.append(f"<tr><th>{_e(model)}</th>{''.join(cells)}</tr>")
    return ('<h2>Overview</h2><p class="note">Per model and check: the verdict, the metric of the item that decided '
            "it against its limit and rule, and the finding declared for it. Click a cell for the item.</p>"
            f'<table class="matrix">{head}{"".join(body)}</table>')


def _margin_key(r: Record) -> float:
    value = number(r.margin)
    return float("inf") if value is None else value


def _expected_count(records: list[Record]) -> str:
    expected = sum(expected_failure(r) for r in records)
    return f" ({expected} of them expected: xfail)" if expected else ""


def _overviews(report_dir: Path, records: list[Record]) -> list[str]:
    """What each check kind shows across its records (the worst case's κ-against-eps plots)."""
    parts = []
    for name, check in REGISTRY.items():
        mine = [r for r in records if r.check == name]
        if mine:
            parts.append(check.overview(report_dir, mine))
    return parts


def _findings(records: list[Record]) -> str:
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


def _inlined(page: str, report_dir: Path) -> str:
    """The page with every figures/NAME.png it shows as a data: URI; the inlined files are removed."""
    import base64

    names = sorted(set(re.findall(r'src="figures/([^"/]+\.png)"', page)))
    for name in names:
        png = report_dir / "figures" / name
        page = page.replace(f'src="figures/{name}"',
                            f'src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode("ascii")}"')
        png.unlink()
    with contextlib.suppress(OSError):
        (report_dir / "figures").rmdir()  # only when empty
    return page


def write_html(report_dir: Path, results: dict[str, Any], *, single_file: bool = False) -> Path:
    """Render ``report_dir/index.html`` (and ``report_dir/figures/*.png``) from the JSON document ``results``
    (the dict written to results.json) and the saved tensors the records name. With ``single_file`` the pictures
    are inlined into the page (data: URIs) and no figures folder is left: one file to mail or attach. Returns
    the page's path."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    figures = report_dir / "figures"
    if figures.is_dir():  # pictures of an earlier run into the same folder (only the names this module writes)
        for old in figures.glob("*.png"):
            if FIGURE_NAME.fullmatch(old.name):
                old.unlink(missing_ok=True)
    records = [record(r) for r in results.get("results", []) if isinstance(r, dict)]
    ordered = sorted(enumerate(records), key=lambda ir: (bool(ir[1].passed), str(ir[1].nodeid)))
    stable = sum(bool(r.passed) for r in records)
    env = results.get("environment") or {}
    env_text = ", ".join(f"{k} {v}" for k, v in sorted(env.items()) if v is not None)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pytest-stability report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>pytest-stability report</h1>",
        f"<p><strong>{stable} stable, {len(records) - stable} unstable{_expected_count(records)}</strong></p>",
        _incomplete_note(results),
        f'<p class="note">{_e(env_text)}</p>',
        '<p><label><input type="checkbox" id="only-failures"> show only failures</label></p>',
        _matrix(ordered) if records else "",
        *_overviews(report_dir, records),
        _findings(records),
        "<h2>Items</h2>" if records else "",
        _summary(ordered) if records else "<p>No stability results in this run.</p>",
    ]
    body += [_section(report_dir, index, record) for index, record in ordered]
    body += [f"<script>{SCRIPT}</script>", "</body></html>"]
    path = report_dir / "index.html"
    page = "\n".join(body) + "\n"
    atomic_write_text(path, _inlined(page, report_dir) if single_file else page)
    return path
