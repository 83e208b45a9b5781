"""Loading a user's class or function named as `path/to/file.py:Name` or `package.module:Name`.

Models (`--model my_net.py:Net`), optimisers (`--optimizer my_opt.py:Lion`), data functions
(`--data my_data.py:make`) and step functions (`--step my_step.py:step`) are found this way.
Errors say what was asked for, where it was looked for, and what to give instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import LearnsysError


def load_user_object(name: str, what: str, error: type[LearnsysError] = LearnsysError) -> object:
    """The object `name` points to; `what` ("model", "data", ...) names it in messages."""
    target, _, attr = name.rpartition(":")
    if not target or not attr:
        raise error(f"{what.capitalize()} {name!r}: give path/to/file.py:Name or package.module:Name.")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise error(f"{what.capitalize()} file {path} does not exist. Give path/to/file.py:Name.")
        # executed anew each time, so an edited file (a fix before `resume`) is what runs
        module_name = f"learnsys_user_{abs(hash(str(path.resolve())))}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as e:
            del sys.modules[module_name]
            raise error(f"Importing {what} file {path} failed: {type(e).__name__}: {e}.") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise error(f"Cannot import module {target!r} for {what} {name!r}: {e}.") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise error(f"{target} has no {attr!r}; check the name after the colon in {name!r}.")
    return obj


def load_user_class(name: str, base: type, base_name: str, what: str,
                    error: type[LearnsysError] = LearnsysError) -> type:
    """The class `name` points to; it must subclass `base` ("an nn.Module"); `what` ("model")
    names the kind of thing in messages."""
    cls = load_user_object(name, what, error)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise error(f"{name} is not {base_name} subclass.")
    return cls
