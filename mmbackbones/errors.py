"""Errors that stand for a mistake in the input, not a bug.

The command-line tools print them as one ``error:`` line (exit 2) instead of a traceback. The
library raises them too (``mmbackbones.toy``, ``mmbackbones.channels``), so they live here, where
both the library and ``mmbackbones.cli`` import them without importing each other.
"""

__all__ = ['UsageError']


class UsageError(Exception):
    """Bad input from the command line or the config; the tools print it and exit 2."""
