"""
``make dist``: check what a release would publish, as a user would get it.

The sdist and the wheel in ``dist/`` are checked with ``twine check``; the wheel is installed into
a clean venv beside the Airflow this checkout runs on (nothing from the checkout on its path);
there every module of the package imports, ``airflow providers list`` names the provider at the
package's version, and the CHANGELOG has a section for that version (or ``[Unreleased]``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Modules that need more than a plain install, with what they need: the pytest plugin is loaded
#: only by pytest (its ``pytest11`` entry point), so pytest is there whenever it is.
OPTIONAL = {"airflow_provider_sov.testing.pytest_plugin": "pytest"}
BIN = Path(sys.executable).parent


def run(*command: str | Path, **kwargs: object) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def package_version() -> str:
    text = (ROOT / "airflow_provider_sov" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert found, "no __version__ in airflow_provider_sov/__init__.py"
    return found.group(1)


def main() -> None:
    ver = package_version()
    changelog = (ROOT / "CHANGELOG.md").read_text()
    sections = re.findall(r"^## \[([^\]]+)\]", changelog, re.M)
    assert sections and sections[0] in ("Unreleased", ver), f"CHANGELOG.md's first section is {sections[:1]}"
    dist = ROOT / "dist"
    wheels, sdists = sorted(dist.glob(f"*-{ver}-*.whl")), sorted(dist.glob(f"*-{ver}.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    print(run(BIN / "twine", "check", "--strict", wheels[0], sdists[0]).strip())

    with tempfile.TemporaryDirectory(prefix="sov-dist-") as tmp:
        venv, home = Path(tmp) / "venv", Path(tmp) / "home"
        run(BIN / "uv", "venv", "--quiet", "--python", sys.executable, venv)
        airflow = f"apache-airflow=={version('apache-airflow')}"
        run(BIN / "uv", "pip", "install", "--quiet", "--python", venv / "bin" / "python", wheels[0], airflow)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))}
        env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
        imported = run(
            venv / "bin" / "python",
            "-c",
            "import importlib, json, pkgutil, airflow_provider_sov as p\n"
            "names = [m.name for m in pkgutil.walk_packages(p.__path__, 'airflow_provider_sov.')]\n"
            "missing = {}\n"
            "for name in names:\n"
            "    try: importlib.import_module(name)\n"
            "    except ModuleNotFoundError as e: missing[name] = e.name\n"
            "print(json.dumps([p.__file__, len(names), missing]))",
            cwd=tmp,
            env=env,
        )
        where, count, missing = json.loads(imported.strip().splitlines()[-1])
        assert str(ROOT) not in where, f"imported the checkout, not the wheel: {where}"
        # Only the test kit may need what a plain install lacks, and only what it is used with.
        assert missing == OPTIONAL, f"modules that do not import from the wheel alone: {missing}"
        print(
            f"every module imports from the wheel: {count} modules ({where}); needing their extra: {missing}"
        )
        providers = run(venv / "bin" / "airflow", "providers", "list", "--output", "json", cwd=tmp, env=env)
        listed = {p["package_name"]: p["version"] for p in json.loads(providers[providers.index("[") :])}
        assert listed.get("airflow-provider-sov") == ver, listed
        print(f"airflow providers list: airflow-provider-sov {ver}")


if __name__ == "__main__":
    main()
