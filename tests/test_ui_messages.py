"""Every message form the Python side writes into the store (run status reasons, event
messages) has a Chinese translation in the page's table (learnsys/ui/static/messages.js).

The forms are read from the sources, not listed by hand: the string (or f-string, its
values as `{}`) given to `trainer.stop(...)`, `_event(kind, ...)`, `add_event(..., msg)`,
`put_event(..., msg)` or a `message=` argument; strings assigned to a `reason` or `why`;
strings returned by the function a `why`/`reason` is computed with (the guard's `check`);
and, inside each of these, the strings assigned to a name it interpolates (the `where` of
"Resumed from {where}"). A new message form without a translation fails this test.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TABLE = REPO / "learnsys/ui/static/messages.js"
MESSAGE_ARG = {"stop": 0, "_event": 1, "add_event": 3, "put_event": 3}  # call name -> index of the message
MESSAGE_NAMES = {"reason", "why"}


def _call_name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _template(node: ast.AST) -> str | None:
    """'reached step {}' for f"reached step {self.total_steps}"; None for what is not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


class Forms(ast.NodeVisitor):
    def __init__(self, functions: dict[str, list[ast.FunctionDef]]):
        self.functions = functions
        self.forms: dict[str, str] = {}   # form -> where
        self.where = ""
        self.scope: ast.AST | None = None

    def add(self, node: ast.AST, scope: ast.AST | None, depth: int = 0) -> None:
        if depth > 3:
            return
        if isinstance(node, ast.IfExp):
            self.add(node.body, scope, depth)
            self.add(node.orelse, scope, depth)
            return
        if isinstance(node, ast.Subscript):  # f"...".splitlines()[0]
            self.add(node.value, scope, depth)
            return
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and _template(node.func.value) is not None:  # f"...".strip()
                self.add(node.func.value, scope, depth)
                return
            for where, fn in self.functions.get(_call_name(node), []):  # why = self.guard.check(loss)
                outer, self.where = self.where, where
                for ret in ast.walk(fn):
                    if isinstance(ret, ast.Return) and ret.value is not None:
                        self.add(ret.value, fn, depth + 1)
                self.where = outer
            return
        form = _template(node)
        if form is None:
            return
        self.forms.setdefault(form, f"{self.where}:{node.lineno}")
        if isinstance(node, ast.JoinedStr) and scope is not None:  # the strings its names were given
            names = {v.value.id for v in node.values if isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name)}
            for a in ast.walk(scope):
                if isinstance(a, ast.Assign):
                    for target, value in _pairs(a):
                        if isinstance(target, ast.Name) and target.id in names:
                            self.add(value, scope, depth + 1)

    def visit_FunctionDef(self, node):
        outer, self.scope = self.scope, node
        self.generic_visit(node)
        self.scope = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call):
        i = MESSAGE_ARG.get(_call_name(node))
        if i is not None and len(node.args) > i:
            self.add(node.args[i], self.scope)
        for kw in node.keywords:
            if kw.arg == "message":
                self.add(kw.value, self.scope)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign):
        for target, value in _pairs(node):
            if isinstance(target, ast.Name) and target.id in MESSAGE_NAMES:
                self.add(value, self.scope)
        self.generic_visit(node)


def _pairs(node: ast.Assign):
    for target in node.targets:
        if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and len(target.elts) == len(node.value.elts):
            yield from zip(target.elts, node.value.elts)
        else:
            yield target, node.value


def python_forms() -> dict[str, str]:
    sources = [p for p in sorted((REPO / "learnsys").rglob("*.py")) if "ui" not in p.relative_to(REPO / "learnsys").parts]
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in sources}
    functions: dict[str, list] = {}
    for path, tree in trees.items():
        for n in ast.walk(tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.setdefault(n.name, []).append((str(path.relative_to(REPO)), n))
    found: dict[str, str] = {}
    for path, tree in trees.items():
        v = Forms(functions)
        v.where = str(path.relative_to(REPO))
        v.visit(tree)
        for form, where in v.forms.items():
            found.setdefault(form, where)
    return found


def normal(form: str) -> str:
    """Placeholders as {}, no final period, lower case: how the page matches a message."""
    return re.sub(r"\{\w*\}", "{}", form).rstrip(".").lower()


def page_forms() -> dict[str, str]:
    text = TABLE.read_text(encoding="utf-8")
    pairs = re.findall(r"\['((?:[^'\\]|\\.)*)',\s*'((?:[^'\\]|\\.)*)'", text)
    return {normal(en.replace("\\'", "'")): zh for en, zh in pairs}


def test_the_sources_yield_the_known_message_forms():
    # The extraction itself: forms from the loop, the guard, the CLI/api and the search.
    forms = {normal(f) for f in python_forms()}
    for expected in ("reached step {}", "interrupted by {}", "loss is {}", "divergence at step {}: {}",
                     "resumed from {}; dropped {} metric row(s) logged after it", "the start (no checkpoint yet)",
                     "run {}: {}", "checkpoint at step {}", "best {}, loss {}", "{}: {}{}"):
        assert expected in forms, (expected, sorted(forms))


def test_every_message_form_has_a_chinese_translation():
    table = page_forms()
    missing = {f: where for f, where in python_forms().items()
               if normal(f) not in table and re.search("[a-z]", f, re.I)}  # "{}: {}" and ", " are kept as written
    assert not missing, ("message forms written by the Python side with no entry in messages.js FORMS "
                         f"(add ['english {{value}}', '中文 {{value}}']): {missing}")
    for en, zh in table.items():
        assert zh and re.search(r"[\u4e00-\u9fff]", zh) or en == "{}: {}", (en, zh)
