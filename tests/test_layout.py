"""The architecture's import rules, checked on the source: what may depend on what.

* ``graphrec`` (the core) never imports ``ingest`` or ``web``; only the command line,
  :mod:`graphrec.cli`, composes the three.
* Answering a request never imports training or evaluation: the service, the explanations and
  the web app load a saved model, they do not build one (nor pull in what building one needs).
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graphrec", "ingest", "web", "cypher")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


@cache
def imports(module: str) -> frozenset[str]:
    """The project modules ``module`` imports, anywhere in its body (functions included)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in MODULES)
    return frozenset(found)


def reachable(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for dep in imports(todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_rules_see_the_project() -> None:
    assert "graphrec.serving.service" in MODULES and "web.api" in MODULES
    assert "graphrec.model.kgrec" in imports("graphrec.model.train")


@pytest.mark.parametrize("module", sorted(m for m in MODULES
                                          if m.startswith("graphrec") and m != "graphrec.cli"))
def test_core_never_imports_ingest_or_web(module: str) -> None:
    outside = {dep for dep in imports(module) if dep.split(".")[0] in ("ingest", "web")}
    assert not outside, f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(
    ("graphrec.serving", "graphrec.explain", "web"))))
def test_serving_never_imports_training(module: str) -> None:
    training = {dep for dep in reachable(module)
                if dep.startswith(("graphrec.model.train", "graphrec.model.pipeline",
                                   "graphrec.evaluation"))}
    assert not training, f"{module} reaches {sorted(training)}"
