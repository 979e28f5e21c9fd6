"""The references in notebooks, reproductions and the package point at pages users have (docs/, READMEs, papers)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted({*ROOT.glob("notebooks/**/*.py"), *ROOT.glob("notebooks/**/*.md"), *ROOT.glob("notebooks/*.ipynb"),
                  *ROOT.glob("reproductions/**/*.py"), *ROOT.glob("reproductions/**/*.md"),
                  *ROOT.glob("reproductions/*.ipynb"), *ROOT.glob("reproductions/paper_values/*.csv"),
                  *ROOT.glob("mtlkit/**/*.py"), *ROOT.glob("mtlkit/**/*.md"), *ROOT.glob("docs/*.md"),
                  ROOT / "README.md", ROOT / "CONTRIBUTING.md"})
# "spec §2.5", "spec `automtl.md` §4", "specs/treemtl.md", "spec\n# §3": the old pointers at a document users lack
OLD = re.compile(r"\bspecs?(?:\s|#|`|automtl\.md|treemtl\.md|/)*§"
                 r"|specs/(?:automtl|treemtl|conventions)\.md|\.\./shared")
REF = re.compile(r"docs/(automtl|treemtl)\.md(?:\s|#|`)*((?:§[\d.]+(?:\s*#\d+)?(?:\s*[–,-]\s*)?)+)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def test_the_sources_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in SOURCES}
    assert {"notebooks/02_supermodel_compilation.py", "mtlkit/automtl/regularizer.py", "docs/automtl.md"} <= names


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_reference_to_the_missing_spec(path):
    hits = [m.group(0) for m in OLD.finditer(_text(path))]
    assert not hits, f"{path.relative_to(ROOT)}: {hits[:5]} — point at docs/automtl.md or docs/treemtl.md §N instead"


def _sections(doc: str) -> set[str]:
    """The numbers a page defines: headings "## 2." / "### 2.5" and numbered items "14." inside "## 7."."""
    found, top = set(), None
    for line in doc.splitlines():
        m = re.match(r"#{2,3} (\d+(?:\.\d+)?)[. ]", line)
        if m:
            found.add(m.group(1))
            top = m.group(1) if "." not in m.group(1) else top
            sub = m.group(1)
            continue
        item = re.match(r"(\d+)\. ", line)
        if item and top is not None:
            found.add(f"{top}.{item.group(1)}")  # "§7.14" = item 14 of section 7
            found.add(f"{sub} #{item.group(1)}")  # "§6.2 #5" = item 5 under 6.2
    return found


def test_every_doc_reference_names_an_existing_section():
    defined = {name: _sections(_text(ROOT / "docs" / f"{name}.md")) for name in ("automtl", "treemtl")}
    missing = set()
    for path in SOURCES:
        for m in REF.finditer(_text(path)):
            for number in re.findall(r"§([\d.]+(?:\s*#\d+)?)", m.group(2)):
                number = re.sub(r"\s+", " ", number).rstrip(".")
                if number not in defined[m.group(1)]:
                    missing.add(f"{path.relative_to(ROOT)}: docs/{m.group(1)}.md §{number}")
    assert not missing, sorted(missing)


def test_docs_cite_the_papers_and_the_authors_repositories():
    automtl, treemtl = _text(ROOT / "docs" / "automtl.md"), _text(ROOT / "docs" / "treemtl.md")
    assert "zhanglijun95/AutoMTL" in automtl and "arXiv 2110.13076" in automtl
    assert "zhanglijun95/TreeMTL" in treemtl and "arXiv 2203.05092" in treemtl


NOTEBOOK_SOURCES = sorted([*ROOT.glob("notebooks/[0-9]*.py"), *ROOT.glob("reproductions/[0-9a-z]*.py")])


def _stray_prose(source: str) -> list[str]:
    """Comment lines after a code cell's last statement that read as a markdown paragraph (a bold lead-in)."""
    lines = source.rstrip().splitlines()
    code = [i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")]
    tail = lines[code[-1] + 1:] if code else []
    return [line for line in tail if re.match(r"#\s+\*\*\S", line)]


def test_a_markdown_paragraph_in_a_code_cell_is_detected():
    assert _stray_prose('x = 1\n#\n# **AutoMTL\'s seed dependence.** Two seeds ...') != []
    assert _stray_prose("x = 1  # **not prose**\ny = 2") == []


@pytest.mark.parametrize("path", NOTEBOOK_SOURCES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_markdown_paragraph_inside_a_code_cell(path):
    import jupytext

    for cell in jupytext.read(path).cells:
        if cell.cell_type == "code":
            stray = _stray_prose(cell.source)
            assert not stray, f"{path.name}: {stray[0][:60]!r} is inside a code cell; start it with '# %% [markdown]'"
