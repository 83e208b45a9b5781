"""Twin of lecture 3: gradient descent vs stochastic gradient descent on y = x*w, the cost
curve with its exponentially weighted mean, and what a too-high learning rate does.

The notes show lecture 3's code as pictures; the course's listing is the classic one (also
in tests/test_lectures_lec3.py): x = 1, 2, 3, y = 2, 4, 6, w starts at 1.0, lr 0.01,
100 epochs; GD steps with the mean gradient 2/N·Σ x(x·w − y) over all three samples, SGD
with one sample's gradient 2x(x·w − y), in order. learnsys runs the same with
`linear-nobias` on the `lecture` data, `batch_size="full"` (GD) or `batch_size=1,
shuffle=False` (SGD, the listing's order), autograd instead of the hand-written gradient,
and float32 instead of Python floats, so the numbers agree to about 1e-6, not bitwise.

Smoothing (lecture 3's exponentially weighted mean of the cost): c′₀ = c₀,
c′ᵢ = β·cᵢ + (1 − β)·c′ᵢ₋₁, β the weight of the newest cost, here β = 0.4 as in the dashboard
(which draws it with a slider) and the console. Here it is printed and plotted. With lr 0.25 the step overshoots
(|1 − lr·2/N·Σx²| > 1) and the cost grows every epoch: `guard="off"` lets it diverge.

    python examples/lec3_gd_vs_sgd.py [--png lec3.png] [--runs-dir runs]
"""

import argparse

import learnsys

COMMON = dict(model="linear-nobias", data="lecture", init={"w": 1.0}, epochs=100, guard="off", quiet=True)


BETA = 0.4


def smooth(costs: list[float], beta: float = BETA) -> list[float]:
    """Lecture 3's exponentially weighted mean of a cost curve: c′₀ = c₀, c′ᵢ = β·cᵢ + (1 − β)·c′ᵢ₋₁."""
    out: list[float] = []
    for c in costs:
        out.append(c if not out else beta * c + (1 - beta) * out[-1])
    return out


def run(runs_dir: str, **fields) -> dict:
    r = learnsys.fit(runs_dir=runs_dir, **{**COMMON, **fields})
    metrics = r.metrics()
    steps, w = metrics["param/w"]
    _, cost = metrics["train/loss"]
    return {"run": r.run_id, "steps": steps, "w": w, "cost": cost, "final_w": r.params()["w"].item()}


def main(runs_dir: str = "runs", png: str | None = None, verbose: bool = True) -> dict:
    gd = run(runs_dir, lr=0.01, batch_size="full")
    sgd = run(runs_dir, lr=0.01, batch_size=1, shuffle=False)
    high = run(runs_dir, lr=0.25, batch_size="full", epochs=30)
    if verbose:
        print("Predict (before training) 4", 4 * COMMON["init"]["w"])
        for epoch in range(0, 100, 10):
            print(f"Epoch: {epoch:3d}  GD w = {gd['w'][epoch]:.6f} cost = {gd['cost'][epoch]:.6f} "
                  f"(smoothed {smooth(gd['cost'])[epoch]:.6f})   SGD w = {sgd['w'][3 * epoch + 2]:.6f}")
        print("Predict (after training) 4", 4 * gd["final_w"], "(GD);", 4 * sgd["final_w"], "(SGD)")
        print(f"lr = 0.25: cost {high['cost'][0]:.4g} -> {high['cost'][-1]:.4g} after 30 epochs (diverges)")
    if png:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        axes[0].plot(gd["steps"], gd["cost"], label="GD cost", alpha=0.5)
        axes[0].plot(gd["steps"], smooth(gd["cost"]), label=f"GD smoothed c′ (β = {BETA})")
        axes[0].plot([s / 3 for s in sgd["steps"]], sgd["cost"], label="SGD one-sample loss", alpha=0.4, lw=0.8)
        axes[0].plot([s / 3 for s in sgd["steps"]], smooth(sgd["cost"]), label=f"SGD smoothed c′ (β = {BETA})")
        axes[0].set_yscale("log")
        axes[0].set_xlabel("epoch")
        axes[0].set_ylabel("cost (MSE)")
        axes[0].legend(fontsize=8)
        axes[1].plot(high["steps"], high["cost"], color="tab:red")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("epoch")
        axes[1].set_title("lr = 0.25: the cost grows (divergence)")
        fig.tight_layout()
        fig.savefig(png, dpi=90)
    return {"gd": gd, "sgd": sgd, "high": high}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--png", default=None)
    args = parser.parse_args()
    main(args.runs_dir, args.png)
