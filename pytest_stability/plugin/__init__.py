"""pytest hooks of pytest-stability: options, the ``stable`` marker, test expansion, the summary and the reports.

Imports pytest and the standard library only: torch is loaded when a stability test actually runs, so an
installed but unused plugin costs nothing. Run state lives in one :class:`StabilitySession` kept in
``config.stash``; a check's numbers travel on ``report.user_properties`` (as one JSON string) so the terminal
summary, JUnit XML and the JSON report read the same record, also under pytest-xdist. An unstable model
fails its own test item; the summary hooks never fail the session.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from ..kinds import CHECKS, CheckSpec, expand, record
from ..report.summary import summary_lines, summary_row
from .fixtures import *  # noqa: F403 - the fixtures this plugin provides
from .options import OPTIONS, OptionError, check_marker, resolve
from .session import PROPERTY, SESSION, StabilitySession

stable = pytest.mark.stable
PACKAGE = Path(__file__).parents[1]  # pytest_stability/: frames in it are the library's, not the user's
SKIP_REASON = "stability test: run with pytest --stability"


# -- options ---------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stability", "pytest-stability: instability tests of image-reconstruction models")
    group.addoption("--stability", action="store_true", help="run the tests marked @stable (skipped otherwise)")
    group.addoption("--stability-only", action="store_true", help="run only the tests marked @stable")
    group.addoption("--stability-details", action="store_true",
                    help="print every verdict's explanation under the stability summary")
    group.addoption("--stability-json", metavar="PATH", help="write all stability results to one JSON file")
    group.addoption("--stability-report", metavar="DIR",
                    help="write the HTML report (index.html, its pictures) and the JSON results into DIR")
    group.addoption("--stability-report-single-file", action="store_true",
                    help="inline the report's pictures into DIR/index.html: one self-contained file to send")
    group.addoption("--stability-save-tensors", action="store_true",
                    help="keep each item's tensors (perturbation, reconstructions) as DIR/items/*.pt after the "
                         "report is drawn (needs --stability-report)")
    group.addoption("--stability-seed", type=int, default=None, help="seed of every search and noise draw (0)")
    group.addoption("--stability-device", metavar="DEVICE", default=None,
                    help="cpu, cuda or cuda:N (with xdist: one GPU per worker); models are copied there")
    group.addoption("--stability-budget", metavar="N|Ns", default=None,
                    help="cap per item: N search steps, or Ns seconds of searching")
    group.addoption("--stability-save", nargs="?", const="", default=None, metavar="PATH",
                    help="store this run's results (default: the stability_store folder, one file per device)")
    group.addoption("--stability-compare", nargs="?", const="", default=None, metavar="PATH",
                    help="fail the items that got less stable than the stored run")
    group.addoption("--stability-compare-fail", default=None, metavar="RULES",
                    help="how much worse counts as worse, e.g. ratio:10%%,psnr:0.5,recovery:0.1 (the default)")
    group.addoption("--stability-replay-only", action="store_true",
                    help="only re-try the stored worst perturbations and failing fuzz inputs (a fast pre-merge "
                         "gate); skip items without")
    for option in OPTIONS:
        group.addoption(option.flag, dest=option.dest, default=None, metavar="VALUE",
                        help=f"{option.help} (marker: {option.name}=..., ini: {option.ini})")
        parser.addini(option.ini, f"pytest-stability: {option.help}", default=None)
    parser.addini("stability_store", "pytest-stability: folder of stored results for --stability-save/compare",
                  default=".stability")


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own loadgroup
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadgroup``, the items of one stability test's shared check go to one worker
    (:mod:`.xdist_groups`)."""
    if config.getvalue("dist") != "loadgroup" or not config.stash[SESSION].enabled:
        return None
    from .xdist_groups import StabilityGroupScheduling

    return StabilityGroupScheduling(config, log)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stable(**options): a pytest-stability test; the test returns a Case and is "
                                       "expanded into one item per check (see pytest_stability docs)")
    session = StabilitySession(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "stability-session")
    if session.enabled and not session.is_worker and session.json_path is not None:
        _make_folder(session.json_path, "--stability-json")
    if session.enabled and os.environ.get("PYTEST_XDIST_WORKER"):
        # one worker per core: several multi-threaded torch processes would oversubscribe the cores
        from .runner import share_cores

        share_cores()


