"""Errors that mean "bad input", and the exit codes every command shares.

0 clean: the run happened and no property was violated;
1 a property was violated;
2 bad input (UsageError): the message names the file or option, the key and what is allowed;
3 nothing to judge: the run did not happen (it never started, the trace has no run_end, or a
  search ran 0 examples), so "no property violated" would say nothing;
130 interrupted (Ctrl-C).
"""

EXIT_CLEAN = 0
EXIT_VIOLATED = 1
EXIT_USAGE = 2
EXIT_DID_NOT_RUN = 3
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad argument or file; the message names it and what is allowed."""
