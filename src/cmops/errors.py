"""One exception base; the CLI's single handler maps these to exit codes (SPEC §2)."""

from __future__ import annotations

import click

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_BUG = 3


class CmopsError(click.ClickException):
    """A problem the user can fix; shown without a traceback."""

    exit_code = EXIT_USAGE

    def format_message(self) -> str:
        return self.message


class ConfigError(CmopsError):
    """The workspace cannot be used at all (no cmops.yaml, unreadable settings, ...)."""


class UsageError(CmopsError):
    """A command was asked for something it cannot do (unknown post, bad time, ...)."""
