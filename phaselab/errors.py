"""Errors that mean "bad input": the command line turns them into exit code 2."""


class UsageError(Exception):
    """A bad argument or file; the message names it and what is allowed."""
