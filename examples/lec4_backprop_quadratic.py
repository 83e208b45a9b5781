"""Twin of lecture 4's listing: y = w1·x² + w2·x + b by per-sample gradient descent, bitwise.

The listing starts from w1 = w2 = b = 1.0, and for 100 epochs takes each of the three samples
of (x = 1, 2, 3; y = 1.98, 4.12, 5.95) in order: forward, (y_pred − y)², backward, then
`w.data = w.data - 0.01 * w.grad.data` for each parameter. Here learnsys does the same:
model `poly:2` (which evaluates `w1*x*x + w2*x + b` left to right, as the listing writes it),
data `lecture4` (the listing's y = 1.98, 4.12, 5.95), batch size 1 without shuffling, lr 0.01, 100 epochs, and the
graph view shows the first step's values and gradients.

The update rule is where the floats could part. `torch.optim.SGD` updates with
`p.add_(g, alpha=-lr)`, which on CPU is a fused multiply-add: p + (−lr)·g rounded once. The
listing computes `0.01 * g`, rounds it, then subtracts and rounds again. The two differ in
the last bit for about 2% of updates, and after 300 steps w1, w2, b differ by a few ulp.
So the twin uses `ListingSGD` below, an optimizer whose step is the listing's statement
(`p.copy_(p - lr * p.grad)`), run by learnsys's own training loop; with it the final
w1, w2, b are bitwise the listing's. `learnsys train --model poly:2 --optimizer sgd ...`
gives the fused-update numbers, which equal the listing rewritten with `optim.SGD` bitwise
(tests/test_lectures_graph.py checks all three).

    python examples/lec4_backprop_quadratic.py
"""

import torch

import learnsys
from learnsys.lectures.graph import graph_for, text_tree
from learnsys.spec import RunSpec
from learnsys.train.build import build
from learnsys.train.loop import Trainer

SPEC = dict(model="poly:2", data="lecture4", lr=0.01, epochs=100, batch_size=1, shuffle=False,
            init={"w1": 1.0, "w2": 1.0, "b": 1.0}, guard="off")


class ListingSGD(torch.optim.Optimizer):
    """p ← p − lr·∂L/∂p computed as the listing writes it: the product rounded, then the difference."""

    def __init__(self, params, lr: float):
        if not lr > 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.copy_(p - group["lr"] * p.grad)   # w.data = w.data - 0.01 * w.grad.data
        return None


def listing_update() -> dict[str, float]:
    """learnsys's loop (build + Trainer) with the listing's update rule."""
    built = build(RunSpec.from_dict(SPEC))
    optimizer = ListingSGD(built.model.parameters(), lr=SPEC["lr"])
    trainer = Trainer(model=built.model, optimizer=optimizer, scheduler=None, loss_fn=built.loss_fn,
                      train=built.train, dev=None, spec=built.spec, param_names=built.param_names)
    trainer.fit()
    return {k: v.item() for k, v in built.model.named_parameters()}


def fused_update(runs_dir: str = "runs") -> dict[str, float]:
    """`learnsys.fit` with optim.SGD, recorded as a run (its parameter paths show in the dashboard)."""
    run = learnsys.fit(runs_dir=runs_dir, optimizer="sgd", **SPEC)
    return {k: v.item() for k, v in run.params().items()}


def main(runs_dir: str = "runs", verbose: bool = True) -> dict:
    first = graph_for("poly:2", [1.0], [1.98], init=SPEC["init"])
    exact = listing_update()
    fused = fused_update(runs_dir)
    if verbose:
        print("the first step's graph (x = 1, y = 1.98):")
        print("\n".join(text_tree(first)))
        print("After Training (the listing's update):", ", ".join(f"{k} = {v!r}" for k, v in exact.items()))
        print("After Training (optim.SGD, fused):   ", ", ".join(f"{k} = {v!r}" for k, v in fused.items()))
        w1, w2, b = exact["w1"], exact["w2"], exact["b"]
        print("forward(5) =", torch.tensor([w1]) * 5 * 5 + torch.tensor([w2]) * 5 + torch.tensor([b]))
    return {"listing": exact, "fused": fused, "graph": first}


if __name__ == "__main__":
    main()
