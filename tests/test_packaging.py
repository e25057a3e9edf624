"""An installed archc (a real wheel, not the checkout) finds its bundled specs and templates."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import ROOT


@pytest.fixture(scope="module")
def wheel_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0 and "hatchling" in build.stderr:
        pytest.fail("building the wheel needs hatchling: pip install -e '.[dev]'")
    assert build.returncode == 0, build.stderr
    (wheel,) = out.glob("archc_cnn-*.whl")
    site = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def test_wheel_carries_specs_templates_and_grammar(wheel_site):
    package = wheel_site / "archc"
    assert (package / "grammar.lark").is_file()
    assert (package / "specs" / "vgg_e.arch").is_file()
    assert (package / "specs" / "lib" / "inception.arch").is_file()
    assert (package / "templates").is_dir()


def test_installed_archc_runs_from_the_wheel_alone(wheel_site, tmp_path):
    probe = (
        "import sys, archc, archc.sources as s\n"
        f"assert archc.__file__.startswith({str(wheel_site)!r}), archc.__file__\n"
        f"assert str(s.specs_dir()).startswith({str(wheel_site)!r})\n"
        "from archc.cli import main\n"
        "sys.exit(main(['check', '-q', 'vgg_e', 'googlenet']))\n")
    env = {**os.environ, "PYTHONPATH": str(wheel_site)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "vgg_e, 5 of 5" in result.stdout
