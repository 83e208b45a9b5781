"""Lecture 6, logistic regression: the course's listing in plain PyTorch.

Hours of study x = 1, 2, 3 and pass (1) or fail (0) y = 0, 0, 1; the model is lecture 5's
`nn.Linear(1, 1)` followed by a sigmoid, so it outputs the probability of passing; the loss
is the binary cross-entropy summed over the samples (the course's `BCELoss(size_average=False)`,
which is `reduction="sum"` today); SGD with lr 0.01 for 1000 epochs. Then the probability
of passing for 0 to 10 hours, which crosses 0.5 at x = -b/w. The course has no seed; one is
set so that the numbers can be checked (tests/test_lectures_6_to_9.py) and a learnsys twin
can start from the same weights.

    python examples/lec6_logistic_regression.py [--seed 0] [--png lec6.png]
"""

import argparse

import numpy as np
import torch

#%%
x_data = torch.Tensor([[1.0], [2.0], [3.0]])   # (3, 1) hours
y_data = torch.Tensor([[0], [0], [1]])         # (3, 1) fail, fail, pass


#%%
class LogisticRegressionModel(torch.nn.Module):
    def __init__(self):
        super(LogisticRegressionModel, self).__init__()
        self.linear = torch.nn.Linear(1, 1)

    def forward(self, x):
        y_pred = torch.sigmoid(self.linear(x))   # (N, 1), each in (0, 1)
        return y_pred


#%%
def main(seed: int = 0, epochs: int = 1000, verbose: bool = False, png: str | None = None) -> dict:
    torch.manual_seed(seed)
    model = LogisticRegressionModel()
    w0, b0 = model.linear.weight.item(), model.linear.bias.item()
    criterion = torch.nn.BCELoss(reduction="sum")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    #%%
    losses = []
    for epoch in range(epochs):
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        losses.append(loss.item())
        if verbose and epoch % 100 == 0:
            print(epoch, loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    #%%
    print("w = ", model.linear.weight.item())
    print("b = ", model.linear.bias.item())
    x = np.linspace(0, 10, 200)
    x_t = torch.Tensor(x).view((200, 1))
    y_t = model(x_t)
    y = y_t.data.numpy()
    pass_hours = -model.linear.bias.item() / model.linear.weight.item()   # sigmoid(w·x + b) = 0.5
    print("P(pass) crosses 0.5 at", pass_hours, "hours")
    #%%
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.plot(x, y)
        plt.plot([0, 10], [0.5, 0.5], c="r")
        plt.xlabel("Hours")
        plt.ylabel("Probability of Pass")
        plt.grid()
        plt.savefig(png, dpi=90)
        plt.close()
    return {"w0": w0, "b0": b0, "w": model.linear.weight.data.clone(), "b": model.linear.bias.data.clone(),
            "losses": losses, "hours": x, "p_pass": y[:, 0], "pass_hours": pass_hours}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--png", default=None)
    args = parser.parse_args()
    main(args.seed, verbose=True, png=args.png)
