"""Lecture 8's listing (a Dataset and a DataLoader), driven through learnsys: the same numbers.

The listing's `DiabetesDataset` and model (examples/lec8_dataset_dataloader.py); learnsys
feeds the Dataset through a DataLoader with 2 workers, batches of 32, and `--shuffle torch`:
the order `DataLoader(shuffle=True)` draws from torch's generator each epoch, so every batch
(and every float after it) is the listing's. The mean `BCELoss`, SGD with lr 0.01, 100 epochs.

    python examples/lec8_dataset_dataloader_learnsys.py [--seed 0] [--epochs 100] [--runs-dir runs]
"""

import argparse
import sys
from pathlib import Path

import torch

import learnsys
from learnsys.datasets import bundled_path

sys.path.insert(0, str(Path(__file__).parent))
import lec8_dataset_dataloader as listing  # noqa: E402  (the listing's Dataset and model)


def main(seed: int = 0, epochs: int = 100, workers: int = 2, runs_dir: str = "runs") -> dict:
    dataset = listing.DiabetesDataset(bundled_path("breast_cancer8"))
    torch.manual_seed(seed)
    model = listing.Model()
    run = learnsys.fit(model, dataset, batch_size=32, shuffle="torch", workers=workers, loss=torch.nn.BCELoss(),
                       optimizer="sgd", lr=0.01, epochs=epochs, seed=seed, runs_dir=runs_dir)
    print("epoch loss = ", run.metrics()["train/loss_epoch"][1][-1])
    return {"state": run.params(), "run": run}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    main(args.seed, args.epochs, args.workers, args.runs_dir)
