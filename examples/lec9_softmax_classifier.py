"""Lecture 9, the softmax classifier: the course's listing in plain PyTorch, on digits.

The course classifies MNIST (28×28 images, downloaded by torchvision); here the same
listing classifies the 8×8 `digits` images bundled with learnsys (1797 images of 0–9,
pixels 0–16; docs/datasets.md), so nothing is downloaded. As the course's transform does,
each image becomes a 1×8×8 float tensor in [0, 1] (÷16 here, ÷255 for MNIST) and is
normalised with the data's mean and std (0.3054, 0.3755 here; MNIST's are 0.1307, 0.3081).
The first 1437 images train, the last 360 test (MNIST has its own test set). The output is
10 scores per image, and `CrossEntropyLoss` is the softmax and the negative log-likelihood
in one. SGD with momentum 0.5, batches of 64 shuffled every epoch, 10 epochs; after each
epoch the accuracy on the test set. The course's lr is 0.01 for 938 steps an epoch (60000
images); digits has 1437 training images, 23 steps an epoch, so lr is 0.1 here (with 0.01
the MLP is at 12 % after 10 epochs).

Two models: the course's fully connected `Net` (5 linear layers with ReLU, here
64 → 256 → 128 → 64 → 32 → 10) and the small CNN of its next lecture (conv 3×3 → ReLU →
max-pool twice, 1 → 16 → 32 channels, then one linear layer 32·2·2 → 10). The course has no
seed; one is set before each model so that the numbers can be checked
(tests/test_lectures_6_to_9.py); the two models are built layer for layer as learnsys's
`mlp:256,128,64,32` and `cnn:16,32`, so a twin starts from the same weights.

    python examples/lec9_softmax_classifier.py [--seed 0] [--epochs 10]
"""

import argparse

import numpy as np
import torch
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Dataset

from learnsys.datasets import bundled_path

batch_size = 64
MEAN, STD = 0.3054, 0.3755   # of the train images' pixels, after ÷16
N_TRAIN = 1437               # the first 80 % train, the rest test


#%%
class DigitsDataset(Dataset):
    def __init__(self, filepath, train: bool):
        xy = np.loadtxt(filepath, delimiter=",", dtype=np.float32)             # (1797, 65)
        xy = xy[:N_TRAIN] if train else xy[N_TRAIN:]
        images = torch.from_numpy(xy[:, :-1]).view(-1, 1, 8, 8) / 16.0         # (N, 1, 8, 8) in [0, 1]
        self.images = (images - MEAN) / STD                                     # transforms.Normalize
        self.labels = torch.from_numpy(xy[:, -1]).long()                        # (N,) class ids 0..9

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def __len__(self):
        return len(self.labels)


train_dataset = DigitsDataset(bundled_path("digits"), train=True)
test_dataset = DigitsDataset(bundled_path("digits"), train=False)


#%%
class Net(torch.nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.l1 = torch.nn.Linear(64, 256)
        self.l2 = torch.nn.Linear(256, 128)
        self.l3 = torch.nn.Linear(128, 64)
        self.l4 = torch.nn.Linear(64, 32)
        self.l5 = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = x.view(-1, 64)          # (N, 1, 8, 8) -> (N, 64)
        x = F.relu(self.l1(x))
        x = F.relu(self.l2(x))
        x = F.relu(self.l3(x))
        x = F.relu(self.l4(x))
        return self.l5(x)           # (N, 10): scores; no softmax, CrossEntropyLoss has it


class CNN(torch.nn.Module):
    def __init__(self):
        super(CNN, self).__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.pooling = torch.nn.MaxPool2d(2)
        self.fc = torch.nn.Linear(32 * 2 * 2, 10)

    def forward(self, x):
        batch_size = x.size(0)
        x = self.pooling(F.relu(self.conv1(x)))   # (N, 1, 8, 8) -> (N, 16, 4, 4)
        x = self.pooling(F.relu(self.conv2(x)))   # -> (N, 32, 2, 2)
        x = x.view(batch_size, -1)                # -> (N, 128)
        return self.fc(x)                         # -> (N, 10)


#%%
def train(model, train_loader, criterion, optimizer) -> float:
    running_loss = 0.0
    for batch_idx, data in enumerate(train_loader, 0):
        inputs, target = data                     # (64, 1, 8, 8), (64,)
        optimizer.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, target)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    return running_loss / (batch_idx + 1)


def test(model, test_loader) -> float:
    correct = 0
    total = 0
    with torch.no_grad():
        for data in test_loader:
            images, labels = data
            outputs = model(images)
            _, predicted = torch.max(outputs.data, dim=1)   # the class with the highest score
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    return correct / total


#%%
def run(model_class, seed: int, epochs: int, verbose: bool) -> dict:
    train_loader = DataLoader(train_dataset, shuffle=True, batch_size=batch_size)
    test_loader = DataLoader(test_dataset, shuffle=False, batch_size=batch_size)
    torch.manual_seed(seed)
    model = model_class()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    losses, accuracies = [], []
    for epoch in range(epochs):
        losses.append(train(model, train_loader, criterion, optimizer))
        accuracies.append(test(model, test_loader))
        if verbose:
            print("[%s %d] loss: %.3f  accuracy on test set: %d %%"
                  % (model_class.__name__, epoch + 1, losses[-1], 100 * accuracies[-1]))
    return {"model": model, "initial": initial, "losses": losses, "accuracy": accuracies}


def main(seed: int = 0, epochs: int = 10, verbose: bool = False) -> dict:
    results = {"mlp": run(Net, seed, epochs, verbose), "cnn": run(CNN, seed, epochs, verbose)}
    print("accuracy on the test set: MLP %.3f, CNN %.3f" % (results["mlp"]["accuracy"][-1],
                                                            results["cnn"]["accuracy"][-1]))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    main(args.seed, args.epochs, verbose=True)
