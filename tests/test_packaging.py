"""Packaging: the PyInstaller spec, desktop entry, AppStream metadata, icon, installed entry
points, the desktop-entry installer, and (when the build tools are present) the frozen studio."""
from __future__ import annotations

import ast
import configparser
import glob
import importlib.metadata
import importlib.util
import json
import os
import runpy
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from xy_tokenizer import __version__

ROOT = Path(__file__).resolve().parents[1]
RESOURCES = ROOT / "resources"
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "xy-tokenizer-studio.spec"
INSTALLER = PACKAGING / "install-desktop-entry.sh"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
DIST_NAME = PYPROJECT["project"]["name"]
APP_ID = "io.github.xytokenizer.Studio"
DESKTOP_FILE = RESOURCES / f"{DIST_NAME}.desktop"
METAINFO_FILE = RESOURCES / f"{APP_ID}.metainfo.xml"
ICON_SVG = RESOURCES / "icon.svg"
SVG_NS = "{http://www.w3.org/2000/svg}"
SCREENSHOT = "docs/screenshot-studio.png"
FROZEN_ENV = "XYTOK_BUILD_FROZEN"
FROZEN_EXE = DIST_NAME + (".exe" if sys.platform == "win32" else "")


# ---------------------------------------------------------------------------- the spec


def spec_value(name: str):
    """Evaluate the spec's top-level assignment ``name`` with the spec's own path helpers.

    Only the right-hand side runs (no PyInstaller needed): it may use ROOT, RESOURCES,
    tomllib, runpy and str.
    """
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                for t in node.targets):
            code = compile(ast.Expression(node.value), str(SPEC), "eval")
            namespace = {"ROOT": ROOT, "RESOURCES": RESOURCES, "tomllib": tomllib, "runpy": runpy}
            if name == "APP_NAME":
                namespace["PROJECT"] = spec_value("PROJECT")
            return eval(code, namespace)  # noqa: S307 (our own spec file)
    raise AssertionError(f"{SPEC} has no top-level assignment to {name}")


def spec_calls(function: str) -> list[ast.Call]:
    tree = ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function]


def test_spec_takes_name_and_version_from_the_package():
    assert spec_value("APP_NAME") == DIST_NAME == "xy-tokenizer-studio"
    assert spec_value("VERSION") == __version__
    assert spec_value("BUNDLE_ID") == APP_ID
    for builder in ("EXE", "COLLECT"):
        (call,) = spec_calls(builder)
        names = [k.value for k in call.keywords if k.arg == "name"]
        assert len(names) == 1 and isinstance(names[0], ast.Name) and names[0].id == "APP_NAME", builder


def test_spec_entry_is_the_launcher_that_runs_the_studio():
    entry = spec_value("ENTRY")
    assert entry == ROOT / "main.py" and entry.is_file()
    (analysis,) = spec_calls("Analysis")
    assert ast.unparse(analysis.args[0]) == "[str(ENTRY)]"
    launcher = ast.parse(entry.read_text(encoding="utf-8"))
    imports = [(node.module, alias.name) for node in ast.walk(launcher)
               if isinstance(node, ast.ImportFrom) for alias in node.names]
    assert ("app.main", "main") in imports


