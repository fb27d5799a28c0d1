"""The layout rules, read from the source (ast), so they cannot rot: one import root, the core
imports nothing above it, only the application layer wires packages together, capture,
inference and server meet only on the bus, research stays apart from the runtime, and no
function grows into a god-function. A slow test builds the wheel and checks what it installs.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FOLDERS = ("capture", "calibration", "inference", "server")  # the design card's folders
TOP_LEVEL = {*PACKAGE_FOLDERS, "syncpose"}
LONGEST_FUNCTION = 120
LONGEST_CREATE_APP = 60


@dataclass(frozen=True)
class Module:
    name: str  # the import name, e.g. syncpose.capture.worker
    path: Path
    tree: ast.Module

    def imports(self) -> set[str]:
        """Every module this one imports, at any depth (function-local imports too)."""
        found: set[str] = set()
        package = self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    parent = ".".join(parts[: len(parts) - node.level + 1])
                    base = f"{parent}.{base}" if base else parent
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        return found


def _name(folder_package: str, relative: Path) -> str:
    parts = [folder_package, *relative.with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> list[Module]:
    """Every module of the distribution, by its import name (the real folders: the links in
    syncpose/ are not followed, so nothing is read twice)."""
    mods: list[Module] = []
    roots = [("syncpose", ROOT / "syncpose")] + [
        (f"syncpose.{f}", ROOT / f) for f in PACKAGE_FOLDERS
    ]
    for package, folder in roots:
        for dirpath, dirnames, filenames in os.walk(folder):  # followlinks=False
            dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
            for fn in filenames:
                if fn.endswith(".py"):
                    path = Path(dirpath) / fn
                    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
                    mods.append(Module(_name(package, path.relative_to(folder)), path, tree))
    return mods


def other_modules() -> list[Module]:
    """The tests and scripts (not installed, but bound by the one import root too)."""
    return [
        Module(str(p.relative_to(ROOT)), p, ast.parse(p.read_text(encoding="utf-8")))
        for folder in ("tests", "scripts")
        for p in sorted((ROOT / folder).rglob("*.py"))
    ]


MODULES = package_modules()


def layer(name: str) -> str:
    """core, app, or the package (capture, calibration, inference, server)."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in (*PACKAGE_FOLDERS, "app"):
        return parts[1]
    return "core"


def is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_modules_were_found() -> None:
    names = {m.name for m in MODULES}
    for expected in (
        "syncpose.config",
        "syncpose.app.cli",
        "syncpose.capture.worker",
        "syncpose.calibration.wizard",
        "syncpose.inference.research.train",
        "syncpose.server.routes.wizard",
    ):
        assert expected in names


def test_nothing_imports_a_folder_as_a_top_level_package() -> None:
    for mod in MODULES + other_modules():
        bad = {i for i in mod.imports() if i.split(".")[0] in PACKAGE_FOLDERS}
        assert not bad, f"{mod.path}: imports {sorted(bad)}; use syncpose.<package>"


