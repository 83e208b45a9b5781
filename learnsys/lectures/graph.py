"""The computational graph of one sample's loss (lecture 4), every node with its value and gradient.

    g = capture(model, x, y, loss_fn)          # x (1, F), y (1, T): one sample
    print("\\n".join(text_tree(g)))             # loss at the top, inputs and parameters at the leaves
    Path("g.dot").write_text(to_dot(g))         # Graphviz
    g["backward_order"]                         # node ids in the order autograd visited them

How the values and gradients are caught, without changing the model:
  - forward values: a `TorchFunctionMode` sees every torch call the model makes and keeps the
    result of each call that joined the graph, keyed by its `grad_fn`; the call's name
    (`mul`, `add`, `pow`, `linear`, `mse_loss`) names the node, not `MulBackward0`;
  - the MSE is drawn as the slides draw it, r = ŷ − y, then r², then the mean (`loss_steps`;
    `--fused-loss` shows the one `mse_loss` node instead);
  - gradients: a pre-hook on every autograd node receives ∂loss/∂(node's output) when the
    backward pass reaches it; the hooks' call order is the backward order the view steps through;
  - modules: forward pre/post hooks tell which module each operation ran in, so a graph with
    more than `COLLAPSE_OVER` nodes can be drawn as module boxes that expand (grouped at the
    deepest module level that leaves at most `COLLAPSE_OVER` boxes and nodes).

The JSON shape (`capture`'s return value, stored as artifact 'graph') is in docs/lectures.md.
"""

from __future__ import annotations

import re
from typing import Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..assembly import assemble, spec_and_objects
from ..errors import LearnsysError
from ..json_floats import finite_json

COLLAPSE_OVER = 200
MAX_VALUES = 16          # tensors with more elements are stored as a summary plus the first values
_DUNDER = re.compile(r"^__r?(\w+?)__$")


class _Recorder(TorchFunctionMode):
    """Keeps (name, value, module) for every torch call whose result joined the autograd graph."""

    def __init__(self, module_stack: list[str]):
        super().__init__()
        self.records: dict[object, tuple[str, torch.Tensor, str]] = {}
        self.module_stack = module_stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else (out,)
        for t in outs:
            if isinstance(t, torch.Tensor) and t.grad_fn is not None and t.grad_fn not in self.records:
                name = getattr(func, "__name__", str(func))
                m = _DUNDER.match(name)
                name = m.group(1) if m else name.rstrip("_")
                self.records[t.grad_fn] = (name, t.detach().clone(), self.module_stack[-1])
        return out


def _op_name(node) -> str:
    """AddmmBackward0 -> addmm: the fallback for nodes no recorded call made."""
    return re.sub(r"Backward\d*$", "", type(node).__name__).lower() or type(node).__name__


def tensor_json(t: torch.Tensor | None) -> dict | None:
    """A tensor as {'shape', 'value'} (nested lists when small) or with a summary when large."""
    if t is None:
        return None
    t = t.detach().double().cpu()
    out = {"shape": list(t.shape)}
    finite = t[torch.isfinite(t)]
    if t.numel() <= MAX_VALUES:
        out["value"] = finite_json(t.tolist())
    else:
        out["preview"] = finite_json(t.flatten()[:MAX_VALUES].tolist())
    if t.numel() > 1 and finite.numel():
        out.update(min=finite.min().item(), max=finite.max().item(), mean=finite.mean().item(),
                   norm=finite.norm().item())
    return out