def test_spec_collects_every_resource_and_the_builtin_configs():
    datas = spec_value("DATAS")
    collected: dict[Path, str] = {}
    for source, dest in datas:
        matches = [Path(p) for p in glob.glob(source)]
        assert matches, f"spec data {source} matches no file"
        collected.update({path.resolve(): dest for path in matches})

    shipped = [p for p in RESOURCES.iterdir() if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert {p.name for p in shipped} >= {"icon.svg", "icon-256.png", "icon-512.png",
                                         DESKTOP_FILE.name, METAINFO_FILE.name}
    for path in shipped:
        assert collected.get(path.resolve()) == "resources", f"{path} is not collected into resources/"
    configs = sorted((ROOT / "xy_tokenizer" / "codecs" / "xy" / "configs").glob("*.yaml"))
    assert len(configs) == 3
    for path in configs:
        assert collected.get(path.resolve()) == "xy_tokenizer/codecs/xy/configs", path


def test_studio_runs_without_the_modules_the_spec_excludes(tiny16k_dir, tmp_path):
    """Make every excluded module unimportable (as in the frozen app), then import every app and
    engine module, show the window and run the tiny model (torch imports parts of itself lazily)."""
    qt_excludes = spec_value("QT_EXCLUDES")
    py_excludes = spec_value("PY_EXCLUDES")
    assert {"PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtQuick", "PySide6.QtQml",
            "PySide6.QtCharts", "PySide6.QtPdf", "PySide6.QtSql", "PySide6.QtTest"} <= set(qt_excludes)
    assert {"torchvision", "torchaudio", "tensorboard", "matplotlib"} <= set(py_excludes)

    script = tmp_path / "imports.py"
    script.write_text(
        "import importlib, importlib.util, json, pkgutil, sys\n"
        "def installed(name):\n"
        "    try:\n"
        "        return importlib.util.find_spec(name) is not None\n"
        "    except ModuleNotFoundError:\n"
        "        return False\n"
        "for name in [n for n in json.loads(sys.argv[1]) if installed(n)]:\n"
        "    sys.modules[name] = None  # import fails as if the module were not there\n"
        "import numpy as np\n"
        "from PySide6.QtWidgets import QApplication\n"
        "qapp = QApplication([])\n"
        "import app, xy_tokenizer\n"
        "for package in (app, xy_tokenizer):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url\n"
        "from app.main_window import MainWindow\n"
        "window = MainWindow()\n"
        "window.show()\n"
        "qapp.processEvents()\n"
        f"codec = xy_tokenizer.load({str(tiny16k_dir / 'model.ckpt')!r}, "
        f"config={str(tiny16k_dir / 'config.yaml')!r}, device='cpu')\n"
        "codes = codec.encode([np.zeros(32000, np.float32)])\n"
        "codec.decode(codes)\n"
        "from xy_tokenizer.analysis.metrics import compute_metrics\n"
        "t = np.arange(32000) / 16000\n"
        "voice = (np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.float32) * 0.3\n"
        "compute_metrics(voice, voice + 0.01 * np.random.default_rng(0).standard_normal(32000).astype(np.float32))\n"
        "window.close()\n"
        "print(json.dumps(sorted(m for m, v in sys.modules.items() if v is not None)))\n",
        encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script), json.dumps(qt_excludes + py_excludes)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, f"the studio needs a module the spec excludes:\n{proc.stderr[-6000:]}"
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert {"PySide6.QtMultimedia", "PySide6.QtWidgets", "PySide6.QtSvg", "torch", "pyqtgraph",
            "soundfile", "soxr", "pesq", "pystoi"} <= loaded


# ---------------------------------------------------------------------------- desktop entry


def read_desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser["Desktop Entry"]


def test_desktop_entry_starts_the_gui_script_with_the_icon_and_categories():
    from app import main as studio_main

    entry = read_desktop_entry(DESKTOP_FILE)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "XY-Tokenizer Studio"
    gui_scripts = PYPROJECT["project"]["gui-scripts"]
    assert entry["Exec"].split()[0] == "xytok-studio" and "xytok-studio" in gui_scripts
    assert entry["Exec"].split()[1:] == ["%F"]  # the studio opens the files it is given
    assert entry["TryExec"] == "xytok-studio"
    assert entry["Icon"] == DIST_NAME
    assert entry["Categories"] == "AudioVideo;Audio;"
    assert entry["Terminal"] == "false"
    # Wayland/X11 match the running window to this file by these names.
    assert DESKTOP_FILE.stem == studio_main.APPLICATION == entry["StartupWMClass"]


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate is not installed (apt install desktop-file-utils)")
def test_desktop_entry_passes_desktop_file_validate():
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP_FILE)], capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


# ---------------------------------------------------------------------------- AppStream


def test_metainfo_names_the_app_id_version_and_launcher():
    root = ET.parse(METAINFO_FILE).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("name") == "XY-Tokenizer Studio"
    assert root.findtext("project_license") == PYPROJECT["project"]["license"]["text"]
    assert root.find("launchable[@type='desktop-id']").text == DESKTOP_FILE.name
    releases = root.findall("releases/release")
    assert releases[0].get("version") == __version__
    assert releases[0].get("date") == "2026-11-21"
    assert root.find("content_rating").get("type") == "oars-1.1"
    # No invented addresses: homepage and screenshot URLs are added once the project is published.
    assert root.find("screenshots") is None and root.find("url") is None
    binaries = {b.text for b in root.findall("provides/binary")}
    assert binaries == set(PYPROJECT["project"]["scripts"]) | set(PYPROJECT["project"]["gui-scripts"])
    assert root.find("description/p") is not None


def test_metainfo_screenshot_exists_in_the_checkout():
    path = ROOT / SCREENSHOT
    assert path.is_file(), f"{path} is missing: the README shows it"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(shutil.which("appstreamcli") is None,
                    reason="appstreamcli is not installed (apt install appstream)")
