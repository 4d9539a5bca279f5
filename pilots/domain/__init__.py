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


class DomainErrors(DomainError):
    """Several rules said no at once, in the order of the form's fields (`errors`).

    A long form (a pilot's plan) reports every fault of a save together, so the team
    mends them in one go instead of meeting them one save at a time. It reads as its
    first error where one message is shown (the CLI); `each_error` gives them all.
    """

    def __init__(self, errors: list[DomainError]):
        first = errors[0]
        super().__init__(first.message, first.field, **first.params)
        self.errors = tuple(errors)


def each_error(error: DomainError) -> tuple[DomainError, ...]:
    """The errors a DomainError stands for: its own, or each of a DomainErrors."""
    return getattr(error, "errors", (error,))


class Checks:
    """Run a form's checks, keeping each one's DomainError, and raise them together.

    `check(function, *args)` returns the function's value, or None when it said no;
    `done()` raises what was found: the one error, or a DomainErrors of several.
    """

    def __init__(self):
        self.errors: list[DomainError] = []

    def __call__(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except DomainError as error:
            self.errors.extend(each_error(error))
            return None

    def done(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise DomainErrors(self.errors)
