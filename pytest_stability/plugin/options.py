"""Every setting of a stability test, its parser, and the one place where their precedence is resolved.

Each option is settable three ways, and the first of these that gives it wins:

1. the marker: ``@stable(eps=(0.01, 0.02))``;
2. the command line: ``--stability-eps=0.01,0.02``;
3. the ini file: ``stability_eps = 0.01 0.02`` under ``[tool.pytest.ini_options]`` (or pytest.ini);
4. the default below.

Values from the command line and ini files are strings (comma- or space-separated lists); the parsers
turn them and marker values alike into the same normalised Python values, and raise :class:`OptionError`
naming the option, the value and what it accepts. Standard library only: the plugin validates markers at
collection time without importing torch.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError
from ..expectations import ExpectationError, parse_expect, parse_mismatch
from ..kinds import CHECKS, REGISTRY
from ..names import BASELINES, DETAIL_NAMES, DOMAINS, FUZZ_KINDS


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _number(name: str, v: Any, kind: type = float) -> float:
    if isinstance(v, bool):
        raise OptionError(f"{name}: expected a number, got {v!r}.")
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise OptionError(f"{name}: expected a number, got {v!r}.") from None
    if not math.isfinite(x):
        raise OptionError(f"{name}: expected a finite number, got {v!r}.")
    if kind is int:
        if not x.is_integer():
            raise OptionError(f"{name}: expected a whole number, got {v!r}.")
        return int(x)
    return x


def _none(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off"))


def positive_floats(name: str, value: Any) -> tuple[float, ...]:
    """One or more strictly increasing positive numbers, e.g. eps."""
    xs = tuple(_number(name, v) for v in _items(value))
    if not xs or any(x <= 0 for x in xs):
        raise OptionError(f"{name}: expected one or more positive numbers (e.g. {name}=0.02 or (0.01, 0.02)), "
                          f"got {value!r}.")
    if list(xs) != sorted(set(xs)):
        raise OptionError(f"{name}: values must be strictly increasing without duplicates, got {value!r}.")
    return xs


def noise_levels(name: str, value: Any) -> tuple[float, ...]:
    """Increasing positive multiples of ‖r‖, or none / () for no persistence curve."""
    if _none(value) or value == ():
        return ()
    return positive_floats(name, value)


def ratios(name: str, value: Any) -> tuple[float, ...] | None:
    """Sampling ratios in (0, 1], strictly increasing, at least two; or None."""
    if _none(value):
        return None
    xs = positive_floats(name, value)
    if len(xs) < 2 or xs[-1] > 1:
        raise OptionError(f"{name}: expected at least two increasing sampling ratios in (0, 1] "
                          f"(e.g. (0.15, 0.25, 0.33, 0.5)), got {value!r}.")
    return xs


def optional_positive(name: str, value: Any) -> float | None:
    if _none(value):
        return None
    x = _number(name, value)
    if x <= 0:
        raise OptionError(f"{name}: expected a positive number or None, got {value!r}.")
    return x


def nonnegative(name: str, value: Any) -> float:
    x = _number(name, value)
    if x < 0:
        raise OptionError(f"{name}: expected a number >= 0, got {value!r}.")
    return x


def optional_number(name: str, value: Any) -> float | None:
    return None if _none(value) else _number(name, value)


def recovery(name: str, value: Any) -> float:
    x = _number(name, value)
    if not -1 <= x <= 1:
        raise OptionError(f"{name}: expected a recovery coefficient in [-1, 1] (e.g. 0.5), got {value!r}.")
    return x


def positive_int(name: str, value: Any) -> int:
    x = int(_number(name, value, int))
    if x < 1:
        raise OptionError(f"{name}: expected a whole number >= 1, got {value!r}.")
    return x


def optional_positive_int(name: str, value: Any) -> int | None:
    return None if _none(value) else positive_int(name, value)


def nonnegative_int(name: str, value: Any) -> int:
    x = int(_number(name, value, int))
    if x < 0:
        raise OptionError(f"{name}: expected a whole number >= 0 (0: off), got {value!r}.")
    return x


def _choices(name: str, values: list[Any], allowed: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for v in values:
        if not isinstance(v, str) or v not in allowed:
            close = difflib.get_close_matches(str(v), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"{name}: {v!r} is not one of {', '.join(allowed)}{hint}.")
        if v not in out:
            out.append(v)
    if not out:
        raise OptionError(f"{name}: give at least one of {', '.join(allowed)}.")
    return tuple(out)


def domain(name: str, value: Any) -> str:
    return _choices(name, [value], DOMAINS)[0]


def details(name: str, value: Any) -> tuple[str, ...]:
    return _choices(name, _items(value), DETAIL_NAMES)


def fuzz_kinds(name: str, value: Any) -> str | tuple[str, ...]:
    """'auto' (every kind the operator supports, and details) or names of FUZZ_KINDS."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    return _choices(name, _items(value), FUZZ_KINDS)


