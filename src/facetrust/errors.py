"""Exceptions with messages meant for people: what was wrong, where, and what to do."""


class FacetrustError(Exception):
    """Base class; the CLI prints these without a traceback and exits with status 2."""


class ConfigError(FacetrustError, ValueError):
    """An experiment config or a --set override is invalid."""


class CheckpointError(FacetrustError):
    """A checkpoint folder is missing, incomplete, corrupted or unsafe."""


class DataError(FacetrustError, ValueError):
    """A manifest, image, video or data set is invalid."""
