"""A local OAuth 2.0 token endpoint and the credentials files that point at it, so that
google-auth's real refresh runs in the tests: a service account key (an RSA key made here,
whose JWT assertions the endpoint verifies) and authorized-user (gcloud) credentials."""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import google.auth.jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Canaries: none of these may appear in any output.
PRIVATE_KEY_ID = "canary-private-key-id-5e1d"
REFRESH_TOKEN = "canary-refresh-token-8a2f6c"
CLIENT_SECRET = "canary-client-secret-3b7e"
SERVICE_ACCOUNT = "vertex-caller@canary-project.iam.gserviceaccount.com"
# A service account's assertion names Google's endpoint, wherever it is sent (token_uri).
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"


class TokenServer:
    """``POST /token``: the JWT-bearer grant (service accounts) and the refresh-token grant
    (users). ``issued`` holds every access token given; ``expires_in`` sets their lifetime
    (google-auth refreshes 3 min 45 s early, so 200 s is already "expired"); ``delay`` slows
    each answer; ``refuse`` makes it answer ``invalid_grant``."""

    def __init__(self) -> None:
        self.issued: set[str] = set()
        self.grants: list[str] = []
        self.expires_in = 3600
        self.delay = 0.0
        self.refuse = False
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public = (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                status, body = server._answer(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        self.uri = f"http://127.0.0.1:{self._server.server_port}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def accepts(self, token: str) -> bool:
        return token in self.issued

    def _answer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        time.sleep(self.delay)
        grant = form.get("grant_type", "")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:  # signed with the key in the file, for Google's endpoint, by this account
                claims = google.auth.jwt.decode(
                    form["assertion"], certs=self._public, audience=GOOGLE_TOKEN_ENDPOINT
                )
            except ValueError:
                claims = {}
            if claims.get("iss") != SERVICE_ACCOUNT:
                return 400, {
                    "error": "invalid_grant",
                    "error_description": "Invalid JWT Signature.",
                }
        elif grant == "refresh_token":
            if (form.get("refresh_token"), form.get("client_secret")) != (
                REFRESH_TOKEN,
                CLIENT_SECRET,
            ):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
        else:
            return 400, {"error": "unsupported_grant_type"}
        if self.refuse:
            return 400, {"error": "invalid_grant", "error_description": "Account has been deleted"}
        with self._lock:
            token = f"issued-access-token-{next(self._numbers)}"
            self.issued.add(token)
            self.grants.append(grant)
        return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def service_account_file(self, folder: Path) -> Path:
        path = folder / "service-account.json"
        path.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "canary-project",
                    "private_key_id": PRIVATE_KEY_ID,
                    "private_key": self.pem,
                    "client_email": SERVICE_ACCOUNT,
                    "client_id": "1234567890",
                    "token_uri": self.uri,
                }
            )
        )
        return path

    def authorized_user_file(self, folder: Path) -> Path:
        path = folder / "application_default_credentials.json"
        path.write_text(
            json.dumps(
                {
                    "type": "authorized_user",
                    "client_id": "canary-client.apps.googleusercontent.com",
                    "client_secret": CLIENT_SECRET,
                    "refresh_token": REFRESH_TOKEN,
                    "token_uri": self.uri,
                }
            )
        )
        return path
