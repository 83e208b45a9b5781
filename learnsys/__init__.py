"""learnsys: a learning system on PyTorch.

data set -> model -> training -> inference, with a live dashboard, log output and exact
resume from a checkpoint (the course's 实时可视化 + 日志输出 + 断点重开).

    import learnsys
    run = learnsys.fit("linear", "lecture5", lr=0.01, epochs=1000)
    run.predict([[4.0], [5.0]])

The names below are loaded on first use, so `learnsys.store` and the dashboard can be
imported without importing torch.
"""

__version__ = "0.1.0"

_LAZY = {"fit": "api", "load_run": "api", "resume": "api", "Run": "run", "lr_find": "api", "show": "notebook",
         "RunSpec": "spec", "LearnsysError": "errors"}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'learnsys' has no attribute {name!r}")
