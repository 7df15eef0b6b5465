"""environment.yml (conda) and pyproject.toml (pip) must describe the same dependency set."""

import tomllib

import yaml


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


def test_python_version_agrees(repo_root):
    env = _environment_yml(repo_root)
    assert "python=3.11" in env["dependencies"]
    with open(repo_root / "pyproject.toml", "rb") as f:
        assert "3.11" in tomllib.load(f)["project"]["requires-python"]


def test_every_dependency_is_pinned_to_one_version(repo_root):
    unpinned = [dep for dep in _pyproject_pins(repo_root) if "==" not in dep]
    assert not unpinned, f"pin these to the tested versions: {unpinned}"
