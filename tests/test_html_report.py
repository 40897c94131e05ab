"""The HTML report of --stability-report DIR: DIR/index.html, driven as a user drives it (pytester)."""

import html
import json
import re
import shutil

import numpy as np
import pytest
import torch
from projects import planted_conftest

pytest_plugins = ["pytester"]

CONFTEST = planted_conftest(32)

TESTS = '''
import pytest

from conftest import Gain, case
from pytest_stability import stable

FAST = dict(eps=0.02, steps=6, max_ratio=3.0, baseline=None)


@stable(checks="worst_case", **FAST)
def test_planted(images):
    return case(Gain(8.0), images, "planted")


@stable(checks=("worst_case", "structure", "samples"), details="spade", ratio_sweep=(0.2, 0.4),
        min_recovery=0.1, **FAST)
@pytest.mark.parametrize("gain", [1.0], ids=["<script>alert(1)</script>"])
def test_zero_filled(images, gain):
    return case(Gain(gain), images, "zero-filled <script>alert(2)</script>")
'''


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One run shared by the tests (pytester is function-scoped, so a subprocess in a module-scoped folder):
    a failure (the planted gain) and passes, with --stability-report=report --stability-save-tensors."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("html_report")
    (path / "conftest.py").write_text(CONFTEST)
    (path / "test_zoo.py").write_text(TESTS)
    (path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--stability", "--stability-report=report",
                           "--stability-save-tensors", "-p", "no:cacheprovider", "-q"], cwd=path, capture_output=True,
                          text=True, timeout=300)
    return {"path": path, "dir": path / "report", "stdout": proc.stdout, "stderr": proc.stderr,
            "rc": proc.returncode}


def _page(report):
    return (report["dir"] / "index.html").read_text(encoding="utf-8")


def _results(report):
    return json.loads((report["dir"] / "results.json").read_text())["results"]


def test_the_run_has_a_failure_and_passes_and_prints_the_report_path_once(report):
    out = report["stdout"]
    assert report["rc"] == 1, out + report["stderr"]
    assert re.search(r"1 failed, 3 passed", out), out
    assert out.count("stability report: ") == 1
    assert "stability report: report/index.html" in out.replace("\\", "/")
    assert "could not write" not in report["stderr"]


def test_every_result_is_in_the_page_and_failures_come_first(report):
    page = _page(report)
    results = _results(report)
    assert len(results) == 4
    for record in results:
        assert html.escape(record["nodeid"], quote=True) in page
    summary = page.split('<table class="summary">', 1)[1].split("</table>", 1)[0]
    first = summary.split('<tr class="', 2)[1]
    assert first.startswith("fail") and "test_planted" in first
    assert "3 stable, 1 unstable" in page
    assert 'id="only-failures"' in page


def test_user_strings_are_escaped(report):
    page = _page(report)
    assert "<script>alert" not in page  # neither the test id nor the model name comes through raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # only the page's own filter script


