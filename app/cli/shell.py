"""What every command shares: the settings ``--data-dir`` chose, the command's composition root,
the two consoles and the progress bar. Light on purpose: ``groundloop --help`` imports only this."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

    from app.runtime import Root
    from app.settings import Settings

AS_HELP = ("Search as this person (a name from `groundloop users list`): only the documents of their groups; "
           "without it, every document.")
RANKER_HELP = ("Rank with: active (the ranker that serves, the default), fusion, or a version from "
               "`groundloop rankers list`.")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class State:
    """Set by the root callback before each command runs."""

    settings: Settings
    _root: Root | None = None

    @property
    def root(self) -> Root:
        """The command's composition root, built once for the command from its settings."""
        from app.runtime import Root

        if self._root is None or self._root.settings is not self.settings:
            self._root = Root(self.settings)
        return self._root


state = State()


def groups_of_person(name: str | None):
    """What ``--as NAME`` may see (``feedback.membership.sees``): None, every document, without a name."""
    if name is None:
        return None
    from feedback import accounts, membership
    from feedback.writing import NotFound

    user = accounts.get_user(state.root.database, identifier=name)
    if user is None:
        raise NotFound(f"No user named '{name}'.")
    return membership.sees(state.root.database, user)


def progress() -> Progress:
    """A bar on standard error, so that standard output stays the command's result."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )
