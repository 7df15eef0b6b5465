"""environment.yml (conda) and pyproject.toml (pip) must describe the same dependency set."""

import platform
import re
import tomllib

import yaml
from packaging.specifiers import SpecifierSet


def _pyproject_pins(repo_root):
    with open(repo_root / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f)["project"]["dependencies"])


def _environment_yml(repo_root):
    with open(repo_root / "environment.yml") as f:
        return yaml.safe_load(f)


def _pip_section(env):
    for entry in env["dependencies"]:
        if isinstance(entry, dict) and "pip" in entry:
            return entry["pip"]
    raise AssertionError("environment.yml has no pip section")


def test_environment_yml_pins_the_same_packages_as_pyproject(repo_root):
    pip_entries = _pip_section(_environment_yml(repo_root))
    pins = {entry for entry in pip_entries if not entry.startswith("-")}
    assert pins == _pyproject_pins(repo_root)


def test_environment_yml_installs_the_kit_itself(repo_root):
    assert "-e ." in _pip_section(_environment_yml(repo_root))


def _supported_minors(specifier: str) -> set[str]:
    """The CPython 3.x minor versions a version specifier admits (3.0 to 3.40)."""
    spec = SpecifierSet(specifier)
    return {f"3.{minor}" for minor in range(41) if spec.contains(f"3.{minor}.0")}


def _conda_python(env) -> str:
    lines = [entry for entry in env["dependencies"]
             if isinstance(entry, str) and re.match(r"python\b(?!-)", entry)]
    assert len(lines) == 1, f"environment.yml should name python once: {lines}"
    spec = lines[0][len("python"):].strip()
    # conda's "python=3.11" means 3.11.*; ">=3.11,<3.14" reads as in pip.
    return f"=={spec[1:]}.*" if re.fullmatch(r"=\d+\.\d+", spec) else spec


def _requires_python(repo_root) -> str:
    with open(repo_root / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["requires-python"]


def _makefile_range(repo_root) -> set[str]:
    text = (repo_root / "Makefile").read_text()
    low = re.search(r"^PY_MIN := 3\.(\d+)$", text, re.M)
    high = re.search(r"^PY_MAX := 3\.(\d+)$", text, re.M)
    assert low and high, "the Makefile sets PY_MIN and PY_MAX"
    return {f"3.{minor}" for minor in range(int(low[1]), int(high[1]) + 1)}


def test_python_versions_agree_in_pyproject_environment_yml_and_makefile(repo_root):
    supported = _supported_minors(_requires_python(repo_root))
    assert supported, "requires-python admits no Python"
    assert _supported_minors(_conda_python(_environment_yml(repo_root))) == supported
    assert _makefile_range(repo_root) == supported


def test_the_interpreter_running_the_tests_is_a_supported_one(repo_root):
    assert SpecifierSet(_requires_python(repo_root)).contains(platform.python_version())


def test_every_dependency_is_pinned_to_one_version(repo_root):
    unpinned = [dep for dep in _pyproject_pins(repo_root) if "==" not in dep]
    assert not unpinned, f"pin these to the tested versions: {unpinned}"
