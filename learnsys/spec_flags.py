"""RunSpec fields as command-line flags: one flag per field, for every verb that takes them.

`train` and `resume` take every field; the lecture verbs (`search`, `graph`, `gradcheck`)
take the fields that describe a model and its data, with the same names, help and parsing,
and a verb may start from other defaults (lecture 2's search is `y = x·w`: linear-nobias).

    add_spec_flags(parser)                                         # every field
    add_spec_flags(parser, fields=MODEL_AND_DATA, defaults={"model": "linear-nobias"})
    overrides = spec_overrides(args)                               # only the flags given
"""

from __future__ import annotations

import argparse
from typing import Sequence

from .spec import RunSpec, parse_pairs, parse_value

DICT_FIELDS = ("data_args", "model_args", "init", "optimizer_args", "scheduler_args")
LIST_FIELDS = ("target",)
# What the lecture verbs take: the model, its data and its loss, as training builds them.
MODEL_AND_DATA = ("data", "target", "data_args", "dev", "standardize", "model", "model_args", "init", "loss", "seed")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_spec_flags(parser: argparse.ArgumentParser, title: str = "run spec (also settable in a --config TOML file)",
                   *, fields: Sequence[str] | None = None, defaults: dict | None = None) -> None:
    """One flag per RunSpec field (or per name in `fields`); only flags given on the command line
    override. `defaults` are this verb's own starting values, shown in the help."""
    group = parser.add_argument_group(title)
    helps = RunSpec.field_help()
    defaults = defaults or {}
    for name in fields or list(helps):
        help_text = helps[name] + (f" (default here: {defaults[name]})" if name in defaults else "")
        if isinstance(getattr(RunSpec, name, None), bool):  # `--async-checkpoint` alone means true
            group.add_argument(flag(name), dest=name, nargs="?", const="true", metavar="true|false",
                               default=argparse.SUPPRESS, help=help_text)
        elif name in DICT_FIELDS:
            group.add_argument(flag(name), dest=name, nargs="+", metavar="KEY=VALUE", default=argparse.SUPPRESS,
                               help=help_text)
        elif name in LIST_FIELDS:
            group.add_argument(flag(name), dest=name, nargs="+", metavar="COL", default=argparse.SUPPRESS,
                               help=help_text)
        else:
            group.add_argument(flag(name), dest=name, metavar=name.upper(), default=argparse.SUPPRESS, help=help_text)


def spec_overrides(args: argparse.Namespace, defaults: dict | None = None) -> dict:
    """The RunSpec fields given as flags, parsed as TOML values would be (text fields stay text),
    on top of the verb's `defaults`."""
    out = dict(defaults or {})
    text = RunSpec.text_fields()
    for name in RunSpec.field_names():
        if name not in vars(args):
            continue
        value = getattr(args, name)
        if name in DICT_FIELDS:
            out[name] = parse_pairs(flag(name), value)
        elif name in LIST_FIELDS:
            out[name] = list(value)
        elif name in text:
            out[name] = value
        else:
            out[name] = parse_value(value)
    return out
