"""The dashboard's safety rules, as one ASGI middleware.

- **Token.** When the server has a token (always when it listens on a non-loopback
  address), every request must carry it: `?token=T` in the URL (the page's first load; the
  server then sets an HttpOnly, SameSite=Strict cookie so the page's own requests carry
  it), the cookie, or `Authorization: Bearer T`.
- **Host header.** On loopback, requests must name a loopback host (`127.0.0.1`,
  `localhost`, `[::1]`): a web page elsewhere cannot reach the server by DNS rebinding.
- **Headers.** A Content-Security-Policy that allows only the server's own scripts and
  connections (no inline scripts, no CDN), and no sniffing or referrers. Framing is allowed
  from loopback origins only (`frame-ancestors`: 127.0.0.1 and localhost, any port, http or
  https), so a notebook on this machine can show the dashboard in an iframe and a page from
  anywhere else cannot (no X-Frame-Options: it has no allow-list, and browsers take
  `frame-ancestors` over it). [::1] is left out because CSP cannot name it: the source
  grammar has no IPv6 literals, and Chromium ignores `http://[::1]:*` with a console error
  on every load; a notebook opened as http://[::1]:8888 can use http://localhost:8888.
- **Writes.** The only POST is predict, and it must be `application/json`, which a
  cross-site form cannot send.
"""

from __future__ import annotations

import hmac
import ipaddress
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

TOKEN_COOKIE = "learnsys_token"  # + "_<port>": cookies are per host, not per port
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}

# Who may show the dashboard in a frame: Jupyter and other pages served from this machine
# ([::1] cannot be written in CSP; see the module docstring).
FRAME_ANCESTORS = ("'self'", *(f"{scheme}://{host}:*" for scheme in ("http", "https")
                               for host in ("127.0.0.1", "localhost")))
# style-src 'self': no inline style markup. ECharts sets element styles from script (CSSOM),
# which style-src does not restrict; its tooltips' own HTML has style="" attributes, so the
# page builds every tooltip as DOM nodes with classes (static/format.js; docs/dashboard.md).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       f"form-action 'self'; frame-ancestors {' '.join(FRAME_ANCESTORS)}")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):  # [::1]:8765
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


class SecurityMiddleware:
    """Checks the token and the Host header, adds the security headers to every response."""

    def __init__(self, app, *, token: str | None, loopback_only: bool):
        self.app = app
        self.token = token
        self.loopback_only = loopback_only

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self.loopback_only and _host_name(headers.get("host", "127.0.0.1")).lower() not in LOOPBACK_NAMES:
            return await _plain(send, 421, "This dashboard answers only to localhost / 127.0.0.1.")
        set_cookie = False
        cookie_name = f"{TOKEN_COOKIE}_{(scope.get('server') or ('', 0))[1]}"
        if self.token is not None:
            from_query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            cookie = SimpleCookie(headers.get("cookie", ""))
            from_cookie = cookie[cookie_name].value if cookie_name in cookie else ""
            auth = headers.get("authorization", "")
            from_header = auth[7:] if auth.lower().startswith("bearer ") else ""
            if not any(hmac.compare_digest(c.encode(), self.token.encode())
                       for c in (from_query, from_cookie, from_header) if c):
                return await _plain(send, 401, "This dashboard needs its token: open the URL that "
                                               "`learnsys ui` or `learnsys train` printed (it ends in ?token=...).")
            set_cookie = bool(from_query) and from_cookie != self.token
        if scope["method"] == "POST" and not headers.get("content-type", "").startswith("application/json"):
            return await _plain(send, 415, "POST bodies must be JSON (Content-Type: application/json).")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                extra = list(SECURITY_HEADERS)
                if set_cookie:
                    extra.append((b"set-cookie", f"{cookie_name}={self.token}; HttpOnly; SameSite=Strict; "
                                                 f"Path=/".encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _plain(send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
