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
