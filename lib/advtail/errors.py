"""Errors that speak to the user: which file or config key, and what was expected."""

from __future__ import annotations

from pathlib import Path


class AdvtailError(Exception):
    """Base class of every error the pipeline raises on bad user input."""


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines too) as one space: errors are one
    line, even when they quote a library's multi-line message."""
    return " ".join(str(text).split())


class ConfigError(AdvtailError):
    """A config value is missing, misspelt or out of range."""

    def __init__(self, key: str, expected: str, got: object = None, *, has_value: bool = True):
        self.key = key
        self.expected = expected
        message = f"config key '{key}': {expected}"
        if has_value:
            message += f", got {got!r}"
        super().__init__(one_line(message))


class ConfigFileError(ConfigError):
    """A config file cannot be read as a config (missing, not YAML, a key twice)."""

    def __init__(self, path: str | Path, problem: str):
        self.key = str(path)
        self.expected = problem
        AdvtailError.__init__(self, one_line(f"{path}: {problem}"))


class DataFileError(AdvtailError):
    """A data file (dataset, subset, checkpoint) is missing, corrupt or of the wrong form."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        super().__init__(one_line(f"{path}: {problem}"))
