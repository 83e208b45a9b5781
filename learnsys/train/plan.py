"""How many steps a run takes, computed in one place for the loop, resume and the store.

    plan = plan_steps(spec, n_rows=3)    # StepPlan(batch_size=3, batches_per_epoch=1, total_steps=1000)

`--batch-size full` (or one larger than the data) is gradient descent: one batch per epoch.
`--steps N` fixes the total; otherwise it is epochs × batches per epoch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import RunSpec


@dataclass(frozen=True)
class StepPlan:
    batch_size: int          # rows per batch
    batches_per_epoch: int   # optimiser steps per pass over the train rows
    total_steps: int         # optimiser steps the run takes in all


def plan_steps(spec: RunSpec, n_rows: int) -> StepPlan:
    batch_size = spec.batch_size_for(n_rows)
    per_epoch = math.ceil(n_rows / batch_size)
    return StepPlan(batch_size, per_epoch, spec.steps or spec.epochs * per_epoch)
