"""What a run was built from: each part by name, from a file, from arrays, or as a Python object.

A run's spec names its parts (`model = "poly:2"`, `data = "runs.csv"`, `optimizer = "adam"`),
but a part given from Python (an `nn.Module`, a `Dataset`, a loss object, an optimiser class
or factory, a step function) has no name the spec could rebuild it from: the spec shows a
label (`<Net>`, `<arrays>`) and `meta.json` records how each part was given. Resume, the
lecture views and predict read it through `RunFolder.rebuild_spec`, never from the labels.
Arrays given from Python are saved in the run folder (`data.pt`), so they need no passing.

    origin = Origin.of(spec, objects={"model": net, "optimizer": make_opt})
    meta["origin"] = origin.to_meta()     # {"model": {"given": "object", "type": "mymod.Net"}, ...}
    origin.objects()                      # ['model', 'optimizer']: what a resume must be given again

Plain Python (no torch): the run folder reads it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

PARTS = ("model", "data", "loss", "optimizer", "scheduler", "step")   # the parts Python may give as objects
ARRAYS = "<arrays>"                # the spec's data label for arrays given from Python
ARRAYS_FILE = "data.pt"            # where they are kept in the run folder
OLD_ARRAYS_FILE = "data.npz"       # ... by runs made before data.pt


def _named(obj: object) -> object:
    """A class or function names itself; any other object is named by its class."""
    return obj if isinstance(obj, type) or inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj)


def object_label(obj: object) -> str:
    """The spec's label for a part given as a Python object: `<Net>`, `<Adam>`, `<make_optimizer>`."""
    return f"<{_named(obj).__name__.strip('<>')}>"


def qualified_name(obj: object) -> str:
    target = _named(obj)
    return f"{target.__module__}.{target.__qualname__}"


def _named_given(value: str, part: str) -> str:
    if part == "data":
        return "file" if value.lower().endswith((".csv", ".npz", ".pt")) or ":" in value else "name"
    return "file" if ":" in value else "name"


@dataclass(frozen=True)
class Origin:
    given: dict = field(default_factory=dict)    # part -> 'name' | 'file' | 'arrays' | 'object'
    types: dict = field(default_factory=dict)    # part -> qualified name, for objects

    @property
    def model(self) -> str:
        return self.given.get("model", "name")

    @property
    def data(self) -> str:
        return self.given.get("data", "name")

    @property
    def model_type(self) -> str:
        return self.types.get("model", "")

    def objects(self) -> list[str]:
        """The parts given as Python objects: a resume, predict or lecture view needs them again."""
        return [p for p in PARTS if self.given.get(p) == "object"]

    @classmethod
    def of(cls, spec, *, objects: dict | None = None, data_given: str | None = None,
           data_object: object = None) -> "Origin":
        """How `spec`'s parts were given; `objects` holds the Python objects, `data_given` says
        'arrays' (saved in the folder) or 'object' (a Dataset to pass again) for Python data."""
        objects = {k: v for k, v in (objects or {}).items() if v is not None}
        given, types = {}, {}
        for part in PARTS:
            if part == "data" and data_given:
                given[part] = data_given
                if data_given == "object":
                    types[part] = qualified_name(data_object if data_object is not None else objects["data"])
            elif part in objects and part != "data":
                given[part], types[part] = "object", qualified_name(objects[part])
            elif getattr(spec, part, ""):
                given[part] = _named_given(str(getattr(spec, part)), part)
        return cls(given, types)

    @classmethod
    def from_meta(cls, meta: dict, spec) -> "Origin":
        """The origin recorded in meta.json; runs made before it was recorded carry it in the labels."""
        recorded = meta.get("origin")
        if isinstance(recorded, dict):
            given = {k: v.get("given", "name") for k, v in recorded.items() if isinstance(v, dict)}
            types = {k: v["type"] for k, v in recorded.items() if isinstance(v, dict) and v.get("type")}
            return cls(given, types)
        given = {"model": "object" if spec.model.startswith("<") else _named_given(spec.model, "model"),
                 "data": "arrays" if spec.data == ARRAYS else _named_given(spec.data, "data")}
        return cls(given, {})

    def to_meta(self) -> dict:
        out = {}
        for part, given in self.given.items():
            entry = {"given": given}
            if part in self.types:
                entry["type"] = self.types[part]
            if part == "data" and given == "arrays":
                entry["file"] = ARRAYS_FILE
            out[part] = entry
        return out

    def arrays_file(self, meta: dict) -> str:
        """The file in the run folder that holds the arrays of a run trained on Python arrays."""
        recorded = (meta.get("origin") or {}).get("data") or {}
        return recorded.get("file", OLD_ARRAYS_FILE)
