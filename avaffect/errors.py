"""The one exception type users see.

Every error a user can cause (a bad path, a corrupt file, a missing optional library) is
raised as an :class:`AvaffectError` whose message is one line naming the problem and the
fix. The command line prints that line and exits with status 2 instead of a traceback.
"""


class AvaffectError(Exception):
    """A user-facing error: ``str(err)`` is one line that names the problem and the fix."""


class CheckpointNotFound(AvaffectError):
    """The name is neither a checkpoint file nor a shipped model: callers that know where the
    file should have come from (an earlier training stage) catch it to say so."""
