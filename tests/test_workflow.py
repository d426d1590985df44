"""The GitHub Actions workflow that publishes the book builds it as the README and CI do.

The workflow cannot run here, so this reads it: its build step must be the README's
command for the book, the same one `.ci/run` runs (``make book``), on a Python the package
supports, with npm for MathJax; the execution cache and the hash that tells the Makefile
whether it is still valid must be kept between runs; and what it deploys to GitHub Pages
must be the folder the build writes. ``make lint`` checks it against GitHub's schema and with
actionlint.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _readme_commands() -> list[str]:
    """The commands of the README's quick start (its first bash block), comments removed."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", readme, flags=re.DOTALL)
    assert block, "README.md: no bash block under 'Quick start'"
    return [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]


def _ci_commands() -> list[list[str]]:
    """The commands `.ci/run` runs as steps (``step NAME COMMAND...``), as argument lists."""
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    return [shlex.split(line)[2:] for line in lines if line.startswith("step ")]


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _steps(job: str) -> list[dict]:
    return _workflow()["jobs"][job]["steps"]


def test_the_workflow_builds_the_book_with_the_readme_command() -> None:
    runs = [step["run"].strip() for step in _steps("build") if "run" in step]
    assert runs == ["make book"], f"the build job runs {runs}, expected only `make book`"
    assert "make book" in _readme_commands()
    assert ["make", "book"] in _ci_commands(), ".ci/run builds the book some other way"


def test_the_workflow_sets_up_what_make_book_needs() -> None:
    uses = {step["uses"].split("@")[0]: step for step in _steps("build") if "uses" in step}
    assert "actions/checkout" in uses and "actions/setup-node" in uses
    python = str(uses["actions/setup-python"]["with"]["python-version"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert python in SpecifierSet(project["requires-python"]), python


def test_the_execution_cache_is_kept_between_runs() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    cached = [
        path.strip()
        for step in _steps("build")
        if step.get("uses", "").startswith("actions/cache@")
        for path in step["with"]["path"].splitlines()
    ]
    assert config["execute"]["cache"] in cached
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    hash_file = re.search(r"(_build/\.nnscratch-hash)", makefile)[1]
    assert hash_file in cached, "without the hash, `make book` clears the restored cache"


def test_the_workflow_deploys_the_built_site() -> None:
    upload = [s for s in _steps("build") if s.get("uses", "").startswith("actions/upload-pages")]
    assert [s["with"]["path"] for s in upload] == ["_build/html"]
    deploy = _workflow()["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in deploy["steps"])
