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
    modules = _modules("store/*.py")
    assert len(modules) >= 5, "the store is a package"
    for path in modules:
        imports = _imports(path)
        assert not any(i == "torch" or i.startswith("torch.") for i in imports), path.name
        outside = {i for i in imports if i.startswith("learnsys") and not i.startswith("learnsys.store")}
        assert {i.rsplit(".", 1)[0] if i.count(".") > 1 else i for i in outside} <= {"learnsys.errors"}, \
            f"{path.name} imports {outside}"


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


def _module_file(name: str) -> Path | None:
    """The file of learnsys module `name` (a package's __init__), or None for a name inside one."""
    path = REPO.joinpath(*name.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _reachable(start: list[Path]) -> tuple[set[str], dict[str, str]]:
    """Every module name imported, directly or through learnsys modules (packages' __init__
    included, imports inside functions too), from the modules in `start`; and for each
    learnsys module reached, which module imported it first (to explain a violation)."""
    seen_files: set[Path] = set()
    names: set[str] = set()
    via: dict[str, str] = {}
    todo = list(start)
    while todo:
        path = todo.pop()
        if path in seen_files:
            continue
        seen_files.add(path)
        for name in _imports(path):
            names.add(name)
            if name.split(".")[0] != "learnsys":
                continue
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # learnsys, learnsys.ui, learnsys.ui.app ...
                target = _module_file(".".join(parts[:i]))
                if target is not None and target not in seen_files:
                    via.setdefault(".".join(parts[:i]), _module_name(path))
                    todo.append(target)
    return names, via


# The one module the dashboard may start that imports torch: as a child process
# (`python -m learnsys.inference_worker`, see learnsys/ui/predict.py), never by import.
PREDICT_WORKER = "learnsys.inference_worker"


def test_no_dashboard_module_reaches_torch_by_any_import_path():
    for path in _modules("ui/*.py"):
        names, via = _reachable([path])
        torch = sorted(n for n in names if n == "torch" or n.startswith("torch."))
        assert not torch, f"{_module_name(path)} reaches {torch[0]} through {sorted(via)}"
        assert not any(n == PREDICT_WORKER or n.startswith(PREDICT_WORKER + ".") for n in names), \
            f"{_module_name(path)} imports the predict worker instead of starting it"
    worker_names, _ = _reachable([PACKAGE / "inference_worker.py"])
    assert "torch" in worker_names  # the worker is what runs the model, so the check above means something
    assert f'"{PREDICT_WORKER}"' in (PACKAGE / "ui/predict.py").read_text()


def test_the_dashboard_server_starts_without_torch():
    code = ("import sys, learnsys.ui.app, learnsys.ui.launch, learnsys.store; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=60)


def test_the_dashboard_serves_a_predict_without_importing_torch(tmp_path: Path):
    """A real trained run, a real predict through the app: torch is loaded by the worker
    process, never by the process that serves the dashboard."""
    runs = tmp_path / "runs"
    subprocess.run([sys.executable, "-m", "learnsys", "train", "--steps", "30", "--no-ui", "--quiet",
                    "--runs-dir", str(runs), "--run-id", "t1"], check=True, capture_output=True, timeout=120, cwd=REPO)
    code = f"""
import sys, warnings
warnings.filterwarnings("ignore")
from starlette.testclient import TestClient
from learnsys.ui.app import create_app
with TestClient(create_app({str(runs)!r}), base_url="http://127.0.0.1:8765") as c:
    r = c.post("/api/runs/t1/predict", json={{"rows": [[4.0], [5.0]]}})
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2
    assert c.app.state.worker.starts == 1
assert "torch" not in sys.modules, "the dashboard process imported torch"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=180)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


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


MAX_LINES = 400  # docs/design.md: small modules, one idea each


def test_every_module_and_script_is_at_most_400_lines():
    """Every learnsys .py and .js file (vendored libraries aside), offenders named with their length."""
    files = [p for p in sorted(PACKAGE.rglob("*")) if p.suffix in (".py", ".js") and "vendor" not in p.parts]
    assert any(p.suffix == ".js" for p in files) and len(files) > 50   # the walk reaches the page's scripts too
    lengths = {p.relative_to(REPO).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in files}
    over = sorted(f"{name} ({n} lines)" for name, n in lengths.items() if n > MAX_LINES)
    assert not over, f"over {MAX_LINES} lines: {', '.join(over)}"