def test_no_module_names_a_folder_as_a_top_level_package_in_a_string() -> None:
    """``resources.files("inference")`` and the like resolve only where the repository root
    is on ``sys.path`` (the tests' working directory): never in an installed copy."""
    for mod in MODULES + other_modules():
        for node in ast.walk(mod.tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if name in ("files", "import_module", "find_spec") and isinstance(first, ast.Constant):
                root = str(first.value).split(".")[0]
                assert root not in PACKAGE_FOLDERS, f"{mod.path}:{node.lineno}: {first.value!r}"


def test_the_core_imports_nothing_above_it() -> None:
    above = [f"syncpose.{p}" for p in (*PACKAGE_FOLDERS, "app")]
    for mod in MODULES:
        if layer(mod.name) != "core" or mod.name == "syncpose.__main__":  # the program's entry
            continue
        bad = {i for i in mod.imports() if any(is_under(i, a) for a in above)}
        assert not bad, f"{mod.name} (core) imports {sorted(bad)}"


def test_only_the_application_layer_imports_it() -> None:
    for mod in MODULES:
        if layer(mod.name) == "app" or mod.name == "syncpose.__main__":
            continue
        bad = {i for i in mod.imports() if is_under(i, "syncpose.app")}
        assert not bad, f"{mod.name} imports the application layer: {sorted(bad)}"


def test_capture_inference_and_server_meet_only_on_the_bus() -> None:
    peers = ("capture", "inference", "server")
    for mod in MODULES:
        own = layer(mod.name)
        if own not in peers:
            continue
        bad = {
            i
            for i in mod.imports()
            for other in peers
            if other != own and is_under(i, f"syncpose.{other}")
        }
        assert not bad, f"{mod.name} imports {sorted(bad)}"


def test_calibration_depends_on_the_core_only() -> None:
    for mod in MODULES:
        if layer(mod.name) == "calibration":
            bad = {
                i
                for i in mod.imports()
                if any(is_under(i, f"syncpose.{p}") for p in ("capture", "inference", "server"))
            }
            assert not bad, f"{mod.name} imports {sorted(bad)}"


def test_research_stays_apart_from_the_runtime() -> None:
    research = "syncpose.inference.research"
    for mod in MODULES:
        if layer(mod.name) == "app" or is_under(mod.name, research):
            continue
        bad = {i for i in mod.imports() if is_under(i, research)}
        assert not bad, f"{mod.name} (runtime) imports research code: {sorted(bad)}"
        torch = {i for i in mod.imports() if i.split(".")[0] == "torch"}
        assert not torch, f"{mod.name} (runtime) imports torch"


def test_runtime_modules_take_no_data_types_from_the_simulator() -> None:
    """The runtime's data types live in the runtime (``syncpose.keypoints``); the simulator's
    own types (its ground-truth sequence) are for the research code and the tests."""
    for mod in MODULES:
        if layer(mod.name) == "app" or is_under(mod.name, "syncpose.inference.research"):
            continue
        assert "syncpose.simulate.Sequence2D" not in mod.imports(), mod.name


def test_no_function_is_a_god_function() -> None:
    for mod in MODULES:
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                limit = LONGEST_CREATE_APP if node.name == "create_app" else LONGEST_FUNCTION
                assert length <= limit, f"{mod.path}:{node.lineno} {node.name}: {length} lines"


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_distribution_lists_every_package_under_the_one_root() -> None:
    setuptools = pyproject()["tool"]["setuptools"]  # type: ignore[index]
    packages = sorted({m.name for m in MODULES if m.path.name == "__init__.py"})
    assert sorted(setuptools["packages"]) == packages
    assert setuptools["package-dir"] == {
        "syncpose": "syncpose",
        **{f"syncpose.{f}": f for f in PACKAGE_FOLDERS},
    }
    assert all(name.split(".")[0] == "syncpose" for name in setuptools["packages"])


def test_the_source_tree_shows_the_same_root() -> None:
    """syncpose/<folder> links to ../<folder>: tools that read the tree (mypy, IDEs, python -m
    from a clone) see the installed layout."""
    for folder in PACKAGE_FOLDERS:
        link = ROOT / "syncpose" / folder
        assert link.is_symlink(), f"{link} is not a link"
        assert os.readlink(link) == f"../{folder}"


INSTALLED_DATA = """
from syncpose.inference.detectors.mediapipe_pose import default_model_path
from syncpose.inference.denoiser.runtime import DEFAULT_MODEL
from syncpose.motion import bundled_motion_path
from syncpose.server.routes.pages import STATIC
from syncpose.server.routes.docs import ASSETS
print(default_model_path(), DEFAULT_MODEL, bundled_motion_path(), STATIC / "index.html")
import syncpose.app.commands.rig as rig
assert "cameras" in rig.demo_config_text()
"""


@pytest.mark.slow
def test_the_wheel_installs_one_top_level_package(tmp_path: Path) -> None:
    """``pip install .`` (not editable) puts ``syncpose`` alone in site-packages:
    ``import syncpose.capture, syncpose.server`` works, ``import capture`` does not."""
    src = tmp_path / "src"
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not files:
        pytest.skip("not a git checkout: the files of the distribution are unknown")
    for rel in files:
        target, origin = src / rel, ROOT / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            target.symlink_to(os.readlink(origin))
        elif origin.is_file():
            target.write_bytes(origin.read_bytes())
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(src)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("syncpose-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = wheel.name.split("-py3")[0] + ".dist-info"
    assert {n.split("/")[0] for n in names} == {"syncpose", dist_info}
    for shipped in (
        "syncpose/capture/worker.py",
        "syncpose/server/routes/wizard.py",
        "syncpose/server/static/index.html",
        "syncpose/inference/models/denoiser.onnx",
        "syncpose/inference/research/configs/shipped.yaml",
        "syncpose/data/demo_rig.yaml",
    ):
        assert shipped in names
    site = tmp_path / "site"
    pip_install = [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet"]
    subprocess.run([*pip_install, "--target", str(site), str(wheel)], check=True, timeout=300)
    installed = {p.name for p in site.iterdir() if not p.name.endswith(".dist-info")}
    assert installed - {"bin"} == {"syncpose"}  # bin/: the console script
    env = {**os.environ, "PYTHONPATH": str(site)}
    ok = subprocess.run(
        [sys.executable, "-c", "import syncpose.capture as c, syncpose.server; print(c.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert Path(ok.stdout.strip()).is_relative_to(site)
    # The data the installed package finds for itself (models, pages, the demo rig, the motion).
    data = subprocess.run(
        [sys.executable, "-c", INSTALLED_DATA], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert data.returncode == 0, data.stderr
    for line in data.stdout.split():
        assert Path(line).is_file() and Path(line).is_relative_to(site), line
    for name in TOP_LEVEL - {"syncpose"}:
        gone = subprocess.run(
            [sys.executable, "-c", f"import {name}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert gone.returncode != 0 and "No module named" in gone.stderr, name
