"""Errors a user can fix: the tools print them as one line, no traceback."""


class UserError(Exception):
    """Base of every error whose message says what was wrong and the fix."""


class ToolError(UserError, RuntimeError):
    """A bad command line or a run that would overwrite something."""


class DataError(UserError, ValueError):
    """A dataset file or folder a config points at is missing or broken."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be read, fetched or loaded as configured."""


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (a diverged loss); checkpoints are kept."""


class ConfigError(UserError, TypeError):
    """A config gives a model an argument it does not take."""
