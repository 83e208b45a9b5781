"""Lecture 7's listing (8 features → 6 → 4 → 1), driven through learnsys: the same numbers.

The listing's model (examples/lec7_multiple_features.py: three linear layers with sigmoids)
on learnsys's built-in `breast_cancer8` (the listing reads the same bundled file with
np.loadtxt), the mean `BCELoss`, full-batch SGD with lr 0.1 for 100 epochs. The labels are
class ids to learnsys; `nn.BCELoss` takes them as floats (N, 1), as the listing has them.

    python examples/lec7_multiple_features_learnsys.py [--seed 0] [--runs-dir runs]
"""

import argparse
import sys
from pathlib import Path

import torch

import learnsys

sys.path.insert(0, str(Path(__file__).parent))
import lec7_multiple_features as listing  # noqa: E402  (the listing's model)


def main(seed: int = 0, runs_dir: str = "runs") -> dict:
    torch.manual_seed(seed)
    model = listing.Model()
    run = learnsys.fit(model, "breast_cancer8", loss=torch.nn.BCELoss(), optimizer="sgd", lr=0.1, epochs=100,
                       seed=seed, runs_dir=runs_dir)
    accuracy = run.metrics()["train/accuracy"][1][-1]   # the last step's batch (all rows), before its update
    print("loss = ", run.metrics()["train/loss"][1][-1], " accuracy = ", accuracy)
    return {"state": run.params(), "losses": run.metrics()["train/loss"][1]}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    main(args.seed, args.runs_dir)