def test_the_page_needs_no_network(report):
    page = _page(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "http://" not in page and "https://" not in page
    assert "@import" not in page


def test_referenced_images_exist(report):
    page = _page(report)
    sources = re.findall(r'src="([^"]+)"', page)
    # worst case: x, x + r, |r|, f(Ax), f(A(x + r)), |difference| (no baseline here) for two items
    assert len(sources) >= 12
    for src in sources:
        assert src.startswith("figures/") and ".." not in src
        assert (report["dir"] / src).is_file(), src
    assert "|r| magnified ×" in page
    assert "x + d (box marked)" in page


def test_saved_tensors_hold_only_their_own_elements(report):
    """A saved view of a larger batch would carry the whole batch's storage (torch.save writes the storage)."""
    import torch

    files = sorted((report["dir"] / "items").glob("*.pt"))
    assert files
    for path in files:
        for name, t in torch.load(path, weights_only=True).items():
            assert t.untyped_storage().nbytes() == t.numel() * t.element_size(), (path.name, name)


def test_the_samples_plot_exists_when_matplotlib_is_installed(report):
    page = _page(report)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "pip install matplotlib" in page
        return
    plots = re.findall(r'src="(figures/[^"]+-psnr\.png)"', page)
    assert len(plots) == 1
    assert (report["dir"] / plots[0]).stat().st_size > 1000


def test_write_html_without_matplotlib_says_how_to_get_plots(tmp_path, monkeypatch):
    import builtins

    from pytest_stability.report.html import write_html

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    record = {"nodeid": "t.py::test[samples]", "check": "samples", "model": "m", "passed": True,
              "explanation": "fine", "psnr": [20.0, 25.0], "baseline_psnr": None, "ratios": [0.2, 0.4],
              "tol_db": 0.5, "trained_ratio": 0.4, "regression": []}
    page = write_html(tmp_path, {"version": 1, "environment": {}, "results": [record]}).read_text()
    assert "pip install matplotlib" in page
    assert "<td>25.00</td>" in page


def test_a_render_failure_warns_and_never_fails_the_session(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_one='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks="worst_case", eps=0.02, steps=2, max_ratio=3.0, baseline=None)
        def test_ok(images):
            return case(Gain(1.0), images, "ok")
    ''')
    import pytest_stability.report.html as module

    def broken(report_dir, results, **options):
        raise RuntimeError("boom")

    monkeypatch.setattr(module, "write_html", broken)
    result = pytester.runpytest("--stability", "--stability-report=report", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stderr.fnmatch_lines(["*could not write report*index.html*boom*"])
    assert "stability report:" not in result.stdout.str()
    assert (pytester.path / "report" / "results.json").is_file()


def test_an_empty_run_and_stale_pictures(tmp_path):
    from pytest_stability.report.html import write_html

    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "0123456789ab-7.png").write_bytes(b"old")
    (figures / "mine.png").write_bytes(b"a user's file")
    page = write_html(tmp_path, {"version": 1, "environment": {"seed": 0}, "results": []}).read_text()
    assert "No stability results" in page
    assert not (figures / "0123456789ab-7.png").exists()  # pictures of an earlier run are removed
    assert (figures / "mine.png").exists()  # other files are left alone


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_the_page_renders_in_headless_chromium_with_its_pictures_and_plot(report, tmp_path):
    """Render index.html as a user's browser does (headless, no network) and look at the screenshot: the
    grey-level pictures and the plot's curve (matplotlib's default blue; the run has no baseline) must be on it."""
    import subprocess

    from PIL import Image

    shot = tmp_path / "page.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,6000", f"--screenshot={shot}",
                    (report["dir"] / "index.html").as_uri()], capture_output=True, timeout=120, check=True)
    pixels = torch.from_numpy(np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16).copy()).view(-1, 3)
    grey = pixels[(pixels.max(dim=1).values - pixels.min(dim=1).values) < 4, 0]
    assert grey.unique().numel() > 100  # the reconstructions, perturbations and differences: many grey levels

    def near(rgb):
        return int(((pixels - torch.tensor(rgb)).abs().max(dim=1).values < 20).sum())

    assert near((31, 119, 180)) > 200  # the model's PSNR curve


def test_the_page_opens_on_the_overview_matrix(report):
    """One row per model, one column per check, the verdict coloured, the deciding metric against its limit and
    rule, a link to the item; before the items' table."""
    page = _page(report)
    assert page.index('<table class="matrix">') < page.index('<table class="summary">')
    matrix = page.split('<table class="matrix">', 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<th>([^<]+)</th>", matrix.split("</tr>", 1)[0]) == ["model", "worst_case", "structure",
                                                                          "samples"]
    rows = {re.search(r"<tr><th>([^<]+)</th>", row).group(1): row for row in matrix.split("</tr>")[1:-1]}
    assert set(rows) == {"planted", "zero-filled &lt;script&gt;alert(2)&lt;/script&gt;"}
    planted = rows["planted"]
    assert '<td class="fail"><a href="#item-' in planted and "UNSTABLE" in planted and "&gt; 3 (max_ratio)" in planted
    assert planted.count('<td class="none">-</td>') == 2  # no structure or samples item
    zero = rows["zero-filled &lt;script&gt;alert(2)&lt;/script&gt;"]
    assert zero.count('<td class="pass">') == 3 and "≤ 3 (max_ratio)" in zero and "(min_recovery)" in zero
    for anchor in re.findall(r'href="#(item-\d+)"', matrix):
        assert f'id="{anchor}"' in page


def test_worst_case_items_have_an_artefact_map_and_the_run_a_kappa_plot(report):
    page = _page(report)
    assert page.count("<figcaption>artefact map |f(A(x + r)) − f(Ax)|; colour bar 0 … ") == 2  # both worst cases
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    plots = re.findall(r'src="(figures/[0-9a-f]{12}-kappa\.png)"', page)
    assert len(plots) == 2 and all((report["dir"] / p).is_file() for p in plots)  # one per model
    assert "κ against eps: planted" in page
    curves = re.findall(r'src="(figures/[0-9a-f]{12}-persistence\.png)"', page)
    assert len(curves) == 2 and all((report["dir"] / p).is_file() for p in curves)  # one per worst-case item
    assert page.count("<figcaption>persistence of the worst case under added noise (") == 2


def test_the_artefact_map_marks_the_window_of_largest_change():
    from pytest_stability.report.figures import HEAT, heat_rgb, largest_change

    change = torch.zeros(32, 32)
    change[20:24, 5:9] = 1.0  # the artefact
    change[2, 30] = 3.0  # one bright pixel: less change over a window than the block
    assert largest_change(change, 4) == [20, 5, 24, 9]
    rgb = heat_rgb(torch.tensor([[0.0, 2.0, 4.0]]), 4.0)
    assert torch.allclose(rgb[:, 0, 0], torch.tensor(HEAT[0])) and torch.allclose(rgb[:, 0, 2], torch.tensor(HEAT[-1]))
    assert torch.allclose(rgb[:, 0, 1], torch.tensor(HEAT[2]))  # the middle stop at half the peak


def test_single_file_mode_inlines_every_picture(pytester):
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_one='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks=("worst_case", "samples"), eps=(0.01, 0.02), steps=4, max_ratio=3.0, baseline=None,
                ratio_sweep=(0.2, 0.4))
        def test_planted(images):
            return case(Gain(8.0), images, "planted")
    ''')
    pytester.runpytest("--stability", "--stability-report=one", "--stability-report-single-file",
                       "-p", "no:cacheprovider").assert_outcomes(failed=3)
    folder = pytester.path / "one"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html", "results.json"]
    page = (folder / "index.html").read_text()
    assert 'src="figures/' not in page and page.count('src="data:image/png;base64,') >= 14


def test_the_matrix_marks_expected_failures_and_declared_mismatches(tmp_path):
    from pytest_stability.report.html import write_html

    base = {"check": "worst_case", "id": "worst_case-eps=0.02", "eps": 0.02, "limit": 3.0, "max_ratio": 3.0,
            "regression": [], "expected": "unstable"}
    records = [{**base, "nodeid": "t.py::a[worst_case-eps=0.02]", "model": "net", "passed": False, "ratio": 5.0,
                "margin": -0.67, "check_verdict": "unstable", "expected_note": "Fig. 1"},
               {**base, "nodeid": "t.py::b[worst_case-eps=0.02]", "model": "other", "passed": True, "ratio": 1.0,
                "margin": 0.67, "check_verdict": "stable", "mismatch_reason": "a smaller network"}]
    page = write_html(tmp_path, {"version": 1, "environment": {}, "results": records}).read_text()
    assert "1 stable, 1 unstable (1 of them expected: xfail)" in page
    matrix = page.split('<table class="matrix">', 1)[1].split("</table>", 1)[0]
    assert '<td class="xfail">' in matrix and "UNSTABLE (expected)" in matrix and "declared unstable — Fig. 1" in matrix
    assert '<td class="pass">' in matrix and "declared unstable; a mismatch is declared (see the item)" in matrix