def _make_folder(path: Path, flag: str) -> None:
    """Create the folder a results file goes into (as --junitxml does), or refuse the path before any test runs."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise pytest.UsageError(f"{flag}={path}: cannot create its folder {path.parent} ({exc.strerror}); choose "
                                "another path.") from None


def settings_for(node: Any) -> dict[str, Any]:
    """The resolved options of one test (marker > command line > ini > default).

    Markers on the module, the class and the function combine; the closest one wins per argument.
    """
    args: tuple = ()
    kwargs: dict[str, Any] = {}
    for mark in reversed(list(node.iter_markers("stable"))):
        args += tuple(mark.args)
        kwargs.update(mark.kwargs)
    config = node.config
    return resolve(check_marker(args, kwargs), config.getoption, config.getini)


# -- collection ------------------------------------------------------------------------------------
class StabilityMarkerError(pytest.Collector):
    """Stands in for a test whose @stable arguments are wrong: a collection error on that test alone."""

    def __init__(self, *, message: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message

    def collect(self) -> list:
        raise self.CollectError(self.message)


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: object):
    try:
        return (yield)
    except OptionError as exc:
        return StabilityMarkerError.from_parent(collector, name=name, message=f"{name}: {exc}")


@pytest.fixture(autouse=True)
def stability_check(request: pytest.FixtureRequest) -> CheckSpec | None:
    """The check an expanded @stable item runs (None for other tests)."""
    return getattr(request, "param", None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("stable") is None:
        return
    settings = settings_for(metafunc.definition)
    specs = expand(settings)
    metafunc.parametrize("stability_check", specs, ids=[s.id for s in specs])


@pytest.hookimpl(tryfirst=True)  # before xdist's, which may append "@group" to node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from .runner import NODE_ID

    session = config.stash[SESSION]
    if not session.enabled:
        skip = pytest.mark.skip(reason=SKIP_REASON)
        for item in items:
            if item.get_closest_marker("stable") is not None:
                item.add_marker(skip)
        return
    for item in items:
        if _spec(item) is not None:
            item.stash[NODE_ID] = item.nodeid
    if config.getoption("stability_only"):
        keep = [i for i in items if i.get_closest_marker("stable") is not None]
        dropped = [i for i in items if i.get_closest_marker("stable") is None]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


# -- running ---------------------------------------------------------------------------------------
def _spec(item: pytest.Item) -> CheckSpec | None:
    callspec = getattr(item, "callspec", None)
    spec = callspec.params.get("stability_check") if callspec is not None else None
    return spec if isinstance(spec, CheckSpec) else None


def _frames(tb: TracebackType | None, root: Path) -> list[str]:
    """The frames of ``tb`` in the user's files (not in pytest-stability, torch or pytest), innermost last."""
    hidden = [PACKAGE, *(Path(m.__file__).parent for m in map(sys.modules.get, ("torch", "_pytest",
                                                                                              "pluggy")) if m)]
    lines = []
    for frame in traceback.extract_tb(tb):
        path = Path(frame.filename)
        if any(path.is_relative_to(h) for h in hidden):
            continue
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        lines.append(f'  File "{shown}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line}")
    return lines


def _input_error(exc: BaseException, root: Path) -> str | None:
    """What to show for an error in the user's input, without the library's traceback; None for anything else.

    The user's input is at fault when the model or the user's own operator raised (a ModelError or an
    OperatorError: their own frames are shown; an operator may raise inside a model, e.g. a CS baseline), when
    the library refused an argument or ran out of memory on one image (a ValueError, TypeError or MemoryError
    raised by pytest-stability itself, not deeper inside torch: those keep their traceback) or when a warnings
    filter turned one of its warnings into an error.
    """
    from ..models import ModelError
    from ..operators import OperatorError

    if isinstance(exc, (ModelError, OperatorError)):
        cause = exc.__cause__
        culprit = "your operator" if isinstance(exc, OperatorError) or isinstance(cause, OperatorError) else "the model"
        while isinstance(cause, OperatorError):
            cause = cause.__cause__
        where = _frames(cause.__traceback__, root) if cause is not None else []
        return "\n".join([str(exc), *([f"{culprit} failed here, in your code:", *where] if where else [])])
    if isinstance(exc, Warning):
        return (f"{type(exc).__name__}: {exc}\n(a warnings filter turned this warning into an error; allow it "
                f"with -W 'default::{type(exc).__module__}.{type(exc).__name__}' if the verdict may stand)")
    innermost = traceback.extract_tb(exc.__traceback__)[-1:]
    if not isinstance(exc, (ValueError, TypeError, MemoryError)) or not innermost or not Path(
            innermost[0].filename).is_relative_to(PACKAGE):
        return None
    where = _frames(exc.__traceback__, root)
    return "\n".join([str(exc), *(["raised for this call in your code:", *where] if where else [])])


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    spec = _spec(pyfuncitem)
    if spec is None:
        return None
    from .runner import run_item

    argnames = pyfuncitem._fixtureinfo.argnames
    error = None
    try:
        case = pyfuncitem.obj(**{a: pyfuncitem.funcargs[a] for a in argnames})
        settings = settings_for(pyfuncitem)
        outcome = run_item(pyfuncitem, spec, case, settings, pyfuncitem.config.stash[SESSION])
    except Exception as exc:
        error = _input_error(exc, pyfuncitem.config.rootpath)
        if error is None:
            raise
    if error is not None:  # failed outside the handler: pytest would print the chained exceptions' texts too
        pytest.fail(error, pytrace=False)
    if outcome.record is not None:
        data = outcome.record.to_json()  # with its node id: under --dist loadgroup the report's has xdist's @group
        pyfuncitem.user_properties.append((PROPERTY, json.dumps(data)))
    if outcome.skip:
        pytest.skip(outcome.message)
    if outcome.xfail:
        pytest.xfail(outcome.message)
    if not outcome.passed:
        pytest.fail(outcome.message, pytrace=False)
    return True


def pytest_report_header(config: pytest.Config) -> str | None:
    session = config.stash[SESSION]
    return session.header() if session.enabled else None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    """Under -v, a passed or xfailed stability item's line carries its number, its limit and the limit's rule:
    PASSED: κ 2.41 ≤ 3.98 (2 × κ_g). A failure keeps the plain FAILED (its message has the numbers), so logs
    parsed for "FAILED <id>" work."""
    if report.when != "call" or config.get_verbosity() <= 0:
        return None
    data = next((json.loads(v) for name, v in report.user_properties if name == PROPERTY), None)
    if data is None:
        return None
    _, _, metric, limit, _, _, _ = summary_row(record(data))
    numbers = f"{metric} {limit}"
    if hasattr(report, "wasxfail"):
        return ("xfailed", "x", (f"XFAIL: {numbers}", {"yellow": True})) if report.skipped else None
    return ("passed", ".", (f"PASSED: {numbers}", {"green": True})) if report.passed else None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    session = config.stash[SESSION]
    if not session.enabled or session.is_worker:
        return
    lines = summary_lines(session.records, details=config.getoption("stability_details"), written=session.written,
                          html_path=session.html_path)
    if lines:
        terminalreporter.write_sep("=", "stability")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash[SESSION]
    if state.enabled and not state.is_worker:
        state.finish()


__all__ = ["CHECKS", "SKIP_REASON", "stable"]
