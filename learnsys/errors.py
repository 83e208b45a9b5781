"""The one exception type the CLI turns into a one-line message.

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
