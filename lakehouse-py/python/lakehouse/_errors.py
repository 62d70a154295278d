"""The exceptions lakehouse raises: one class per kind of core error, all deriving from
:class:`LakehouseError` and from the builtin that means the same, so that ``except
ValueError`` or ``except LookupError`` catch them too. No name shadows a builtin."""


class LakehouseError(Exception):
    """Base class of every error lakehouse raises."""


class InvalidInputError(LakehouseError, ValueError):
    """The request is malformed: a bad name, bad SQL, a malformed file, a wrong-shaped array."""


class NotFoundError(LakehouseError, LookupError):
    """A named thing (dataset, version, index, model) does not exist."""


class ConflictError(LakehouseError):
    """The request contradicts stored state (schema drift, duplicate create)."""


class TooLargeError(LakehouseError, ValueError):
    """An object or batch exceeds a configured size limit."""


class ValidationError(LakehouseError, ValueError):
    """Well-formed input that breaks a rule (e.g. a write statement in read-only SQL)."""


class BusyError(LakehouseError):
    """A resource limit was hit; retrying later may succeed."""


class TimeLimitError(LakehouseError, TimeoutError):
    """The operation ran past its configured time limit (also a builtin ``TimeoutError``)."""


class StorageError(LakehouseError, OSError):
    """The object store failed (also an ``OSError``)."""


class InternalError(LakehouseError):
    """A bug or an unexpected state; please report it."""


# The class of each core error kind, by the kind's name (what the native module raises).
BY_KIND = {
    "invalid_input": InvalidInputError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "too_large": TooLargeError,
    "validation": ValidationError,
    "busy": BusyError,
    "timeout": TimeLimitError,
    "storage": StorageError,
    "internal": InternalError,
}

# Shown as ``lakehouse.NotFoundError`` (where users import them from) in tracebacks.
for _cls in (LakehouseError, *BY_KIND.values()):
    _cls.__module__ = "lakehouse"
