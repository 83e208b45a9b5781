"""What a run was built from: each part by name, from a file, from arrays, or as a Python object.

A run's spec names its parts (`model = "poly:2"`, `data = "runs.csv"`), but a part given from
Python (an `nn.Module`, arrays `(x, y)`) has no name the spec could rebuild it from: the spec
shows a label (`<Net>`, `<arrays>`) and `meta.json` records how each part was given. Resume,
the lecture views and predict read it through `RunFolder.rebuild_spec`, never from the labels.
Plain Python (no torch): the run folder reads it.

    origin = Origin.of(spec, model_object=net, data_object=None)
    meta["origin"] = origin.to_meta()      # {"model": {"given": "object", "type": "mymod.Net"}, ...}
    Origin.from_meta(meta, spec).model     # 'object'
"""

from __future__ import annotations

from dataclasses import dataclass

MODEL_GIVEN = ("name", "file", "object")             # built-in name; path/to/file.py:Class or pkg.mod:Class
DATA_GIVEN = ("name", "file", "arrays", "object")    # built-in name; a .csv/.npz path; arrays saved as data.npz
ARRAYS = "<arrays>"                                  # the spec's data label for arrays from Python
ARRAYS_FILE = "data.npz"


def _data_given(name: str) -> str:
    return "file" if name.lower().endswith((".csv", ".npz")) else "name"


def object_label(obj: object) -> str:
    """The spec's label for a part given as a Python object: `<ClassName>`."""
    return f"<{type(obj).__name__}>"


def qualified_name(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class Origin:
    model: str                # one of MODEL_GIVEN
    data: str                 # one of DATA_GIVEN
    model_type: str = ""      # for an object: its class's qualified name

    @classmethod
    def of(cls, spec, *, model_object: object | None = None, data_given: str | None = None) -> "Origin":
        """How `spec`'s parts were given: `data_given` is 'arrays' or 'object' for Python data."""
        if model_object is not None:
            model, model_type = "object", qualified_name(model_object)
        else:
            model, model_type = ("file" if ":" in spec.model else "name"), ""
        data = data_given or _data_given(spec.data)
        return cls(model, data, model_type)

    @classmethod
    def from_meta(cls, meta: dict, spec) -> "Origin":
        """The origin recorded in meta.json; runs made before it was recorded carry it in the labels."""
        recorded = meta.get("origin")
        if isinstance(recorded, dict):
            model, data = recorded.get("model", {}), recorded.get("data", {})
            return cls(model.get("given", "name"), data.get("given", "name"), model.get("type", ""))
        model = "object" if spec.model.startswith("<") else "file" if ":" in spec.model else "name"
        data = "arrays" if spec.data == ARRAYS else _data_given(spec.data)
        return cls(model, data)

    def to_meta(self) -> dict:
        model = {"given": self.model, **({"type": self.model_type} if self.model_type else {})}
        data = {"given": self.data, **({"file": ARRAYS_FILE} if self.data == "arrays" else {})}
        return {"model": model, "data": data}
