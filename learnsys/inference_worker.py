"""The prediction worker: a child process of the dashboard that runs trained models, so that
the dashboard process itself never imports torch.

    python -m learnsys.inference_worker        # reads requests on stdin, one JSON per line

Request:  {"folder": "runs/<id>", "rows": [[x1, ...], ...]}
Answer:   {"predictions": [[y, ...], ...]}   or   {"error": "one line", "kind": "input" | "failure"}

"input" errors are the caller's to fix (no trained model yet, the wrong number of features,
a shape the model rejects); "failure" means the worker could not do its job. Answers go to
the original stdout; anything the model or torch prints goes to stderr (the dashboard's
log), so it can never corrupt the protocol. The worker exits when stdin closes, which
happens when the dashboard exits or is killed.
"""

from __future__ import annotations

import json
import os
import sys


def answer(request: dict) -> dict:
    from .errors import LearnsysError
    from .inference import load_predictor

    try:
        return {"predictions": load_predictor(request["folder"]).predict(request["rows"])}
    except LearnsysError as e:
        return {"error": e.args[0], "kind": "input"}
    except (RuntimeError, ValueError, TypeError, IndexError) as e:  # the model rejected these inputs
        return {"error": f"Prediction failed: {type(e).__name__}: {e}".splitlines()[0], "kind": "input"}
    except Exception as e:  # noqa: BLE001 - one line back to the dashboard instead of a traceback
        return {"error": f"The prediction worker failed: {type(e).__name__}: {e}".splitlines()[0], "kind": "failure"}


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # stray prints go to the log, never into the answers
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = answer(request) if isinstance(request, dict) else {"error": "not a JSON object", "kind": "failure"}
        except ValueError as e:
            reply = {"error": f"The request is not JSON: {e}", "kind": "failure"}
        out.write(json.dumps(reply) + "\n")  # NaN stays NaN: the dashboard's json reads it and sends null
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
