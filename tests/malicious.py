"""A pickle payload for tests: unpickling it would create a file."""


class CreatesFile:
    """Unpickling this opens (creates) ``path``: it must never happen."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, 'w'))
