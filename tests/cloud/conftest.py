"""Real object stores on loopback, started and stopped here: moto's S3 server and gcp-storage-emulator.

The moto server checks every request's signature and IAM policy (moto's auth mode, switched on
after the users are made), so a wrong secret fails as it would on AWS. Each AWS user is a real
key pair of that server:
  writer   s3:* on everything
  reader   GetObject and ListBucket only
  no_hf    s3:* except writing the Arrow shards of hf/ (a run that fails in its workers)
Credentials reach beam_prep only through the environment, as a user's would.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REGION = "us-east-1"
BUCKET = "prep-data"
_ALLOW_ALL = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
POLICIES = {
    "writer": [_ALLOW_ALL],
    "reader": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
    "no_hf": [
        _ALLOW_ALL,
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{BUCKET}/*/_temporary/*/hf/*"},
    ],
}
# Variables of the AWS chain that could point at this machine's own config instead of the test server.
_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass(frozen=True)
class Key:
    id: str
    secret: str


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    keys: dict

    def storage_options(self, user: str = "writer") -> dict:
        """What a training job passes to datasets/s3fs instead of the environment."""
        key = self.keys[user]
        options = {"key": key.id, "secret": key.secret, "endpoint_url": self.endpoint}
        return {**options, "client_kwargs": {"region_name": REGION}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto_auth(endpoint: str, unauthenticated_requests: str) -> None:
    """moto checks signatures and policies after this many more requests ("inf": never)."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=unauthenticated_requests.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=10).read()


@pytest.fixture(scope="session")
def s3_server():
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        boot = {"endpoint_url": endpoint, "region_name": REGION, "aws_access_key_id": "boot"}
        iam = boto3.client("iam", aws_secret_access_key="boot", **boot)
        keys = {}
        for user, statements in POLICIES.items():
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            iam.put_user_policy(
                UserName=user,
                PolicyName=f"{user}-s3",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
            )
            keys[user] = Key(key["AccessKeyId"], key["SecretAccessKey"])
        _moto_auth(endpoint, "0")
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name=REGION,
            aws_access_key_id=keys["writer"].id, aws_secret_access_key=keys["writer"].secret,
        )  # fmt: skip
        s3.create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint, keys)
    finally:
        _moto_auth(endpoint, "inf")  # moto's auth switch is process-wide: leave it as found
        server.stop()


@contextmanager
def aws_env(server: S3Server, user: str):
    """The standard AWS variables of one user, and nothing from this machine's ~/.aws."""
    import s3fs

    key = server.keys[user]
    with pytest.MonkeyPatch.context() as mp:
        for name in _AWS_VARS:
            mp.delenv(name, raising=False)
        mp.setenv("AWS_ENDPOINT_URL", server.endpoint)
        mp.setenv("AWS_ACCESS_KEY_ID", key.id)
        mp.setenv("AWS_SECRET_ACCESS_KEY", key.secret)
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", str(Path("/nonexistent/aws/config")))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(Path("/nonexistent/aws/credentials")))
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        s3fs.S3FileSystem.clear_instance_cache()  # instances keep the credentials they were made with
        try:
            yield key
        finally:
            s3fs.S3FileSystem.clear_instance_cache()


@dataclass(frozen=True)
class GCSServer:
    endpoint: str


@pytest.fixture(scope="session")
def gcs_server():
    from gcp_storage_emulator.server import create_server

    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    try:
        yield GCSServer(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@contextmanager
def gcs_env(server: GCSServer):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield
