"""What comes into the dashboard, checked where it enters: query integers and numbers,
SSE replay positions, and predict's JSON body. Anything malformed is a `BadRequest` (a 4xx
with one line), never an exception deeper down.

Limits: integers are bounded to SQLite's 64-bit range (a 20-digit `after` used to reach
SQLite and fail there); a predict body is at most MAX_BODY_BYTES; what json cannot parse,
including 100,000 nested arrays (RecursionError) and integers beyond Python's digit limit
(ValueError), is a 400; a number in the rows must fit a float (a 400-digit integer used to
overflow in the check).
"""

from __future__ import annotations

import json
import math

from starlette.exceptions import HTTPException
from starlette.requests import Request

INT64_MAX = 2**63 - 1
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_PREDICT_ROWS = 10_000
MAX_PREDICT_VALUES = 1_000_000
SHOWN = 40                     # characters of a bad value repeated in an error line


class BadRequest(HTTPException):
    def __init__(self, message: str, status: int = 400):
        super().__init__(status_code=status, detail=message)


def shown(text: str) -> str:
    """A bad value as an error line repeats it: quoted, and cut when long."""
    return repr(text) if len(text) <= SHOWN else repr(text[:SHOWN]) + f"... ({len(text)} characters)"


def parse_int(text: str, name: str, lo: int | None, hi: int | None) -> int:
    lo_ = -INT64_MAX - 1 if lo is None else lo
    hi_ = INT64_MAX if hi is None else hi
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit() or not stripped.isascii():
        raise BadRequest(f"{name} must be an integer, got {shown(text)}.")
    digits = len(stripped.lstrip("+-0"))
    value = int(stripped) if digits <= 19 else (-1 if stripped.startswith("-") else 1) * (INT64_MAX + 1)
    if not lo_ <= value <= hi_:
        raise BadRequest(f"{name} must be between {lo_} and {hi_}, got {shown(stripped)}.")
    return value


def int_param(request: Request, name: str, default: int | None = None, *, lo: int | None = None,
              hi: int | None = None) -> int | None:
    """An integer query parameter within [lo, hi] (default: the 64-bit range), or `default`."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    return parse_int(text, name, lo, hi)


def clamped_int_param(request: Request, name: str) -> int | None:
    """A step bound: any integer; one beyond the 64-bit range is clamped to it (a range past
    the end of a series is empty, not an error)."""
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit() or not stripped.isascii():
        raise BadRequest(f"{name} must be an integer, got {shown(text)}.")
    if len(stripped.lstrip("+-0")) > 19:
        return -INT64_MAX - 1 if stripped.startswith("-") else INT64_MAX
    return max(-INT64_MAX - 1, min(INT64_MAX, int(stripped)))


def beta_param(request: Request) -> float | None:
    text = request.query_params.get("beta")
    if not text:
        return None
    try:
        beta = float(text)
    except ValueError:
        raise BadRequest(f"beta must be a number in (0, 1], got {shown(text)}.") from None
    if not 0.0 < beta <= 1.0:
        raise BadRequest(f"beta must be in (0, 1], got {shown(text)}.")
    return beta


def replay_position(request: Request) -> int:
    """Where a stream starts: Last-Event-ID (a reconnecting browser) or ?last_id=, >= 0."""
    header = request.headers.get("last-event-id")
    if header:
        return parse_int(header, "Last-Event-ID", 0, INT64_MAX)
    return parse_int(request.query_params.get("last_id") or "0", "last_id", 0, INT64_MAX)


async def json_body(request: Request, example: str):
    """The request's JSON body, bounded in size; a BadRequest (400/413) otherwise."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(f"The body is {int(declared)} bytes; at most {MAX_BODY_BYTES} are accepted.", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(f"The body is over {MAX_BODY_BYTES} bytes; send fewer rows per request.", 413)
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, too many digits, too deep
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise BadRequest(f"The body must be JSON like {example} ({reason}).") from None


def _is_number(x) -> bool:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:  # an integer beyond the float range
        return False


def predict_rows(body) -> list[list[float]]:
    """The rows of a predict body {"rows": [[x1, ...], ...]} as floats, or a BadRequest."""
    rows = body.get("rows") if isinstance(body, dict) else None
    if (not isinstance(rows, list) or not rows or len(rows) > MAX_PREDICT_ROWS
            or not all(isinstance(r, list) and r for r in rows)
            or sum(len(r) for r in rows) > MAX_PREDICT_VALUES
            or not all(_is_number(x) for r in rows for x in r)):
        raise BadRequest(f'"rows" must be a non-empty list (at most {MAX_PREDICT_ROWS} rows, '
                         f'{MAX_PREDICT_VALUES} values) of non-empty lists of finite numbers, '
                         'e.g. {"rows": [[4.0], [5.0]]}.')
    return [[float(x) for x in r] for r in rows]
