"""The one root error and its specific kinds; `app.api.common` maps them to HTTP."""

from __future__ import annotations


class AppError(Exception):
    """Something went wrong in Analytics Automated."""

    status = 500
    code = "error"

    def __init__(self, message: str | None = None, *, errors: dict | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        self.errors = errors or {}
        super().__init__(self.message)


class InvalidInput(AppError):
    """The request is not valid."""

    status = 400
    code = "invalid_input"


class ConfigError(InvalidInput):
    """The configuration is not valid."""

    code = "invalid_config"
    labels: dict[str, str] = {}  # document path -> the same path with item names, for people


class ValidationFailed(InvalidInput):
    """Input data could not be validated."""

    code = "validation_failed"


class ParameterError(InvalidInput):
    """A parameter value is not valid."""

    code = "invalid_parameter"


class NotFound(AppError):
    """Not found."""

    status = 404
    code = "not_found"


class Forbidden(AppError):
    """Not allowed."""

    status = 403
    code = "forbidden"


class Unauthorized(AppError):
    """A valid bearer token is required."""

    status = 401
    code = "unauthorized"


class Conflict(AppError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class TooManyRequests(AppError):
    """Too many unfinished submissions; try again later."""

    status = 429
    code = "too_many_requests"
    retry_after = 30


class Unavailable(AppError):
    """The service cannot answer this now; try again later."""

    status = 503
    code = "unavailable"
    retry_after = 30


class ValidatorBroken(Unavailable):
    """An input validator failed to run; try again later."""

    code = "validator_unavailable"


class TooManyWaiters(Unavailable):
    """Too many clients are waiting for submissions here; poll, or wait again shortly."""

    code = "too_many_waiters"
    retry_after = 5
