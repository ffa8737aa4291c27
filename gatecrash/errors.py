"""One exception root for the conductor; lower-level errors are translated here."""

__all__ = ["GatecrashError", "InputError", "StackError"]


class GatecrashError(Exception):
    """Root of every error the conductor raises; the CLI prints it and exits 2."""


class InputError(GatecrashError):
    """Bad input from the user: a file, a field or an option; says how to fix it."""


class StackError(GatecrashError):
    """A stack could not be deployed, found or removed."""
