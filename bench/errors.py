"""The one exception type for problems the user can fix: one line, exit status 1."""

import click


class BenchError(click.ClickException):
    """A user-fixable error. The CLI prints `error: <message>` and exits 1, without a traceback."""

    def format_message(self) -> str:
        return " ".join(str(self.message).split())
