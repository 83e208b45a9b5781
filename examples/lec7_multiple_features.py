"""Lecture 7, multi-dimensional input: the course's listing in plain PyTorch.

Eight features per sample, a 0/1 label; three linear layers 8 → 6 → 4 → 1, each followed by
a sigmoid; the mean binary cross-entropy (`BCELoss(size_average=True)` in the course, the
default `reduction="mean"` today); full-batch SGD with lr 0.1 for 100 epochs. The course
reads `diabetes.csv.gz` (the Pima Indians set, not bundled: its licence is unclear); here the
same line reads learnsys's bundled `breast_cancer8.csv.gz`, 569 rows of 8 features scaled to
[-1, 1] with the label last (docs/datasets.md). learnsys is imported only to find that file.
The course has no seed; one is set so that the numbers can be checked
(tests/test_lectures_6_to_9.py) and a learnsys twin can start from the same weights.

    python examples/lec7_multiple_features.py [--seed 0] [--epochs 100]
"""

import argparse

import numpy as np
import torch

from learnsys.datasets import bundled_path

#%%
xy = np.loadtxt(bundled_path("breast_cancer8"), delimiter=",", dtype=np.float32)   # (569, 9)
x_data = torch.from_numpy(xy[:, :-1]).contiguous()     # (569, 8)
# .contiguous(): the slice is a strided view, and on some CPUs (seen on an AMD EPYC) a strided
# input takes another matrix-multiply kernel, whose last bits differ from step 49 on. learnsys
# holds its data contiguous; the same layout here keeps the twin's comparison bit for bit.
y_data = torch.from_numpy(xy[:, [-1]])    # (569, 1)


#%%
class Model(torch.nn.Module):
    def __init__(self):
        super(Model, self).__init__()
        self.linear1 = torch.nn.Linear(8, 6)
        self.linear2 = torch.nn.Linear(6, 4)
        self.linear3 = torch.nn.Linear(4, 1)
        self.sigmoid = torch.nn.Sigmoid()

    def forward(self, x):
        x = self.sigmoid(self.linear1(x))   # (N, 8) -> (N, 6)
        x = self.sigmoid(self.linear2(x))   # (N, 6) -> (N, 4)
        x = self.sigmoid(self.linear3(x))   # (N, 4) -> (N, 1)
        return x


#%%
def main(seed: int = 0, epochs: int = 100, verbose: bool = False) -> dict:
    torch.manual_seed(seed)
    model = Model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    criterion = torch.nn.BCELoss(reduction="mean")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    #%%
    losses = []
    for epoch in range(epochs):
        # forward
        y_pred = model(x_data)
        loss = criterion(y_pred, y_data)
        losses.append(loss.item())
        if verbose:
            print(epoch, loss.item())
        # backward
        optimizer.zero_grad()
        loss.backward()
        # update
        optimizer.step()
    #%%
    with torch.no_grad():
        accuracy = ((model(x_data) > 0.5).float() == y_data).float().mean().item()
    print("loss = ", losses[-1], " accuracy = ", accuracy)
    return {"initial": initial, "state": {k: v.clone() for k, v in model.state_dict().items()},
            "losses": losses, "accuracy": accuracy}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    main(args.seed, args.epochs, verbose=True)
