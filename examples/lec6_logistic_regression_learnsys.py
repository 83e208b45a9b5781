"""Lecture 6's listing (logistic regression), driven through learnsys: the same numbers, bit for bit.

The model and data are the listing's (examples/lec6_logistic_regression.py): `nn.Linear(1, 1)`
then a sigmoid, hours x = 1, 2, 3 and pass y = 0, 0, 1, `BCELoss(reduction="sum")`, SGD with
lr 0.01 for 1000 epochs. learnsys takes the loss as an object (a model that ends in a sigmoid
wants `nn.BCELoss`, not the with-logits `--loss bce`), records the run and predicts the
probability of passing (tests/test_lectures_twins.py checks it against the listing).

    python examples/lec6_logistic_regression_learnsys.py [--seed 0] [--runs-dir runs]
"""

import argparse
import sys
from pathlib import Path

import torch

import learnsys

sys.path.insert(0, str(Path(__file__).parent))
import lec6_logistic_regression as listing  # noqa: E402  (the listing's model and data)


def main(seed: int = 0, runs_dir: str = "runs") -> dict:
    torch.manual_seed(seed)
    model = listing.LogisticRegressionModel()
    run = learnsys.fit(model, (listing.x_data, listing.y_data), loss=torch.nn.BCELoss(reduction="sum"),
                       optimizer="sgd", lr=0.01, epochs=1000, seed=seed, runs_dir=runs_dir)
    params = run.params()
    p_pass = run.predict(torch.tensor([[4.0]]), proba=True)          # (1, 1): P(pass) after 4 hours
    print("w = ", params["linear.weight"].item())
    print("b = ", params["linear.bias"].item())
    print("P(pass | 4 hours) = ", p_pass.item())
    return {"w": params["linear.weight"], "b": params["linear.bias"], "p_pass_4h": p_pass.item(),
            "losses": run.metrics()["train/loss"][1]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    main(args.seed, args.runs_dir)