def test_metainfo_passes_appstreamcli_validate():
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO_FILE)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "W:" not in proc.stdout and "E:" not in proc.stdout, proc.stdout


# ---------------------------------------------------------------------------- icon


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_icon_svg_is_well_formed_and_square_and_pngs_match_their_sizes():
    root = ET.parse(ICON_SVG).getroot()
    assert root.tag == SVG_NS + "svg"
    assert root.get("viewBox") == "0 0 256 256"
    assert root.findtext(SVG_NS + "title") == "XY-Tokenizer Studio"
    assert png_size(RESOURCES / "icon-256.png") == (256, 256)
    assert png_size(RESOURCES / "icon-512.png") == (512, 512)


@pytest.mark.parametrize("size", [16, 32, 256])
def test_icon_renders_at_small_and_large_sizes(qtbot, size):
    from PySide6.QtGui import QIcon

    image = QIcon(str(ICON_SVG)).pixmap(size, size).toImage()
    assert (image.width(), image.height()) == (size, size)
    # The rounded background covers the centre; the corners stay transparent.
    assert image.pixelColor(size // 2, size // 2).alpha() == 255
    assert image.pixelColor(0, 0).alpha() == 0


@pytest.mark.parametrize("name,size", [("icon-256.png", 256), ("icon-512.png", 512)])
def test_icon_pngs_are_renderings_of_the_current_svg(qtbot, name, size):
    """The PNGs must be re-rendered whenever icon.svg changes (packaging/README.md)."""
    from PySide6.QtGui import QIcon, QImage

    rendered = QIcon(str(ICON_SVG)).pixmap(size, size).toImage().convertToFormat(QImage.Format.Format_RGBA8888)
    stored = QImage(str(RESOURCES / name)).convertToFormat(QImage.Format.Format_RGBA8888)
    assert (stored.width(), stored.height()) == (size, size)
    a = rendered.constBits().tobytes()
    b = stored.constBits().tobytes()
    mean_difference = sum(abs(x - y) for x, y in zip(a[::7], b[::7])) / len(a[::7])
    assert mean_difference < 2.0, f"{name} differs from icon.svg (mean channel difference {mean_difference:.1f})"


# ---------------------------------------------------------------------------- pip metadata


def test_installed_package_declares_both_commands():
    try:
        dist = importlib.metadata.distribution(DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{DIST_NAME} is not installed: run `pip install .` (or `pip install -e .`) first")
    import app.main
    import xy_tokenizer.cli

    assert dist.version == __version__
    scripts = {(ep.group, ep.name): ep for ep in dist.entry_points}
    console = scripts[("console_scripts", "xytok")]
    gui = scripts[("gui_scripts", "xytok-studio")]
    assert console.value == "xy_tokenizer.cli:main"
    assert gui.value == "app.main:main"
    assert console.load() is xy_tokenizer.cli.main
    assert gui.load() is app.main.main


# ---------------------------------------------------------------------------- desktop installer


needs_bash = pytest.mark.skipif(sys.platform == "win32" or shutil.which("bash") is None,
                                reason="the desktop-entry installer is a bash script for Linux desktops")


@needs_bash
def test_installer_puts_entry_icon_and_metainfo_in_the_user_data_folder(tmp_path):
    program = tmp_path / "opt dir" / DIST_NAME / DIST_NAME  # a frozen build, with a space in its path
    program.parent.mkdir(parents=True)
    shutil.copy(sys.executable, program)
    data_home = tmp_path / "share"
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}

    proc = subprocess.run(["bash", str(INSTALLER), "--exec", str(program)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    desktop = data_home / "applications" / DESKTOP_FILE.name
    entry = read_desktop_entry(desktop)
    assert entry["Exec"] == f'"{program}" %F'
    assert entry["TryExec"] == str(program)
    assert entry["Icon"] == DIST_NAME
    assert "Exec=xytok-studio" not in desktop.read_text(encoding="utf-8")
    installed = {
        data_home / "icons/hicolor/scalable/apps" / f"{DIST_NAME}.svg": ICON_SVG,
        data_home / "icons/hicolor/256x256/apps" / f"{DIST_NAME}.png": RESOURCES / "icon-256.png",
        data_home / "icons/hicolor/512x512/apps" / f"{DIST_NAME}.png": RESOURCES / "icon-512.png",
        data_home / "metainfo" / METAINFO_FILE.name: METAINFO_FILE,
    }
    for target, source in installed.items():
        assert target.read_bytes() == source.read_bytes(), target
    caches = {"mimeinfo.cache", "icon-theme.cache"}  # written by the desktop's own tools
    leftovers = [p for p in data_home.rglob("*")
                 if p.is_file() and p not in installed and p != desktop and p.name not in caches]
    assert not leftovers, f"temporary files left behind: {leftovers}"

    proc = subprocess.run(["bash", str(INSTALLER), "--uninstall"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not desktop.exists()
    assert not any(target.exists() for target in installed)


@needs_bash
def test_installer_without_the_command_says_how_to_fix_it(tmp_path):
    data_home = tmp_path / "share"
    bin_dir = tmp_path / "bin"  # a PATH holding the tools the script uses, but no xytok-studio
    bin_dir.mkdir()
    for tool in ("bash", "sed", "grep", "mktemp", "cat", "chmod", "mv", "mkdir", "dirname", "basename", "rm"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {**os.environ, "XDG_DATA_HOME": str(data_home), "PATH": str(bin_dir)}
    proc = subprocess.run([str(bin_dir / "bash"), str(INSTALLER)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "xytok-studio is not on PATH" in proc.stderr and "--exec" in proc.stderr
    assert not data_home.exists()


# ---------------------------------------------------------------------------- frozen studio


def frozen_executable(build_root: Path) -> Path:
    """A prebuilt ``dist/xy-tokenizer-studio`` or, when asked for, a fresh PyInstaller build."""
    prebuilt = ROOT / "dist" / DIST_NAME / FROZEN_EXE
    if prebuilt.is_file():
        return prebuilt
    if os.environ.get(FROZEN_ENV) != "1":
        pytest.skip(f"no frozen build at {prebuilt} and {FROZEN_ENV}=1 is not set "
                    "(set it to build one here with PyInstaller)")
    if importlib.util.find_spec("PyInstaller") is None:
        pytest.skip("PyInstaller is not installed: pip install '.[packaging]'")
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(build_root / "dist"), "--workpath", str(build_root / "build"), str(SPEC)],
        cwd=ROOT, capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    executable = build_root / "dist" / DIST_NAME / FROZEN_EXE
    assert executable.is_file(), f"the build did not produce {executable}"
    return executable


def unresolved_wheel_libraries(folder: Path) -> dict[str, set[str]]:
    """Libraries that files in ``folder`` link but cannot find, among those the PySide6 and torch
    wheels ship (a system library missing on the build machine is not the build's fault)."""
    shipped = {path.name for package in ("PySide6", "torch")
               for path in Path(importlib.util.find_spec(package).origin).parent.rglob("*.so*")}
    missing: dict[str, set[str]] = {}
    for path in folder.rglob("*.so*"):
        if not path.is_file() or path.is_symlink():
            continue
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            name, _, where = line.strip().partition(" => ")
            if where.strip() == "not found" and name in shipped:
                missing.setdefault(name, set()).add(str(path.relative_to(folder)))
    return missing


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_frozen_studio_starts_offscreen_without_import_errors(tmp_path):
    executable = frozen_executable(tmp_path)
    if sys.platform.startswith("linux") and shutil.which("ldd"):
        missing = unresolved_wheel_libraries(executable.parent)
        assert not missing, f"the spec leaves out libraries that bundled files link: {missing}"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([str(executable), "--smoke-test"], capture_output=True, text=True,
                          timeout=600, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    for marker in ("ModuleNotFoundError", "ImportError", "Traceback"):
        assert marker not in output, output[-8000:]


def test_smoke_test_flag_runs_from_a_checkout(tmp_path):
    """The check the frozen build runs, here on the source tree: every module imports and the
    window builds; a broken import makes it fail."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XYTOK_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--smoke-test"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "smoke test passed" in proc.stdout
    broken = tmp_path / "broken"
    (broken / "xy_tokenizer").mkdir(parents=True)
    shutil.copytree(ROOT / "xy_tokenizer", broken / "xy_tokenizer", dirs_exist_ok=True)
    shutil.copytree(ROOT / "app", broken / "app")
    shutil.copytree(ROOT / "resources", broken / "resources")
    (broken / "xy_tokenizer" / "zz_broken.py").write_text("import a_module_that_is_not_there\n")
    proc = subprocess.run([sys.executable, "-c", "import sys; from app.main import main; sys.exit(main(['--smoke-test']))"],
                          cwd=broken, env=dict(env, PYTHONPATH=str(broken)), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and "a_module_that_is_not_there" in proc.stderr
