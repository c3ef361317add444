"""docs/architecture.md against the code: the module map names every module of its layer and no
other, the import rule holds, and the types and transforms the stage table names exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "beam_prep"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
LAYERS = ("core", "io", "pipeline")
# What a layer may import from beam_prep ("top": the top-level modules).
ALLOWED = {"core": {"core"}, "io": {"core", "io"}, "pipeline": {"core", "io", "pipeline", "config"}}
BEAM_IMPORTERS = {"pipeline", "job", "runners"}


def _modules() -> dict[str, str]:
    """{module path relative to beam_prep: its layer ("core", "io", "pipeline" or "top")}."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if rel.name in ("__init__.py", "__main__.py"):
            continue
        out[str(rel)] = rel.parts[0] if len(rel.parts) > 1 else "top"
    return out


def _section(title: str) -> str:
    start = DOC.index(f"## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end >= 0 else len(DOC)]


def _mapped() -> dict[str, str]:
    """The modules the module map names, with the layer they are listed under."""
    block = _section("Module map").split("```")[1]
    layer, out = None, {}
    for line in block.splitlines():
        head = re.match(r"^  (\w+)/ ", line)
        if head:
            layer = head.group(1) if head.group(1) in LAYERS else None
            continue
        top = re.match(r"^  (\w+\.py) ", line)
        if top:
            layer = None
            out[top.group(1)] = "top"
            continue
        name = re.match(r"^    (\w+\.py) ", line)
        if name and layer:
            out[f"{layer}/{name.group(1)}"] = layer
    return out


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
    return names


def _layer_of(module: str) -> str | None:
    """The layer (core, io, pipeline) or top-level module name of a beam_prep import, else None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "beam_prep" and len(parts) > 1 else None


def test_the_module_map_names_every_module_in_its_layer():
    assert _mapped() == _modules()


def test_no_import_runs_upward_and_only_the_beam_layer_imports_beam():
    wrong = []
    for rel, layer in _modules().items():
        imports = _imports(PACKAGE / rel)
        targets = {t for t in map(_layer_of, imports) if t is not None}
        if layer in ALLOWED and not targets <= ALLOWED[layer]:
            wrong.append((rel, sorted(targets - ALLOWED[layer])))
        beam = any(m == "apache_beam" or m.startswith("apache_beam.") for m in imports)
        if beam and layer not in BEAM_IMPORTERS and Path(rel).stem not in BEAM_IMPORTERS:
            wrong.append((rel, ["apache_beam"]))
    assert wrong == []


def _defined() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return names


def test_the_stage_table_names_types_and_transforms_that_exist():
    table = _section("Stages: what crosses each")
    cited = {
        word
        for span in re.findall(r"`([^`]+)`", table)
        for word in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", span)
        if word[0].isupper() or "_" in word
    }
    outside = {"Counter", "DoFn", "True"}  # collections.Counter, Beam's DoFn, a literal
    assert sorted(cited - outside - _defined()) == []
