"""Domain functions: the app's rules over the database, with no Flask request in sight.

Each function takes `db` first, does one unit of work inside `db.atomic()`, and
returns plain dicts. Views and CLI commands call these; nothing here imports web.
"""


class DomainError(ValueError):
    """A rule of the domain said no; `field` names the input at fault, if any.

    `message` is an English template with `%(name)s` placeholders filled from
    `params`, so the web layer can translate it (`gettext(message, **params)`)
    and the CLI and API can print it as it is.
    """

    def __init__(self, message: str, field: str | None = None, **params):
        super().__init__(message % params if params else message)
        self.message = message
        self.field = field
        self.params = params


class NotFound(LookupError):
    """The object does not exist, or the actor may not know that it does."""


def translatable(text: str) -> str:
    """Mark an English message for extraction; the web layer translates it when shown."""
    return text
