"""Loading a user's class named as `path/to/file.py:Class` or `package.module:Class`.

Models (`--model my_net.py:Net`) and optimisers (`--optimizer my_opt.py:Lion`) are found
this way. Errors say what was asked for, where it was looked for, and what to give instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from .errors import LearnsysError


def load_user_class(name: str, base: type, base_name: str, what: str,
                    error: type[LearnsysError] = LearnsysError) -> type:
    """The class `name` points to; it must subclass `base` ("an nn.Module"); `what` ("model")
    names the kind of thing in messages."""
    target, _, class_name = name.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise error(f"{what.capitalize()} file {path} does not exist. Give path/to/file.py:ClassName.")
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
    cls = getattr(module, class_name, None)
    if cls is None:
        raise error(f"{target} has no class {class_name!r}.")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise error(f"{target}:{class_name} is not {base_name} subclass.")
    return cls
