"""Base class of the known failures of a stage, reported as one message without a traceback."""


class StageFailure(RuntimeError):
    """A stage cannot produce a valid output (blow-up, unreadable input, ...)."""
