"""Lecture 5's listing, driven through learnsys: the same numbers, float for float.

The listing builds `LinearModel` (one `nn.Linear(1, 1)`), uses `MSELoss` and
`optim.SGD(lr=0.01)` on x = 1, 2, 3 and y = 1.98, 4.12, 5.95 for 1000 epochs, then prints
w, b and the predictions for x = 4 and 5. Here learnsys runs the loop (and records the
run, its log and its checkpoints); with the same seed the results are bitwise equal to the
plain listing's (tests/test_core_train.py checks it).

    python examples/lec5_linear_regression.py [--seed 0] [--runs-dir runs]
"""

import argparse

import torch

import learnsys


class LinearModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)  # (N, 1) -> (N, 1)


def main(seed: int = 0, runs_dir: str = "runs") -> dict:
    torch.manual_seed(seed)  # the listing has no seed; set one so both start from the same weights
    model = LinearModel()
    run = learnsys.fit(model, "lecture5", optimizer="sgd", lr=0.01, epochs=1000, batch_size="full",
                       seed=seed, runs_dir=runs_dir, quiet=True)
    params = run.params()
    y_test = run.predict([[4.0], [5.0]])
    print("w = ", params["linear.weight"].item())
    print("b = ", params["linear.bias"].item())
    print("y_test = ", y_test)
    return {"w": params["linear.weight"], "b": params["linear.bias"], "y_test": y_test}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    main(args.seed, args.runs_dir)
