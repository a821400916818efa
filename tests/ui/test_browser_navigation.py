"""Navigating at scale in a real browser (Debian's Chromium, as in ``test_browser``): the
requirement tree by keyboard, as the WAI-ARIA tree pattern has it, and without JavaScript."""

from __future__ import annotations

import pytest

from tests.ui.test_browser import CHROMIUM, browser, log_in, page, site  # noqa: F401

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="browser tests need Debian's chromium at /usr/bin/chromium"
    ),
]


def _focused(tab) -> str:
    return tab.evaluate(
        "() => document.activeElement.querySelector(':scope > .row > a.item').textContent.trim()"
    )


def test_the_tree_is_driven_by_the_keyboard(page, site):  # noqa: F811
    log_in(page, site, "vic")
    page.goto(f"{site}/p/AEB/requirements/")
    tree = page.locator("ul[data-tree]")
    assert tree.get_attribute("role") == "tree"
    first = page.locator("ul[data-tree] > li").first
    assert first.get_attribute("tabindex") == "0"  # one stop in the tab order
    first.focus()
    assert _focused(page) == "SG-01"
    page.keyboard.press("ArrowRight")  # expands: the children are fetched
    page.wait_for_selector(
        "ul[data-tree] > li:first-child[aria-expanded='true'] li[role='treeitem']"
    )
    assert first.get_attribute("aria-expanded") == "true"
    page.keyboard.press("ArrowRight")  # to the first child
    child = _focused(page)
    assert child != "SG-01"
    assert page.evaluate("() => document.activeElement.getAttribute('aria-level')") == "2"
    page.keyboard.press("ArrowLeft")  # a leaf or collapsed: back to its parent
    if _focused(page) != "SG-01":
        page.keyboard.press("ArrowLeft")
    assert _focused(page) == "SG-01"
    page.keyboard.press("ArrowLeft")  # collapses
    assert first.get_attribute("aria-expanded") == "false"
    page.keyboard.press("ArrowDown")
    assert _focused(page) == "SG-02"  # the hidden children are skipped
    page.keyboard.press("End")
    assert _focused(page) == "Without a parent"
    page.keyboard.press("Home")
    assert _focused(page) == "SG-01"
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    code = _focused(page)
    page.keyboard.press("Enter")  # opens the requirement
    page.wait_for_url(f"{site}/p/AEB/requirements/{code}/")


def test_the_tree_works_without_javascript(browser, site):  # noqa: F811
    context = browser.new_context(java_script_enabled=False)
    tab = context.new_page()
    try:
        log_in(tab, site, "vic")
        tab.goto(f"{site}/p/AEB/requirements/")
        tab.click("a.toggle >> nth=0")  # a plain link to the goal's children
        assert "Under SG-01" in tab.inner_text("main")
        assert "?parent=SG-01" in tab.url
        tab.fill("#id_q", "FSR")
        tab.click("button:has-text('Filter')")
        assert "match" in tab.inner_text("main")
    finally:
        context.close()


def test_the_gsn_drawing_zooms_pans_finds_and_opens(page, site):  # noqa: F811
    log_in(page, site, "vic")
    page.goto(f"{site}/p/AEB/gsn/")
    svg = page.locator("[data-gsn-drawing] svg")
    assert svg.get_attribute("data-zoom") == "1.000"
    home = svg.get_attribute("viewBox")
    page.click("button[data-gsn='zoom-in']")
    page.click("button[data-gsn='zoom-in']")
    assert svg.get_attribute("data-zoom") == "1.563"
    box = page.locator("[data-gsn-drawing]").bounding_box()
    before = svg.get_attribute("viewBox")
    page.mouse.move(box["x"] + 200, box["y"] + 200)
    page.mouse.down()
    page.mouse.move(box["x"] + 300, box["y"] + 260, steps=5)
    page.mouse.up()
    assert svg.get_attribute("viewBox") != before  # panned
    page.click("button[data-gsn='fit']")
    assert svg.get_attribute("viewBox") == home
    page.fill("#gsn-search", "FSR-001")
    assert page.inner_text("[data-gsn='found']").endswith("found")
    assert page.locator(".gsn-match").count() >= 1
    page.press("#gsn-search", "Enter")
    assert float(svg.get_attribute("data-zoom")) > 1
    node = page.locator(".gsn-match[data-href]").first
    node.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site}/p/AEB/requirements/FSR-001/")
