"""``python -m mtlkit book``: the course as a static HTML site, from the notebooks ``make run`` executed.

The site is built with mkdocs and mkdocs-jupyter (the ``book`` extra): pure Python, no Node toolchain, and it
renders executed ``.ipynb`` files as they are — nothing is executed again. :func:`build` stages the pages in a
temporary folder and writes ``mkdocs.yml`` there from :data:`NAV`, the book's table of contents in course order:

* Home (the repository README), Running the kit (``docs/running.md``);
* the course: ``notebooks/NN_*.ipynb``, each the executed copy from ``executed/<scale>/notebooks/`` (a notebook
  without one is shown as committed, without outputs, and the build lists it);
* the reproductions: their README, each executed reproduction notebook, and ``REPORT.md`` (the run's own report in
  ``executed/<scale>/results/`` if there is one, else the committed ``reproductions/REPORT.md``);
* reference: ``docs/automtl.md``, ``docs/treemtl.md``, the package READMEs, ``CONTRIBUTING.md``, the examples.

Relative links between these files keep working because they are staged at their repository paths. The site goes
to ``site/`` (git-ignored) unless ``--out`` says otherwise; open ``site/index.html``.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from mtlkit.config import SCALES
from mtlkit.errors import ConfigError

__all__ = ["NAV", "BookResult", "build", "nav"]

#: the fixed pages of the book, (section, [(title, repository path), ...]); notebooks are added in course order
NAV = (
    ("Home", [("mtlkit", "README.md"), ("Running the kit", "docs/running.md")]),
    ("Reference", [("AutoMTL: the original code", "docs/automtl.md"),
                   ("TreeMTL: the original code", "docs/treemtl.md"),
                   ("mtlkit.automtl", "mtlkit/automtl/README.md"),
                   ("mtlkit.treemtl", "mtlkit/treemtl/README.md"),
                   ("Published two-task tables", "mtlkit/data/published/README.md"),
                   ("Example inputs", "examples/README.md"),
                   ("Benchmarks", "benchmarks/README.md"),
                   ("Contributing", "CONTRIBUTING.md")]),
)


@dataclass(frozen=True)
class BookResult:
    """What :func:`build` did: the site folder, its index page, and the notebooks shown without outputs."""

    site: Path
    index: Path
    pages: int
    not_executed: tuple[str, ...] = field(default_factory=tuple)


def _title(notebook: Path) -> str:
    """``02_supermodel_compilation`` -> ``02 Supermodel compilation``."""
    number, _, rest = notebook.stem.partition("_")
    words = rest.replace("_", " ")
    return f"{number} {words[:1].upper()}{words[1:]}" if number.isdigit() else notebook.stem.replace("_", " ")


def nav(root: Path, match: str | None = None) -> list:
    """The book's navigation (mkdocs ``nav``), in course order: home, the course, the reproductions, reference.

    Args:
        root: the checkout.
        match: keep only the notebooks whose name contains this text (a quick preview; default all).
    """
    root = Path(root)

    def found(group: str, pattern: str) -> list[Path]:
        return [nb for nb in sorted((root / group).glob(pattern)) if match is None or match in nb.stem]

    course = [{_title(nb): f"notebooks/{nb.name}"} for nb in found("notebooks", "[0-9]*.ipynb")]
    repro = [{"Overview": "reproductions/README.md"}]
    repro += [{nb.stem: f"reproductions/{nb.name}"} for nb in found("reproductions", "[0-9a-z]*.ipynb")]
    repro.append({"REPORT": "reproductions/REPORT.md"})
    (home_title, home), (ref_title, ref) = NAV
    return [{home_title: [{t: p} for t, p in home]}, {"The course": course}, {"Reproductions": repro},
            {ref_title: [{t: p} for t, p in ref if (root / p).is_file()]}]


def _config(site: Path, docs: Path, navigation: list) -> str:
    import json

    lines = ["site_name: mtlkit — automated multi-task learning, a notebook course",
             f"docs_dir: {json.dumps(str(docs))}", f"site_dir: {json.dumps(str(site))}",
             "use_directory_urls: false", "theme:", "  name: material", "  font: false",  # no web fonts: offline
             "  features: [navigation.sections, navigation.footer, toc.follow]",
             "markdown_extensions: [tables, admonition, toc]",
             "plugins:", "  - search", "  - mkdocs-jupyter:", "      execute: false", "      include_source: true",
             "      ignore_h1_titles: false",
             "nav: " + json.dumps(navigation, ensure_ascii=False),
             "validation: {links: {not_found: info, unrecognized_links: info, absolute_links: info}, "
             "nav: {omitted_files: info}}"]
    return "\n".join(lines) + "\n"


def build(root: str | Path, executed: str | Path | None = None, out: str | Path | None = None, *,
          scale: str = "cpu", match: str | None = None, strict: bool = False, quiet: bool = True) -> BookResult:
    """Build the static site.

    Args:
        root: the checkout.
        executed: the run's folder (default ``<root>/executed/<scale>``), holding ``notebooks/``, ``reproductions/``
            and ``results/REPORT.md``.
        out: the site folder (default ``<root>/site``); replaced.
        scale: the run whose notebooks are shown (used for the default ``executed``).
        match: include only the notebooks whose name contains this text (default all).
        strict: refuse to build when a notebook has no executed copy.
        quiet: hide mkdocs' log below warnings.

    Returns:
        A :class:`BookResult`.

    Raises:
        ConfigError: an unknown scale, or ``strict`` with notebooks not executed.
        FileNotFoundError: no checkout at ``root``.
        ImportError: mkdocs or mkdocs-jupyter missing (install the ``book`` extra).
    """
    import logging

    try:
        from mkdocs.commands.build import build as mkdocs_build
        from mkdocs.config import load_config
    except ImportError as exc:
        raise ImportError("make book needs mkdocs and mkdocs-jupyter: pip install -e '.[book]'") from exc
    if scale not in SCALES:
        raise ConfigError(f"scale must be one of {SCALES}, got {scale!r}")
    root = Path(root).resolve()
    if not (root / "notebooks").is_dir() or not (root / "README.md").is_file():
        raise FileNotFoundError(f"no mtlkit checkout at {str(root)!r} (notebooks/ and README.md expected)")
    executed = Path(executed) if executed is not None else root / "executed" / scale
    site = Path(out) if out is not None else root / "site"
    navigation = nav(root, match)
    missing = []
    with tempfile.TemporaryDirectory(prefix="mtlkit-book-") as tmp:
        docs = Path(tmp) / "docs"
        for page in _pages(navigation):
            target = docs / page
            target.parent.mkdir(parents=True, exist_ok=True)
            source = root / page
            if page.endswith(".ipynb"):
                ran = executed / page
                if ran.is_file():
                    source = ran
                else:
                    missing.append(page)
            elif page == "reproductions/REPORT.md" and (executed / "results" / "REPORT.md").is_file():
                source = executed / "results" / "REPORT.md"
            shutil.copyfile(source, target)
        if (root / "figures").is_dir():  # pictures the READMEs and the report link to
            shutil.copytree(root / "figures", docs / "figures")
        if missing and strict:
            raise ConfigError(f"no executed copy in {executed} of {missing}; run `make run` (SCALE={scale}) first")
        config_file = Path(tmp) / "mkdocs.yml"
        config_file.write_text(_config(site.resolve(), docs, navigation), encoding="utf-8")
        level = logging.getLogger("mkdocs").level
        if quiet:
            logging.getLogger("mkdocs").setLevel(logging.WARNING)
        try:
            mkdocs_build(load_config(str(config_file)))
        finally:
            logging.getLogger("mkdocs").setLevel(level)
    return BookResult(site.resolve(), site.resolve() / "index.html", len(_pages(navigation)), tuple(missing))


def _pages(navigation) -> list[str]:
    pages = []
    for item in navigation:
        for value in item.values():
            pages += _pages(value) if isinstance(value, list) else [value]
    return pages


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", default="cpu", choices=SCALES, help="whose executed notebooks (default cpu)")
    parser.add_argument("--executed", default=None, help="the run folder (default executed/<scale>)")
    parser.add_argument("--out", default=None, help="the site folder (default site/)")
    parser.add_argument("--match", default=None, help="include only notebooks whose name contains this text")
    parser.add_argument("--strict", action="store_true", help="fail if a notebook has no executed copy")


def main(args: argparse.Namespace) -> int:
    from mtlkit.paths import checkout_root

    try:  # mtlkit's own errors are reported by `python -m mtlkit` (mtlkit.cli_args.run_command)
        result = build(checkout_root("book"), args.executed, args.out, scale=args.scale, match=args.match,
                       strict=args.strict)
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for page in result.not_executed:
        print(f"[mtlkit book] no executed copy of {page}: shown without outputs (run `make run` first)")
    print(f"[mtlkit book] {result.pages} pages -> {result.index}")
    return 0
