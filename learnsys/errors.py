"""Every error type a learnsys user can see, and the exit code each one means.

Raise one of these with a single line: what, where, what to do. The CLI prints
`error: <message>` on stderr, without a traceback, and exits with the error's `exit_code`:

    2  the input is wrong (a flag, a file, a name, a value): fix it and run again
    1  something failed while running (a full disk, a damaged store, a callback or the
       user's own code raising mid-run): the run is kept and can usually be resumed

The store and the dashboard import this module without torch, so it imports nothing.
"""

from __future__ import annotations

EXIT_USAGE = 2
EXIT_FAILURE = 1


class LearnsysError(Exception):
    """A problem the user can act on. args[0] is a single line: what, where, what to do."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str):
        text = str(message)
        super().__init__(text.replace("\n", "; ") if "\n" in text else " ".join(text.split()))


class SpecError(LearnsysError):
    """The run description (flags, TOML file or keyword arguments) is invalid."""


class DataError(LearnsysError):
    """The data set cannot be loaded or does not fit the model."""


class ModelError(LearnsysError):
    """The model cannot be built or loaded."""


class SearchError(LearnsysError):
    """A grid, parameter name or search option that cannot be used."""


class RunFailure(LearnsysError):
    """Something failed while a run was going: not the user's input. Exit code 1."""

    exit_code = EXIT_FAILURE


class CheckpointError(RunFailure):
    """No usable checkpoint, one that does not belong to this run, or one that cannot be written."""


class StoreError(RunFailure):
    """The run store cannot be read or written (damaged, deleted, read-only, full)."""


class StoreFullError(StoreError):
    """The disk that holds the run store is full. `store` is the store file's path."""

    def __init__(self, message: str, store: str = ""):
        super().__init__(message)
        self.store = store


class TrainingFailed(RunFailure):
    """The user's code (model, loss, step, Dataset, scheduler, ...) raised inside the loop."""


class CallbackError(RunFailure):
    """A callback (a sink or the user's) raised; names the callback and the event."""

    def __init__(self, callback: object, event: str, error: BaseException):
        super().__init__(f"Callback {type(callback).__name__} failed in {event}: {type(error).__name__}: {error}")
        self.callback, self.event, self.error = callback, event, error


class RunInUseError(StoreError):
    """Another process trains this run right now (it holds the run folder's lock)."""


class RunIdError(SpecError, StoreError):
    """A run id that cannot name a new run: malformed, reserved (a file of the runs dir) or taken.
    A usage error (exit 2); also a StoreError for readers that catch the store's errors."""

    exit_code = EXIT_USAGE
