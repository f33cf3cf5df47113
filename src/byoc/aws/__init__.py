"""AWS delivery: push to ECR, package and upload models, deploy, transform, Marketplace.

Every step takes an ``Aws`` (clients for one region, honouring ``endpoint_url``) and a
``Reporter`` (progress); boto3 is imported only when a step runs.
"""

from __future__ import annotations

from .clients import Aws
from .deploy import DeploySpec, Scaling, deploy
from .ecr import PushResult, push_image
from .errors import AwsError, InputError
from .invoke import Invocation, invoke_endpoint
from .marketplace import PackageSpec, create_model_package
from .package import Archive, package_model
from .progress import Reporter
from .teardown import delete_endpoint
from .transform import TransformSpec, run_transform

__all__ = [
    "Archive",
    "Aws",
    "AwsError",
    "DeploySpec",
    "InputError",
    "Invocation",
    "PackageSpec",
    "PushResult",
    "Reporter",
    "Scaling",
    "TransformSpec",
    "create_model_package",
    "delete_endpoint",
    "deploy",
    "invoke_endpoint",
    "package_model",
    "push_image",
    "run_transform",
]
