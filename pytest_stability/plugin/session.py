"""Run state of one pytest session: the settings from the command line, the records, and the files they go to.

:class:`StabilitySession` lives in ``config.stash`` and is registered as a plugin, so it sees every test
report: under pytest-xdist the controller receives the workers' reports with their ``user_properties``, and
merges the records here; workers compute and never print or write the summary files (the summary's text is
:func:`pytest_stability.report.summary.summary_lines`). Standard library only.

The JSON report (``--stability-json``, ``--stability-report``'s results.json) is rewritten after every finished
record, atomically (a temporary file renamed over the old one), by the one process that prints the summary:
Ctrl-C, a crashed xdist worker or even a killed pytest leaves a valid report of the items that finished. Its
``complete`` field says whether the session ran to its end (``exitstatus``: pytest's exit code, null while the
run is in progress or when it was killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from ..kinds import record
from ..records import Record
from ..report.compare import parse_rules
from ..report.results import ResultsText, document
from ..report.store import atomic_write_text, default_store_path, merge_results
from .flags import check_device, parse_budget

PROPERTY = "stability"


class StabilitySession:
    """Settings of the run and the records gathered from test reports."""

    def __init__(self, config: pytest.Config):
        self.config = config
        opt = config.getoption
        self.enabled = bool(opt("stability") or opt("stability_only"))
        self.is_worker = hasattr(config, "workerinput")
        self.seed = 0 if opt("stability_seed") is None else int(opt("stability_seed"))
        self.device = opt("stability_device")
        if self.enabled and self.device is not None:
            check_device(self.device)
        self.max_steps, self.max_seconds = parse_budget(opt("stability_budget"))
        self.replay_only = bool(opt("stability_replay_only"))
        self.report_dir = Path(opt("stability_report")) if opt("stability_report") else None
        self.keep_tensors = bool(opt("stability_save_tensors"))
        self.single_file = bool(opt("stability_report_single_file"))
        for flag, wanted in (("--stability-save-tensors", self.keep_tensors),
                             ("--stability-report-single-file", self.single_file)):
            if self.enabled and wanted and self.report_dir is None:
                raise pytest.UsageError(f"{flag} is about the report folder: add --stability-report DIR.")
        self.json_path = Path(opt("stability_json")) if opt("stability_json") else None
        self.save_path = self._store_path(opt("stability_save"))
        self.compare_path = self._store_path(opt("stability_compare"))
        self.compare_rules = opt("stability_compare_fail")
        try:
            parse_rules(self.compare_rules)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.records: list[Record] = []
        self._json_text = ResultsText()
        self.cache: dict[Any, Any] = {}  # per-worker results shared by the items of one test
        self.started = time.time()  # a stored search written after this came from this run (another worker)
        self.written: list[Path] = []
        self.html_path: Path | None = None
        self.exitstatus: int | None = None  # set when the session ends (None while running)
        self.stopped_early = False  # -x / --maxfail ended the session before its last item
        self._environment: dict[str, Any] | None = None

    def _store_path(self, value: str | None) -> Path | None:
        if value is None:
            return None
        if value:
            return Path(value)
        folder = self.config.rootpath / self.config.getini("stability_store")
        return default_store_path(folder, self.device_type)

    @property
    def device_type(self) -> str:
        return (self.device or "cpu").split(":")[0]

    def worker_device(self) -> str | None:
        """The device for this process: with xdist, ``cuda`` becomes one GPU per worker (gw0 → cuda:0, …)."""
        if self.device != "cuda":
            return self.device
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        if not worker.startswith("gw"):
            return "cuda"
        import torch

        count = max(torch.cuda.device_count(), 1)
        return f"cuda:{int(worker[2:]) % count}"

    # -- records ---------------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        found = [json.loads(value) for name, value in report.user_properties if name == PROPERTY]
        for data in found:
            self.add(data)
        if found and self.enabled and not self.is_worker:
            self.checkpoint()

    def add(self, data: dict[str, Any]) -> None:
        """Keep the record a test report carries (its JSON, with the node id as collected: the report's may carry
        xdist's ``@group``)."""
        self.records.append(record(data))

    def environment(self) -> dict[str, Any]:
        if self._environment is None:
            import platform

            import torch

            from .. import __version__

            self._environment = {
                "pytest_stability": __version__, "torch": torch.__version__, "python": platform.python_version(),
                "platform": platform.platform(), "device": self.device or "cpu",
                "device_type": self.device_type, "dtype": str(torch.get_default_dtype()).replace("torch.", ""),
                "seed": self.seed, "cuda": torch.version.cuda if self.device_type == "cuda" else None,
            }
        return self._environment

    def header(self) -> str:
        env = self.environment()
        return f"stability: torch {env['torch']}, device {env['device']}, dtype {env['dtype']}, seed {env['seed']}"

    # -- files ---------------------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """Whether the session ran every item: it ended (not killed), was not interrupted (Ctrl-C, an internal
        error) and was not stopped early by -x / --maxfail."""
        ended = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
        return self.exitstatus in ended and not self.stopped_early

    def document(self) -> dict[str, Any]:
        """The results JSON document of the records so far (docs/reports.md)."""
        return document([r.to_json() for r in self.records], self.environment(), complete=self.complete,
                        exitstatus=self.exitstatus)

    def json_text(self) -> str:
        """:meth:`document` as the results JSON's text (each record encoded once: :class:`ResultsText`)."""
        return self._json_text(self.records, self.environment(), complete=self.complete, exitstatus=self.exitstatus)

    def json_targets(self) -> list[Path]:
        """The JSON report files of this run: --stability-json PATH and --stability-report DIR/results.json."""
        return [p for p in (self.json_path, self.report_dir and self.report_dir / "results.json") if p]

    def _write_json(self, path: Path) -> None:
        if self.report_dir is not None and path.parent == self.report_dir:
            self.report_dir.mkdir(parents=True, exist_ok=True)  # the report folder is ours to make; PATH's is not
        atomic_write_text(path, self.json_text())

    def checkpoint(self) -> None:
        """Rewrite the JSON report(s) with the records so far ("complete": false); called after each record.

        A failure here is silent: the write at the end of the session tries again and warns.
        """
        for path in self.json_targets():
            with contextlib.suppress(Exception):  # reported once, by finish()
                self._write_json(path)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """Note how the session ended, before the plugin's own sessionfinish hook calls :meth:`finish`
        (pytest calls it after Ctrl-C too, with exit status INTERRUPTED)."""
        self.exitstatus = int(exitstatus)
        self.stopped_early = bool(session.shouldfail or session.shouldstop)

    def finish(self) -> None:
        """Write the HTML report, the JSON report(s) and the store; a failure to write warns, never fails the
        session. The items' tensors (DIR/items/*.pt, which the workers wrote for the pictures) are removed once the
        pictures are drawn, unless --stability-save-tensors keeps them."""
        self.written = []
        if self.report_dir is not None:
            self._write_html(self.document())
            if not self.keep_tensors:
                self._drop_tensors()
        for path in self.json_targets():
            self._try(lambda p=path: self._write_json(p), path)
        if self.save_path is not None and self.records:
            self._try(lambda: merge_results(self.save_path, [r.to_json() for r in self.records], self.environment()),
                      self.save_path)

    def _drop_tensors(self) -> None:
        """Remove the tensors files this run's records name (and DIR/items when that leaves it empty)."""
        for r in self.records:
            if r.tensors_file:
                with contextlib.suppress(OSError):
                    (self.report_dir / r.tensors_file).unlink(missing_ok=True)
                r.tensors_file = None
        self._json_text = ResultsText()  # its texts of the records name the files
        with contextlib.suppress(OSError):
            (self.report_dir / "items").rmdir()  # only when empty

    def _write_html(self, document: dict[str, Any]) -> None:
        """DIR/index.html of --stability-report; any failure to render warns, never fails the session."""
        self.html_path = None
        path = self.report_dir / "index.html"
        try:
            from ..report.html import write_html

            self.html_path = write_html(self.report_dir, document, single_file=self.single_file)
        except Exception as exc:  # a broken picture or plot must not fail a finished test run
            _warn_unwritten(path, repr(exc))

    def _try(self, write: Any, path: Path) -> None:
        try:
            write()
        except Exception as exc:  # a missing folder, a full disk or a foreign store must not fail the test run
            _warn_unwritten(path, str(exc) if isinstance(exc, (OSError, ValueError)) else repr(exc))
        else:
            self.written.append(path)


SESSION = pytest.StashKey[StabilitySession]()  # the run's StabilitySession in config.stash


def _warn_unwritten(path: Path, why: str) -> None:
    """Say on stderr and as a PytestWarning that ``path`` was not written; never raises (``-W error`` included:
    the summary and the files at the end of a session must not turn a finished test run into an error)."""
    print(f"pytest-stability: could not write {path}: {why}", file=sys.stderr)
    try:
        warnings.warn(pytest.PytestWarning(f"pytest-stability could not write {path}: {why}"), stacklevel=2)
    except Warning:  # filterwarnings = error: the message above is on stderr
        pass
