"""Twin of lecture 2's listing: the MSE of y = x*w for every w in 0.0, 0.1, ..., 4.0.

The listing loops over w in Python floats (float64) on x = 1, 2, 3 and y = 2.02, 3.98, 6.01.
Here learnsys evaluates the whole grid at once (`learnsys.lectures.search.search`, vmap over the grid)
on the same numbers in the same precision, and prints the same table:

    python examples/lec2_exhaustive_search.py          # w and MSE for each grid point, the best w
    learnsys search --data lecture2 --model linear-nobias --grid w=0:4:0.1 --png mse.png   # the CLI way

The data are the listing's Python floats as float64 tensors (the built-in `lecture2` set
holds them as float32, which would round 2.02 to 2.0199999809...). The grid is `0:4:0.1`,
whose values are start + i*step, exactly what np.arange(0.0, 4.1, 0.1) makes.
"""

import torch

from learnsys.data import BUILTIN_LECTURE, LECTURE_X, DataSet
from learnsys.lectures.search import axis, search


def main(verbose: bool = True) -> list[tuple[float, float]]:
    x = torch.tensor([[v] for v in LECTURE_X], dtype=torch.float64)                       # (3, 1)
    y = torch.tensor([[v] for v in BUILTIN_LECTURE["lecture2"]], dtype=torch.float64)  # (3, 1)
    data = DataSet(x, y, ["x"], ["y"], 0, "lecture2 (float64)")
    # vmap: the generic path sums the three squared errors in the listing's order
    result = search("linear-nobias", data, {"w": axis("0:4:0.1")}, method="vmap", dtype=torch.float64)
    table = list(zip(result.axes[0].tolist(), result.losses.tolist()))
    if verbose:
        for w, mse in table:
            print("w = ", w)
            print("MSE = ", mse)
        (best_w,), best = result.best()[0].values(), result.best()[1]
        print("best w = ", best_w, " MSE = ", best)
    return table


if __name__ == "__main__":
    main()
