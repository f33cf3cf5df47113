"""What can go wrong on the way to AWS, as messages a user can act on."""

from __future__ import annotations

from typing import Any

__all__ = ["AwsError", "InputError", "client_error"]


class AwsError(RuntimeError):
    """A step failed; the message says which and why (nothing is raised past the CLI)."""

    exit_code = 1


class InputError(AwsError):
    """The request is wrong; raised before anything is created."""

    exit_code = 2


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def client_error(exc: BaseException, doing: str) -> AwsError:
    """An ``AwsError`` for a failed AWS call: what was being done, the code and AWS's text."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = str(error.get("Message") or exc)
        if message.lstrip().startswith("<"):  # an HTML error page, not an AWS error
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            message = f"HTTP {status} with no AWS error in the answer"
        return AwsError(f"{doing} failed: {code}: {message}")
    return AwsError(f"{doing} failed: {exc}")
