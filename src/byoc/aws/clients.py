"""AWS clients for one region, built once and injected into every step.

boto3 is imported here only, lazily, so the serving image never needs it. Clients honour
``endpoint_url`` (and boto3's own ``AWS_ENDPOINT_URL``), so the same code runs against
moto's server in tests and AWS in production.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import AwsError, InputError, client_error

__all__ = ["Aws"]


@dataclass
class Aws:
    """A boto3 session bound to a region (and maybe an endpoint), with cached clients."""

    session: Any
    region: str
    endpoint_url: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _account: str | None = field(default=None, repr=False)

    @classmethod
    def connect(
        cls,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> Aws:
        """A session from the usual places (environment, profile, instance role).

        Raises ``InputError`` when there is no region or no credentials, before any call.
        """
        try:
            import boto3
            import botocore.exceptions
        except ImportError:  # pragma: no cover - the aws extra is missing
            raise InputError("boto3 is needed for this: pip install 'byoc[aws]'") from None
        try:
            session = boto3.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise InputError(str(exc)) from None
        if not session.region_name:
            raise InputError(
                "no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION)"
            )
        if session.get_credentials() is None:
            raise InputError(
                "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
                "or run where an IAM role is attached (aws configure sets them up)"
            )
        return cls(session, session.region_name, endpoint_url)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(retries={"max_attempts": 5, "mode": "standard"})
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=config
            )
        return self._clients[service]

    def account(self) -> str:
        """The caller's account id (STS GetCallerIdentity), asked once."""
        if self._account is None:
            try:
                self._account = str(self.client("sts").get_caller_identity()["Account"])
            except Exception as exc:
                raise client_error(
                    exc, "sts get-caller-identity (are the credentials valid?)"
                ) from exc
        return self._account

    def call(self, service: str, operation: str, doing: str, **params: Any) -> Any:
        """``client(service).operation(**params)``; a failure becomes an ``AwsError``."""
        try:
            return getattr(self.client(service), operation)(**params)
        except AwsError:
            raise
        except Exception as exc:
            raise client_error(exc, doing) from exc
