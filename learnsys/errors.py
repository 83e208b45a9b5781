"""Every user-facing error type: the CLI turns each into a one-line message.

Raise `LearnsysError("what, where, what to do")` for anything a user can fix; the CLI
prints `error: <message>` on stderr and exits with status 2, without a traceback.
"""


class LearnsysError(Exception):
    """A problem the user can act on. args[0] is a single line: what, where, what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()) if "\n" not in str(message) else str(message).replace("\n", "; "))


class SpecError(LearnsysError):
    """The run description (flags, TOML file or keyword arguments) is invalid."""


class DataError(LearnsysError):
    """The data set cannot be loaded or does not fit the model."""


class ModelError(LearnsysError):
    """The model cannot be built or loaded."""


class CheckpointError(LearnsysError):
    """No usable checkpoint, or one that does not belong to this run."""


class StoreError(LearnsysError):
    """The run store or a run folder cannot be read or written as this command needs: damaged,
    read-only, full or busy. A runtime failure, not a usage error; the line says what to do."""


class RunInUseError(StoreError):
    """Another process trains this run right now (it holds the run folder's lock)."""


class RunIdError(SpecError, StoreError):
    """A run id that cannot name a new run: malformed, reserved (a file of the runs dir) or taken.
    A usage error (a SpecError); also a StoreError for readers that catch the store's errors."""