def mse_in_steps(pred: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """The MSE as the slides draw it: r = ŷ − y, then r², then the mean; the tensors' labels."""
    r = pred - y                                                            # (1, T)
    square = r ** 2                                                         # (1, T): lecture 4's (y_pred - y) ** 2
    loss = square.mean()                                                    # ()
    return loss, {pred: "ŷ", r: "r = ŷ − y", square: "r²", loss: "mean(r²)"}


def capture(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable, *,
            param_names: dict[int, str] | None = None, loss_steps: bool = True) -> dict:
    """Forward and backward one sample (x (1, F), y (1, T)) and return the graph as JSON-ready dict.
    With `loss_steps`, a mean-reduced MSE is drawn in its steps (`mse_in_steps`), else as one node."""
    names = param_names or {id(p): n for n, p in model.named_parameters()}
    x = x.detach().clone().requires_grad_(True)     # leaves, so that ∂loss/∂x and ∂loss/∂y show too
    y = y.detach().clone().requires_grad_(y.is_floating_point())
    stack = [""]
    hooks = []

    def enter(path: str) -> Callable:
        def pre_hook(module, args) -> None:
            stack.append(path)
        return pre_hook

    def leave(module, args, output) -> None:  # returns None: the output stays as it is
        stack.pop()

    for path, module in model.named_modules():
        hooks.append(module.register_forward_pre_hook(enter(path)))
        hooks.append(module.register_forward_hook(leave))
    recorder = _Recorder(stack)
    was_training = model.training
    model.eval()
    labels: dict = {}
    try:
        with torch.enable_grad(), recorder:
            pred = model(x)                                                 # (1, O)
            if loss_steps and isinstance(loss_fn, nn.MSELoss) and loss_fn.reduction == "mean":
                loss, labels = mse_in_steps(pred, y)                        # ()
            else:
                loss = loss_fn(pred, y)                                     # ()
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    if loss.grad_fn is None:
        raise ValueError("The loss does not depend on any parameter: there is no graph to draw.")

    # -- walk the graph from the loss: ids, edges, a pre-hook per node for gradients and order
    ids: dict[object, str] = {}
    nodes: list[dict] = []
    edges: list[dict] = []
    grads: dict[str, torch.Tensor | None] = {}
    order: list[str] = []
    todo = [loss.grad_fn]
    while todo:
        fn = todo.pop()
        if fn in ids:
            continue
        nid = ids[fn] = f"n{len(ids)}"
        node = {"id": nid}
        if hasattr(fn, "variable"):                     # AccumulateGrad: a leaf tensor
            var = fn.variable
            if var is x:
                node.update(kind="input", name="x", label="x", module="")
            elif var is y:
                node.update(kind="target", name="y", label="y", module="")
            else:
                pname = names.get(id(var), "param")
                node.update(kind="param", name=pname, label=pname, module=pname.rpartition(".")[0])
            node["value"] = tensor_json(var)
        else:
            name, value, module = recorder.records.get(fn, (_op_name(fn), None, ""))
            node.update(kind="op", name=name, label=name, module=module, value=tensor_json(value),
                        autograd=type(fn).__name__)
        nodes.append(node)

        def pre_hook(grad_outputs, nid=nid):
            order.append(nid)
            grads[nid] = grad_outputs[0].detach().clone() if grad_outputs and grad_outputs[0] is not None else None

        fn.register_prehook(pre_hook)
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                todo.append(nxt)
    for fn, nid in ids.items():
        for nxt, _ in fn.next_functions:
            if nxt is not None:
                edges.append({"source": ids[nxt], "target": nid})          # forward direction: input -> op
    loss.backward()

    nodes[0].update(kind="loss")
    by_id = {n["id"]: n for n in nodes}
    for tensor, label in labels.items():
        node = by_id.get(ids.get(tensor.grad_fn))
        if node is not None:
            node["label"] = label if label != "ŷ" else f"ŷ = {node['label']}"
    _inherit_modules(nodes, edges)
    for node in nodes:
        node["grad"] = tensor_json(grads.get(node["id"]))
    _layers(nodes, edges)
    for i, nid in enumerate(order):
        next(n for n in nodes if n["id"] == nid)["backward_index"] = i
    graph = {"version": 1, "loss": loss.item(), "prediction": pred.detach().double().tolist(),
             "sample": {"x": x.detach().double().tolist(), "y": y.detach().double().tolist()},
             "nodes": nodes, "edges": edges, "backward_order": order, "collapsed": False, "groups": []}
    if len(nodes) > COLLAPSE_OVER:
        _collapse(graph)
    return graph


def _inherit_modules(nodes: list[dict], edges: list[dict]) -> None:
    """Operations no recorded call made (`t` inside `linear`) belong to the module of their consumer."""
    by_id = {n["id"]: n for n in nodes}
    consumer = {}
    for e in edges:
        consumer.setdefault(e["source"], e["target"])
    changed = True
    while changed:
        changed = False
        for n in nodes:
            c = consumer.get(n["id"])
            if n["kind"] == "op" and not n["module"] and c and by_id[c]["module"]:
                n["module"] = by_id[c]["module"]
                changed = True


def _layers(nodes: list[dict], edges: list[dict]) -> None:
    """layer = the longest path from any leaf: leaves at 0, the loss at the top."""
    inputs: dict[str, list[str]] = {n["id"]: [] for n in nodes}
    for e in edges:
        inputs[e["target"]].append(e["source"])
    layer: dict[str, int] = {}

    def depth(nid: str) -> int:
        stack = [(nid, False)]
        while stack:
            cur, ready = stack.pop()
            if cur in layer:
                continue
            if ready:
                layer[cur] = 1 + max((layer[s] for s in inputs[cur]), default=-1)
                continue
            stack.append((cur, True))
            stack.extend((s, False) for s in inputs[cur] if s not in layer)
        return layer[nid]

    for n in nodes:
        n["layer"] = depth(n["id"])


def _collapse(graph: dict) -> None:
    """Group nodes into module boxes: the deepest module level at which the boxed graph has at most
    COLLAPSE_OVER nodes (level 1 if none does), so a big graph draws as boxes that expand."""
    def key(n: dict, depth: int) -> str:
        return ".".join(n["module"].split(".")[:depth]) if n["module"] and n["kind"] != "loss" else ""

    depth = 1
    for d in range(1, 1 + max(len(n["module"].split(".")) for n in graph["nodes"])):
        keys = {key(n, d) for n in graph["nodes"] if key(n, d)}
        if len(keys) + sum(1 for n in graph["nodes"] if not key(n, d)) <= COLLAPSE_OVER:
            depth = d
    groups: dict[str, list[str]] = {}
    for n in graph["nodes"]:
        k = key(n, depth)
        if k:
            groups.setdefault(k, []).append(n["id"])
            n["group"] = k
    graph["collapsed"] = True
    graph["groups"] = [{"id": f"g:{k}", "module": k, "nodes": v} for k, v in groups.items()]


# -- text and DOT ------------------------------------------------------------------------------

def _short(t: dict | None) -> str:
    if t is None:
        return "-"
    if "value" in t:
        v = t["value"]
        while isinstance(v, list) and len(v) == 1:
            v = v[0]
        return f"{v:.6g}" if isinstance(v, float) else str(v)
    return f"{'x'.join(map(str, t['shape']))} tensor, norm {t.get('norm', float('nan')):.4g}"


def text_tree(graph: dict) -> list[str]:
    """The graph as a tree from the loss down; a node reached twice is shown once, then referenced."""
    by_id = {n["id"]: n for n in graph["nodes"]}
    inputs: dict[str, list[str]] = {n["id"]: [] for n in graph["nodes"]}
    for e in graph["edges"]:
        inputs[e["target"]].append(e["source"])
    lines = [f"sample x = {graph['sample']['x']}, y = {graph['sample']['y']}; loss = {graph['loss']:.6g}",
             "node  value  grad = ∂loss/∂node"]
    shown: set[str] = set()

    def visit(nid: str, prefix: str, last: bool, top: bool) -> None:
        n = by_id[nid]
        branch = "" if top else ("└─ " if last else "├─ ")
        label = n["label"] if n["kind"] == "op" or n["kind"] == "loss" else f"{n['label']} ({n['kind']})"
        if nid in shown:
            lines.append(f"{prefix}{branch}{label}  (see above)")
            return
        shown.add(nid)
        lines.append(f"{prefix}{branch}{label}  value {_short(n['value'])}  grad {_short(n['grad'])}")
        kids = inputs[nid]
        for i, k in enumerate(kids):
            visit(k, prefix + ("" if top else ("   " if last else "│  ")), i == len(kids) - 1, False)

    visit(graph["nodes"][0]["id"], "", True, True)
    return lines


def to_dot(graph: dict) -> str:
    """Graphviz DOT, inputs at the bottom, the loss at the top, value and gradient in each box."""
    colour = {"input": "lightblue", "target": "lightblue", "param": "gold", "op": "white", "loss": "salmon"}
    out = ["digraph loss {", "  rankdir=BT;", '  node [shape=box, fontname="Helvetica"];']
    for n in graph["nodes"]:
        label = f"{n['label']}\\nvalue {_short(n['value'])}\\ngrad {_short(n['grad'])}".replace('"', "'")
        out.append(f'  {n["id"]} [label="{label}", style=filled, fillcolor={colour[n["kind"]]}];')
    for e in graph["edges"]:
        out.append(f"  {e['source']} -> {e['target']};")
    out.append("}")
    return "\n".join(out) + "\n"


def graph_for(model: str | nn.Module, x_values: list[float], y_values: list[float], *, loss_steps: bool = True,
              **spec_fields) -> dict:
    """The graph of a model (a name, built as training builds it: seeded, then `init`) on one
    sample given as numbers; `spec_fields` are RunSpec fields (seed, init, loss, model_args)."""
    if not x_values or not y_values:
        raise LearnsysError("graph needs one sample: --x with the feature value(s) and --y with the target(s), "
                            "e.g. --x 2 --y 4.")
    spec, objects, _ = spec_and_objects(model, ([list(x_values)], [list(y_values)]), spec_fields)
    parts = assemble(spec, objects)
    graph = capture(parts.model, *parts.train, parts.loss_fn, loss_steps=loss_steps)
    graph.update(model=spec.model, loss_name=parts.loss_name)
    return graph
