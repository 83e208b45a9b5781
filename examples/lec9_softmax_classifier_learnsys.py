"""Lecture 9's listing (the softmax classifier on digits), driven through learnsys: the same numbers.

The listing's `DigitsDataset` (examples/lec9_softmax_classifier.py); learnsys's built-in
`mlp:256,128,64,32` and `cnn:16,32` are its `Net` and `CNN` layer for layer, so the same seed
gives the same weights. Batches of 64 in the order `DataLoader(shuffle=True)` draws
(`--shuffle torch`), `CrossEntropyLoss`, SGD with lr 0.1 and momentum 0.5, 10 epochs. After
each epoch a callback runs the listing's own `test()` on the last 360 images (inference, as
the lecture does it), so the twin's numbers and its per-epoch accuracy are the listing's.

    python examples/lec9_softmax_classifier_learnsys.py [--seed 0] [--epochs 10] [--runs-dir runs]
"""

import argparse
import sys
from pathlib import Path

from torch.utils.data import DataLoader

import learnsys
from learnsys.train.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
import lec9_softmax_classifier as listing  # noqa: E402  (the listing's data and test())


class TestAccuracy(Callback):
    """After each epoch, the listing's test() on the held-out images."""

    def __init__(self):
        self.loader = DataLoader(listing.test_dataset, shuffle=False, batch_size=listing.batch_size)
        self.accuracy: list[float] = []

    def on_epoch_end(self, trainer, logs):
        trainer.model.eval()
        self.accuracy.append(listing.test(trainer.model, self.loader))
        trainer.model.train()


def run(model: str, seed: int, epochs: int, runs_dir: str) -> dict:
    test = TestAccuracy()
    r = learnsys.fit(model, listing.train_dataset, batch_size=listing.batch_size, shuffle="torch", loss="cross-entropy",
                     optimizer="sgd", lr=0.1, optimizer_args={"momentum": 0.5}, epochs=epochs, seed=seed,
                     runs_dir=runs_dir, callbacks=[test])
    return {"run": r, "state": r.params(), "accuracy": test.accuracy}


def main(seed: int = 0, epochs: int = 10, runs_dir: str = "runs") -> dict:
    results = {"mlp": run("mlp:256,128,64,32", seed, epochs, runs_dir), "cnn": run("cnn:16,32", seed, epochs, runs_dir)}
    print("accuracy on the test set: MLP %.3f, CNN %.3f" % (results["mlp"]["accuracy"][-1],
                                                            results["cnn"]["accuracy"][-1]))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs-dir", default="runs")
    args = parser.parse_args()
    main(args.seed, args.epochs, args.runs_dir)
