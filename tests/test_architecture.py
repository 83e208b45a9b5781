"""Dependencies point one way (cli -> api -> loop -> data/models/state; sinks -> store;
ui -> store), checked by parsing the imports of every module."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "learnsys"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of everything a module imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module_name(path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            out.add(prefix)
            out.update(f"{prefix}.{alias.name}" for alias in node.names)
    return out


def _modules(pattern: str) -> list[Path]:
    return sorted(PACKAGE.glob(pattern))


def _violations(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in paths:
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{_module_name(path)} imports {name}")
    return bad


def test_store_imports_neither_torch_nor_the_rest_of_learnsys():
    imports = _imports(PACKAGE / "store.py")
    assert "torch" not in imports
    assert {i for i in imports if i.startswith("learnsys")} <= {"learnsys.errors", "learnsys.errors.LearnsysError"}


def test_the_loop_has_no_side_effects_and_knows_no_sinks():
    train = _modules("train/*.py")
    assert not _violations(train, ("learnsys.sinks", "learnsys.store", "learnsys.ui", "learnsys.api",
                                   "learnsys.cli", "sqlite3", "socket", "http", "rich", "starlette", "uvicorn"))
    for path in train:
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Name) and n.func.id == "print"]
        assert not calls, f"{path.name} prints"


def test_the_dashboard_never_imports_the_training_loop_or_the_api():
    assert not _violations(_modules("ui/*.py"), ("learnsys.train.loop", "learnsys.api", "learnsys.cli",
                                                 "learnsys.sinks"))


def test_the_dashboard_server_starts_without_torch():
    code = ("import sys, learnsys.ui.app, learnsys.ui.launch, learnsys.store; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_sinks_write_only_to_the_store_and_files():
    assert not _violations(_modules("sinks/*.py"), ("learnsys.ui", "learnsys.api", "learnsys.cli"))


def test_building_blocks_do_not_reach_up():
    blocks = [*_modules("data/*.py"), *(PACKAGE / name for name in ("models.py", "spec.py", "errors.py"))]
    assert not _violations(blocks, ("learnsys.train", "learnsys.api", "learnsys.cli", "learnsys.ui",
                                    "learnsys.sinks", "learnsys.lectures"))


def test_the_api_does_not_import_the_cli_or_the_dashboard():
    assert not _violations([PACKAGE / "api.py"], ("learnsys.cli", "learnsys.ui"))


def test_no_lecture_view_imports_the_training_layer():
    """The lecture views assemble models and data with `assembly` and read weights through
    `inference`; the training loop and its parts are a layer they never reach into."""
    assert not _violations(_modules("lectures/*.py"), ("learnsys.train", "learnsys.api", "learnsys.session",
                                                       "learnsys.sinks", "learnsys.ui"))


def test_one_builder_assembles_models_data_and_losses():
    """Only the builder calls the model, data and loss constructors; every verb goes through it."""
    builders = {"learnsys.assembly", "learnsys.train.build"}
    makers = ("learnsys.models.build_model", "learnsys.data.load_data", "learnsys.data.sources.load_data",
              "learnsys.losses.build_loss",
              "learnsys.losses.resolve_loss_name")
    users = [p for p in _modules("**/*.py") if _module_name(p) not in builders | {"learnsys.models", "learnsys.losses"}
             and not _module_name(p).startswith("learnsys.data")]
    assert not _violations(users, makers)
