"""`make book`: a static site from executed notebooks, checked in headless Chromium (title, every image loaded)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mtlkit import book, runner

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
NOTEBOOK = ROOT / "notebooks" / "04_layouts_and_cuts.ipynb"  # pure numpy: seconds at smoke scale, with figures


def test_nav_is_in_course_order_and_names_existing_files():
    pages = book._pages(book.nav(ROOT))
    notebooks = [p for p in pages if p.startswith("notebooks/")]
    assert notebooks == sorted(notebooks) and notebooks[0] == "notebooks/00_quickstart.ipynb" \
        and len(notebooks) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    assert pages.index("README.md") == 0 and pages.index("notebooks/07_automtl_vs_treemtl.ipynb") < pages.index(
        "reproductions/README.md") < pages.index("reproductions/REPORT.md") < pages.index("docs/automtl.md")
    assert all((ROOT / p).is_file() for p in pages)
    assert book._pages(book.nav(ROOT, match="04_")) == [p for p in pages if not p.endswith(".ipynb")
                                                         or "04_" in p]


def _browser():
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium chromium-driver); .ci/run "
                    "installs it")
    pytest.importorskip("selenium", reason="selenium is not installed (the book extra)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='mtlkit-chromium-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def _images(driver) -> list:
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # lazy images load too
    return driver.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc.slice(0, 80), i.complete, i.naturalWidth])")


@pytest.mark.notebook
@pytest.mark.timeout(240)
def test_book_from_executed_notebooks_loads_in_chromium(tmp_path):
    pytest.importorskip("mkdocs_jupyter", reason="mkdocs-jupyter is not installed (the book extra)")
    driver = _browser()
    try:
        executed = tmp_path / "executed"
        params = runner.parameters_for(NOTEBOOK, "smoke", 0, "cpu", tmp_path / "out", None)
        error = runner.execute(NOTEBOOK, executed / "notebooks" / NOTEBOOK.name, params, tmp_path / "nb.log",
                               threads=1, env={**os.environ, "MTLKIT_STATIC": "1"})
        assert error is None, error
        result = book.build(ROOT, executed=executed, out=tmp_path / "site", match="04_layouts")
        assert result.not_executed == () and result.index.is_file()
        page = result.site / "notebooks" / "04_layouts_and_cuts.html"
        assert page.is_file()
        driver.get(result.index.as_uri())
        assert driver.title.startswith("mtlkit"), driver.title
        index_images = _images(driver)
        assert all(ok and width > 0 for _, ok, width in index_images), index_images
        driver.save_screenshot(str(tmp_path / "book_index.png"))
        driver.get(page.as_uri())
        assert driver.title.startswith("04 · Layouts"), driver.title
        images = _images(driver)
        assert len(images) >= 3, f"the executed notebook's figures are missing: {images}"
        assert all(ok and width > 0 for _, ok, width in images), [i for i in images if not (i[1] and i[2] > 0)]
        shot = tmp_path / "book_notebook.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
        print(f"screenshots: {tmp_path / 'book_index.png'}, {shot}")
    finally:
        driver.quit()


def test_strict_build_refuses_notebooks_without_executed_copies(tmp_path):
    pytest.importorskip("mkdocs_jupyter", reason="mkdocs-jupyter is not installed (the book extra)")
    from mtlkit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"no executed copy .* of \['notebooks/00_quickstart.ipynb'\]"):
        book.build(ROOT, executed=tmp_path, out=tmp_path / "site", match="00_quick", strict=True)
    with pytest.raises(ConfigError, match="scale must be one of"):
        book.build(ROOT, scale="huge")