def checks(name: str, value: Any) -> tuple[str, ...]:
    registered = tuple(REGISTRY)
    chosen = _choices(name, _items(value), registered)
    return tuple(c for c in registered if c in chosen)  # always in the registry's (the paper's) order


def baseline(name: str, value: Any) -> Any:
    """'tv', 'wavelet', None, or (marker only) a model / callable y -> x."""
    if _none(value):
        return None
    if isinstance(value, str):
        return _choices(name, [value.strip().lower()], BASELINES)[0]
    if callable(value):
        return value
    raise OptionError(f"{name}: expected 'tv', 'wavelet', None or a callable y -> x, got {value!r}.")


def flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise OptionError(f"{name}: expected true or false, got {value!r}.")


def optional_text(name: str, value: Any) -> str | None:
    if _none(value):
        return None
    if not isinstance(value, str):
        raise OptionError(f"{name}: expected a path or glob pattern, got {value!r}.")
    return value


def _declared(parse: Callable[[str, Any], Any]) -> Callable[[str, Any], Any]:
    """The option parser of a declaration (see expectations.py): None when unset, its errors as OptionError."""

    def parser(name: str, value: Any) -> Any:
        if _none(value):
            return None
        try:
            return parse(name, value)
        except ExpectationError as exc:
            raise OptionError(str(exc)) from None

    return parser


expect = _declared(parse_expect)  # {check: (finding, source)}: the finding expected of each check
mismatch = _declared(parse_mismatch)  # {check: why}: checks whose verdict is known to differ from expect


@dataclass(frozen=True)
class Option:
    """One setting: marker keyword ``name``, command line ``--stability-<cli>``, ini ``stability_<name>``."""

    name: str
    parse: Callable[[str, Any], Any]
    default: Any
    help: str
    cli: str = ""

    @property
    def flag(self) -> str:
        return "--stability-" + (self.cli or self.name.replace("_", "-"))

    @property
    def dest(self) -> str:
        return "stability_opt_" + self.name

    @property
    def ini(self) -> str:
        return "stability_" + self.name


