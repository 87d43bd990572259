"""The one exception a user can cause: the CLI prints it as one line and exits with 2."""


class SqlnetError(Exception):
    """Bad input: a missing file, an unknown column, a model that does not fit the data."""
