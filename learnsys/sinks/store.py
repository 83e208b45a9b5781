"""StoreSink: sends a run's metrics, events and status to the SQLite run store.

Resuming, it first drops the rows the dead process logged after the checkpoint (so no step
appears twice) and records a 'resume' event. Rows go through a `StoreWriter` (a background thread), so the loop only appends to a
queue. Before every checkpoint it waits for the writer (`on_checkpoint`, phase "before"):
when a checkpoint exists, every metric row up to its step is committed, which is what lets
`resume` drop exactly the rows logged after it.
"""

from __future__ import annotations

from typing import Any

from ..json_floats import finite_json
from ..store import RunStore, StoreWriter
from ..train.callbacks import Callback


class StoreSink(Callback):
    """The one writer of a run's store rows while it trains (its row is made with its folder)."""

    def __init__(self, store_path: str, run_id: str, *, class_names: list[str] | None = None):
        self.run_id = run_id
        self.class_names = list(class_names or [])   # the evaluation artifact's labels; ids when empty
        self.store_path = store_path
        self.writer = StoreWriter(store_path)

    def on_fit_start(self, trainer: Any, logs: dict) -> None:
        step = logs.get("resumed_from")
        if step is not None:  # a resume: rows the dead process logged after the checkpoint go first
            store = RunStore(self.store_path)
            try:
                dropped = store.truncate_after(self.run_id, step)
                where = f"the checkpoint at step {step}" if step else "the start (no checkpoint yet)"
                store.add_event(self.run_id, step, "resume",
                                f"Resumed from {where}; dropped {dropped} metric row(s) logged after it.")
            finally:
                store.close()
        self.writer.put_run_update(self.run_id, status="running", total_steps=logs["total_steps"],
                                   step=logs["step"], epoch=logs["epoch"])

    def on_evaluate(self, trainer: Any, logs: dict) -> None:
        """A classifier's dev confusion matrix and image samples: the run's 'evaluation' artifact."""
        if logs.get("confusion") is None and logs.get("samples") is None:
            return
        confusion = logs["confusion"]
        store = RunStore(self.store_path)
        try:
            store.put_artifact(self.run_id, "evaluation", finite_json({
                "step": logs["step"], "metrics": logs["metrics"],
                "confusion": None if confusion is None else confusion.tolist(), "samples": logs.get("samples"),
                "classes": self.class_names or None}))
        finally:
            store.close()

    def on_metrics(self, trainer: Any, logs: dict) -> None:
        self.writer.put_series(self.run_id, logs["batch"].series)
        self.writer.put_run_update(self.run_id, step=trainer.progress.step, epoch=trainer.progress.epoch)

    def on_checkpoint(self, trainer: Any, logs: dict) -> None:
        if logs["phase"] == "before":
            self.writer.flush()
        else:
            self.writer.put_event(self.run_id, logs["step"], "checkpoint", f"Checkpoint at step {logs['step']}.",
                                  {"path": logs["path"]})

    def on_event(self, trainer: Any, logs: dict) -> None:
        self.writer.put_event(self.run_id, logs["step"], logs["kind"], logs["message"], logs.get("data"))

    def on_fit_end(self, trainer: Any, logs: dict) -> None:
        self.writer.put_event(self.run_id, logs["step"], "end" if logs["status"] == "finished" else "stop",
                              f"Run {logs['status']}: {logs['reason']}.")
        self.writer.put_run_update(self.run_id, status=logs["status"], step=logs["step"], epoch=logs["epoch"],
                                   message=logs["reason"])
        self.writer.close()