OPTIONS: tuple[Option, ...] = (
    Option("checks", checks, CHECKS, "which checks to run: worst_case, structure, samples, fuzz (samples needs "
           "ratio_sweep, fuzz needs fuzz)"),
    Option("eps", positive_floats, (0.02,), "relative budgets of the worst-case search, ‖r‖ ≤ eps·‖x‖ (one item "
           "per eps)"),
    Option("domain", domain, "image", "where the worst case perturbs: image (r, through A) or measurement (e on y)"),
    Option("steps", positive_int, 40, "ascent steps of the worst-case search (one forward and backward pass each)"),
    Option("max_ratio", optional_positive, None, "fail when the instability ratio κ exceeds this (absolute)"),
    Option("baseline_factor", optional_positive, 2.0, "fail when κ exceeds this many times the CS baseline's "
           "own worst-case ratio"),
    Option("persistence_levels", noise_levels, (0.25, 0.5, 1.0), "noise levels (× ‖r‖) of the worst case's "
           "persistence curve, each drawn until its 95-percent interval is at most 0.1 wide; none: no curve"),
    Option("baseline_attack", flag, True, "search the built-in baseline's own worst case for κ_g (false: the paper's "
           "comparison, the baseline's ratio on the network's r)"),
    Option("baseline", baseline, "tv", "the stable CS reference: tv, wavelet or none (marker: also a callable)"),
    Option("details", details, DETAIL_NAMES, "structural details to add (one item per detail)", cli="detail"),
    Option("min_recovery", recovery, 0.5, "fail when a detail's recovery ρ is below this while the baseline "
           "keeps it"),
    Option("recovery_margin", nonnegative, 0.3, "fail when a detail's recovery ρ is more than this below the "
           "baseline's ρ_g"),
    Option("ratio_sweep", ratios, None, "sampling ratios of the more-samples check (increasing, in (0, 1])"),
    Option("tol_db", nonnegative, 0.5, "fail when PSNR drops more than this (dB) from one ratio to the next"),
    Option("min_gain_db", optional_number, None, "fail when PSNR gains less than this (dB) over the sweep while the "
           "baseline gains it"),
    Option("fuzz", nonnegative_int, 0, "inputs the fuzz check draws with hypothesis (0: no fuzz item)"),
    Option("fuzz_kinds", fuzz_kinds, "auto", "what the fuzz check draws: auto (every kind the operator supports, and "
           "details) or some of " + ", ".join(FUZZ_KINDS)),
    Option("fuzz_rate", flag, False, "draw all fuzz inputs (no steering, no stop at the first failure, no "
           "shrinking) and estimate the failure rate with its confidence interval"),
    Option("max_batch", optional_positive_int, None, "the most inputs one model call may carry (a memory cap; larger "
           "batches run in chunks, as after an out-of-memory error)"),
    Option("expect", expect, None, "the finding expected of each check, declared before it is measured: "
           "worst_case=unstable; structure=stable (an unstable check that is expected xfails; a verdict that differs "
           "fails)"),
    Option("mismatch", mismatch, None, "checks whose verdict is known to differ from expect, with the reason: "
           "worst_case=why (the item ends as expected and the reports show the reason)"),
    Option("images", optional_text, None, "validation images: a folder or glob of PNG/JPEG/TIFF, .npy/.pt, DICOM "
           "or fastMRI .h5 files"),
)
BY_NAME = {o.name: o for o in OPTIONS}


def check_marker(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Validate a ``stable`` marker's arguments; return them parsed. Raises OptionError naming the argument."""
    if args:
        raise OptionError(f"@stable takes keyword arguments only (e.g. @stable(eps=0.02)), got positional "
                          f"{args!r}.")
    parsed = {}
    for key, value in kwargs.items():
        if key not in BY_NAME:
            close = difflib.get_close_matches(key, list(BY_NAME), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise OptionError(f"@stable got an unknown argument {key!r}{hint} Known: {', '.join(BY_NAME)}.")
        parsed[key] = BY_NAME[key].parse(key, value)
    return parsed


def resolve(marker: dict[str, Any], cli: Callable[[str], Any], ini: Callable[[str], Any]) -> dict[str, Any]:
    """The value of every option by precedence marker > command line > ini > default.

    ``marker`` holds already-parsed marker values; ``cli(dest)`` and ``ini(name)`` return the raw command-line
    and ini values (None or "" when unset).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in OPTIONS:
        if option.name in marker:
            values[option.name], sources[option.name] = marker[option.name], "@stable"
            continue
        raw, source = cli(option.dest), option.flag
        if raw is None:
            raw, source = ini(option.ini), option.ini
            if raw in (None, "", []):
                values[option.name], sources[option.name] = option.default, "default"
                continue
        if isinstance(raw, list):
            raw = " ".join(raw)
        try:
            values[option.name] = option.parse(option.name, raw)
        except OptionError as exc:
            raise OptionError(f"{source}: {exc}") from None
        sources[option.name] = source
    values["checks"] = tuple(c for c in values["checks"] if REGISTRY[c].require(values, sources))
    declared = values["expect"] or {}
    if set(declared) - set(values["checks"]):
        raise OptionError(f"expect names {', '.join(sorted(set(declared) - set(values['checks'])))}, which this test "
                          f"does not run (checks: {', '.join(values['checks'])}).")
    if set(values["mismatch"] or {}) - set(declared):
        raise OptionError(f"mismatch names {', '.join(sorted(set(values['mismatch']) - set(declared)))} without an "
                          "expectation for it: a mismatch is declared against expect={check: ...}.")
    return values
