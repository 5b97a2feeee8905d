"""A local WeChat web authorisation (网页授权) for tests: a thread serving http.server on 127.0.0.1 that
answers WeChat's two documented endpoints.

* ``GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state`` (the browser's
  visit; the ``#wechat_redirect`` fragment never reaches a server): an unknown app id or a scope other than
  ``snsapi_base``/``snsapi_userinfo`` gets WeChat's error page; otherwise the silent ``snsapi_base`` consent
  redirects to ``redirect_uri?code=CODE&state=STATE``. ``answer = "deny"`` plays the member who refuses or
  closes the page: back to ``redirect_uri?state=STATE`` without a code.
* ``GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code``: the JSON WeChat answers
  (``access_token``, ``expires_in``, ``refresh_token``, ``openid``, ``scope``, ``is_snapshotuser``), or an
  error as ``{"errcode", "errmsg"}`` with HTTP 200: 40125 wrong secret, 40029 unknown code, 40163 a code used
  twice. ``faults["token"] = "5xx"`` answers 502; ``snapshot = True`` marks the member as a snapshot-page
  virtual account (``is_snapshotuser`` 1).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

SECRET = "a3f1c2d4e5b60718293a4b5c6d7e8f90"


@dataclass
class FakeWeChatSignin:
    app_id: str
    secret: str = SECRET
    #: The WeChat user behind the browser: their openid for ``app_id``.
    openid: str = field(default_factory=lambda: "o" + secrets.token_urlsafe(20))
    answer: str = "allow"
    snapshot: bool = False
    faults: dict[str, str] = field(default_factory=dict)
    codes: dict[str, bool] = field(default_factory=dict)  # code -> used
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def do_GET(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, str]:
        return {
            "WECHAT_SIGNIN_SECRET": self.secret,
            "WECHAT_SIGNIN_AUTHORIZE_URL": f"{self.base_url}/connect/oauth2/authorize",
            "WECHAT_SIGNIN_TOKEN_URL": f"{self.base_url}/sns/oauth2/access_token",
            "WECHAT_SIGNIN_TIMEOUT": "0.5",
        }

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        with self.lock:
            self.requests.append((parts.path, query))
        if parts.path == "/connect/oauth2/authorize":
            self._authorize(handler, query)
        elif parts.path == "/sns/oauth2/access_token":
            if self.faults.get("token") == "5xx":
                self._send(handler, 502, "text/html", b"<html>502 Bad Gateway</html>")
            else:
                self._send(handler, 200, "application/json", json.dumps(self._token(query)).encode())
        else:
            self._send(handler, 404, "text/plain", b"not found")

    def _authorize(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        scope_ok = query.get("scope") in ("snsapi_base", "snsapi_userinfo")
        if query.get("appid") != self.app_id or not scope_ok or query.get("response_type") != "code":
            return self._send(handler, 200, "text/html; charset=utf-8", "<p>参数错误，请检查</p>".encode())
        back = {"state": query.get("state", "")}
        if self.answer == "allow":
            code = secrets.token_hex(16)
            with self.lock:
                self.codes[code] = False
            back = {"code": code, **back}
        handler.send_response(302)
        handler.send_header("Location", f"{query['redirect_uri']}?{urlencode(back)}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return None

    def _token(self, query: dict[str, str]) -> dict[str, Any]:
        if query.get("appid") != self.app_id or query.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        if query.get("grant_type") != "authorization_code":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        with self.lock:
            used = self.codes.get(query.get("code", ""))
            if used is None:
                return {"errcode": 40029, "errmsg": "invalid code"}
            if used:
                return {"errcode": 40163, "errmsg": "code been used"}
            self.codes[query["code"]] = True
        return {
            "access_token": secrets.token_urlsafe(32),
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(32),
            "openid": self.openid,
            "scope": "snsapi_base",
            "is_snapshotuser": 1 if self.snapshot else 0,
        }

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def token_requests(self) -> list[dict[str, str]]:
        return [query for path, query in self.requests if path == "/sns/oauth2/access_token"]
