"""A loopback S3 server for tests: moto's server, plus the checks S3 makes on presigned (query-string) URLs that
moto leaves out.

moto (5.2) serves the S3 protocol but takes a presigned URL at face value: it neither checks the signature nor
refuses one past ``X-Amz-Date`` + ``X-Amz-Expires``. Amazon S3 (and MinIO, Ceph…) refuse both with
``403 AccessDenied`` ("Request has expired") / ``SignatureDoesNotMatch``, as the SigV4 query-string
authentication documents. ``PresignedUrlChecks`` adds exactly that in front of moto: the signature is
recomputed with botocore's own SigV4 signer from the URL's parameters and the server's secret, and the expiry
read from the signed parameters. Requests without ``X-Amz-Signature`` (the SDK's header-signed calls) pass
unchanged.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

ACCESS_KEY, SECRET_KEY, REGION = "test-access", "test-secret", "us-east-1"


def _error(start_response: Callable[..., Any], code: str, message: str) -> Iterable[bytes]:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    start_response("403 Forbidden", [("Content-Type", "application/xml")])
    return [body.encode()]


class PresignedUrlChecks:
    def __init__(self, app: Callable[..., Iterable[bytes]], *, secret_key: str = SECRET_KEY) -> None:
        self.app = app
        self.secret_key = secret_key

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        params = dict(query)
        if "X-Amz-Signature" not in params:
            return self.app(environ, start_response)
        try:
            signed_at = datetime.strptime(params["X-Amz-Date"], SIGV4_TIMESTAMP).replace(tzinfo=UTC)
            expires = int(params["X-Amz-Expires"])
            access_key = params["X-Amz-Credential"].split("/")[0]
        except (KeyError, ValueError):
            return _error(start_response, "AuthorizationQueryParametersError", "Malformed presigned URL")
        if not hmac.compare_digest(self._signature(environ, query, access_key), params["X-Amz-Signature"]):
            return _error(start_response, "SignatureDoesNotMatch", "The request signature we calculated does not match")
        if datetime.now(UTC) > signed_at + timedelta(seconds=expires):
            return _error(start_response, "AccessDenied", "Request has expired")
        return self.app(environ, start_response)

    def _signature(self, environ: dict[str, Any], query: list[tuple[str, str]], access_key: str) -> str:
        unsigned = [(k, v) for k, v in query if k != "X-Amz-Signature"]
        url = f"http://{environ['HTTP_HOST']}{environ.get('RAW_URI') or environ['PATH_INFO']}".split("?")[0]
        request = AWSRequest(method=environ["REQUEST_METHOD"], url=f"{url}?{urlencode(unsigned)}")
        request.headers["host"] = environ["HTTP_HOST"]
        request.context["timestamp"] = dict(unsigned)["X-Amz-Date"]
        auth = S3SigV4QueryAuth(Credentials(access_key, self.secret_key), "s3", REGION)
        canonical = auth.canonical_request(request)
        return auth.signature(auth.string_to_sign(request, canonical), request)


class S3Server(ThreadedMotoServer):
    """moto's threaded server on a loopback port, presigned URLs checked as S3 checks them."""

    def _server_entry(self) -> None:
        app = PresignedUrlChecks(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
