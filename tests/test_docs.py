"""Docs stay true: every CLI verb and option is documented in docs/cli.md, and the README
names the two commands and every verb."""

from __future__ import annotations

import argparse
import re

from learnsys.cli import build_parser
from learnsys.spec import RunSpec

from .conftest import REPO

CLI_DOC = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def _verbs() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _section(verb: str) -> str:
    match = re.search(rf"^## `learnsys {re.escape(verb)}`\n(.*?)(?=^## |\Z)", CLI_DOC, re.S | re.M)
    assert match, f"docs/cli.md has no section '## `learnsys {verb}`'"
    return match.group(1)


SPEC_FLAGS = {"--" + name.replace("_", "-") for name in RunSpec.field_names()}
SPEC_SECTION = re.search(r"^## Run spec options\n(.*?)(?=^## |\Z)", CLI_DOC, re.S | re.M).group(1)


def test_every_option_of_every_verb_is_documented_in_its_section():
    missing = []
    for verb, sub in _verbs().items():
        text = _section(verb)
        for action in sub._actions:
            for option in action.option_strings:
                if option in ("-h", "--help"):
                    continue
                if option in SPEC_FLAGS:  # generated from RunSpec fields: the spec section documents them
                    if f"`{option}" not in SPEC_SECTION and f"`{option}" not in text:
                        missing.append(f"{verb} {option}")
                elif f"`{option}" not in text and option not in ("--runs-dir", "--json"):
                    missing.append(f"{verb} {option}")
    assert not missing, f"undocumented options in docs/cli.md: {missing}"


def test_every_run_spec_field_is_in_the_spec_table():
    missing = [flag for flag in SPEC_FLAGS if f"`{flag}" not in SPEC_SECTION]
    assert not missing, missing


def test_readme_names_the_two_commands_and_every_verb():
    assert "./run.sh" in README and "./test.sh" in README
    for verb in _verbs():
        assert f"learnsys {verb}" in README, verb


def test_the_page_and_the_docs_state_one_smoothing_formula_and_beta_means_only_its_weight():
    """Lecture 3's c′ᵢ = β·cᵢ + (1−β)·c′ᵢ₋₁, as the page writes it (i18n.js smoothing_hint, both
    languages), appears word for word in docs/lectures.md and docs/dashboard.md; no other
    formula of that shape (β on the old value, s for c′) does, and the landscape's plane has
    no β axis (issue 11: two opposite meanings of β)."""
    i18n = (REPO / "learnsys/ui/static/i18n.js").read_text(encoding="utf-8")
    hints = re.findall(r"smoothing_hint: '[^']*?：?\s*([^':]*=[^']*)'", i18n)
    formulas = {h.split("：")[-1].split(": ")[-1].strip() for h in hints}
    assert len(hints) == 2 and formulas == {"c′ᵢ = β·cᵢ + (1−β)·c′ᵢ₋₁"}, hints
    (formula,) = formulas
    for doc in ("lectures.md", "dashboard.md"):
        text = (REPO / "docs" / doc).read_text(encoding="utf-8")
        assert formula in text, f"docs/{doc} does not state the page's smoothing formula {formula}"
        stated = re.findall(r"\w[′']ᵢ = [^`\n]*ᵢ₋₁", text)
        assert stated and set(stated) == {formula}, f"docs/{doc} states {stated}"
        assert "β·η" not in text and '"name": "β"' not in text
    planes = (REPO / "learnsys/lectures/planes.py").read_text(encoding="utf-8")
    assert '"name": "u"' in planes and '"name": "β"' not in planes and '"name": "α"' not in planes
