"""The project's exceptions: one shape (code, where, found, allowed, what to do), one line each."""

from __future__ import annotations


class DataGenError(Exception):
    """Base class for every error a user can act on. `str()` gives the one-line message."""

    code = "error"
    exit_code = 1

    def __init__(self, where: str, problem: str, *, found: object = None, hint: str = ""):
        self.where = where
        self.problem = problem
        self.found = found
        self.hint = hint
        super().__init__(self.line())

    def __reduce__(self):
        """Rebuilt whole from its fields when it crosses from a worker process to its parent."""
        return _rebuilt, (type(self), self.where, self.problem, self.found, self.hint)

    def line(self) -> str:
        text = f"{self.code}: {self.where}: {self.problem}"
        if self.found is not None:
            text += f" (got {self.found!r})"
        if self.hint:
            text += f"; {self.hint}"
        return text


def _rebuilt(cls: type[DataGenError], where: str, problem: str, found: object, hint: str) -> DataGenError:
    return cls(where, problem, found=found, hint=hint)


class UsageError(DataGenError):
    """A command-line argument is wrong."""

    code = "usage"
    exit_code = 2


class ConfigError(DataGenError):
    """A config or scenario file is missing, unreadable or breaks its schema."""

    code = "config"
    exit_code = 3


class ContractError(DataGenError):
    """Generated or existing data breaks a file contract."""

    code = "contract"
    exit_code = 4


class RegistryError(DataGenError):
    """The patient registry cannot be read or trusted."""

    code = "registry"
    exit_code = 5


class OutputError(DataGenError):
    """The output location cannot be written."""

    code = "output"
    exit_code = 6


class BusyError(DataGenError):
    """Another run holds the day folder or the registry."""

    code = "busy"
    exit_code = 7
