"""The error loading scenes ends in, below both the loader and its file reader."""


class LoadError(RuntimeError):
    """Loading failed in a way the user can act on (missing band, unreadable assets, ...)."""
