"""The warning and error types of pytest-stability, in a module of their own so that any module can raise them.

Standard library only.
"""


class StabilityWarning(UserWarning):
    """A result is weaker than it looks (e.g. a gradient-free search gives only a loose lower bound)."""


class OptionError(ValueError):
    """A stability option has a value it cannot take."""
