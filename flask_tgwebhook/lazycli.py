"""A click group that imports its commands only when it is used.

``flask tg`` needs requests and cryptography; a gunicorn worker that sets the extension up
never runs it, so it should not pay their import time and memory. Flask asks a group for
little (its name, its short help, a context to run in); each of those imports the real
group and hands over to it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click


class LazyGroup(click.Group):
    """Stands in for the group at ``target`` (``"module:attribute"``) until it is used.

    :param name: the command's name, as the real group has it.
    :param target: where the real group is.
    """

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.target = target
        self._real: click.Group | None = None

    @property
    def real(self) -> click.Group:
        """The real group, imported on first use."""
        if self._real is None:
            module, _, attribute = self.target.partition(":")
            group = getattr(importlib.import_module(module), attribute)
            if not isinstance(group, click.Group):
                raise TypeError(f"{self.target} is not a click group.")
            self._real = group
        return self._real

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The context names the real group, so click runs (and completes) the real one.
        return self.real.make_context(info_name, args, parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        return self.real.get_short_help_str(limit)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self.real.list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self.real.get_command(ctx, cmd_name)
