"""Lecture 8, Dataset and DataLoader: the course's listing in plain PyTorch.

Lecture 7's model and data, now fed in mini-batches: a `Dataset` class that reads the file
and serves one sample per index, and `DataLoader(dataset, batch_size=32, shuffle=True,
num_workers=2)`, which draws a new order of the samples every epoch and collates 32 of them
per batch (569 = 17·32 + 25: the last batch of each epoch has 25). The mean binary
cross-entropy, SGD with lr 0.01, 100 epochs. The data is learnsys's bundled
`breast_cancer8.csv.gz` in place of the course's `diabetes.csv.gz` (docs/datasets.md);
learnsys is imported only to find that file.

The order comes from torch's global generator: each epoch the sampler draws a seed from it
(after the model's initial weights drew theirs), so `torch.manual_seed(seed)` fixes every
epoch's order; `num_workers` changes who loads the samples, never the order, so the numbers
are the same with 0 or 2 workers (tests/test_lectures_6_to_9.py checks both, and checks the
result against the same batches replayed in float64).

    python examples/lec8_dataset_dataloader.py [--seed 0] [--epochs 100] [--workers 2]
"""

import argparse

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from learnsys.datasets import bundled_path


#%%
class DiabetesDataset(Dataset):
    def __init__(self, filepath):
        xy = np.loadtxt(filepath, delimiter=",", dtype=np.float32)   # (569, 9)
        self.len = xy.shape[0]
        self.x_data = torch.from_numpy(xy[:, :-1])                   # (569, 8)
        self.y_data = torch.from_numpy(xy[:, [-1]])                  # (569, 1)

    def __getitem__(self, index):
        return self.x_data[index], self.y_data[index]                # (8,), (1,)

    def __len__(self):
        return self.len


#%%
class Model(torch.nn.Module):
    def __init__(self):
        super(Model, self).__init__()
        self.linear1 = torch.nn.Linear(8, 6)
        self.linear2 = torch.nn.Linear(6, 4)
        self.linear3 = torch.nn.Linear(4, 1)
        self.sigmoid = torch.nn.Sigmoid()

    def forward(self, x):
        x = self.sigmoid(self.linear1(x))   # (B, 8) -> (B, 6)
        x = self.sigmoid(self.linear2(x))   # (B, 6) -> (B, 4)
        x = self.sigmoid(self.linear3(x))   # (B, 4) -> (B, 1)
        return x


#%%
def main(seed: int = 0, epochs: int = 100, workers: int = 2, verbose: bool = False) -> dict:
    dataset = DiabetesDataset(bundled_path("breast_cancer8"))
    train_loader = DataLoader(dataset=dataset, batch_size=32, shuffle=True, num_workers=workers)
    torch.manual_seed(seed)
    model = Model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    criterion = torch.nn.BCELoss(reduction="mean")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    #%%
    epoch_losses = []
    for epoch in range(epochs):
        total = 0.0
        for i, data in enumerate(train_loader, 0):
            # 1. prepare data
            inputs, labels = data               # (32, 8), (32, 1)
            # 2. forward
            y_pred = model(inputs)
            loss = criterion(y_pred, labels)
            total += loss.item() * len(labels)
            # 3. backward
            optimizer.zero_grad()
            loss.backward()
            # 4. update
            optimizer.step()
        epoch_losses.append(total / len(dataset))
        if verbose and epoch % 10 == 0:
            print(epoch, epoch_losses[-1])
    #%%
    print("epoch loss = ", epoch_losses[-1])
    return {"initial": initial, "state": {k: v.clone() for k, v in model.state_dict().items()},
            "epoch_losses": epoch_losses}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    main(args.seed, args.epochs, args.workers, verbose=True)
