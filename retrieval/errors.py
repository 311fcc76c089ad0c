"""The errors a user may see. Each edge (CLI, chat, API) turns them into a short message."""


class GroundloopError(Exception):
    """Something the user can act on; its message is shown as it is."""


class EmptyQuery(GroundloopError):
    def __init__(self) -> None:
        super().__init__("The question is empty: type a few words to search for.")


class IndexUnavailable(GroundloopError):
    """The vector store cannot be reached or opened."""
