"""axe-core (pinned in package.json, run inside real Chromium) finds no WCAG 2.1 A or AA
violation on the page: empty, with results, with each dialog open, on a desktop and on a
phone. axe checks what a machine can (names, roles, contrast, structure); the keyboard and
focus behaviour it cannot judge are tested in test_browser.py and
test_browser_features.py."""

from __future__ import annotations

import pytest

from tests.browser import Tab, app_server, axe_violations, expect
from tests.support import photo

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # The embedded store, so the demo banner is on the page too.
    with app_server(tmp_path_factory.mktemp("a11y-server"), USER_LIMIT="2") as base:
        yield base


@pytest.fixture(params=["desktop", "phone"])
def tab(request, chromium, server):
    # Reduced motion: Bootstrap skips its fades, so no check sees a dialog half faded in.
    opened = Tab(chromium, server, reduced_motion="reduce",
                 **(DESKTOP if request.param == "desktop" else PHONE))
    yield opened
    try:
        opened.assert_clean()
    finally:
        opened.close()


def open_dialog(page, button: str, name: str):
    page.get_by_role("button", name=button).click()
    dialog = page.get_by_role("dialog", name=name)
    expect(dialog).to_be_visible()
    return dialog


def test_the_empty_page(tab):
    page = tab.open()
    expect(page.locator("#demo-banner")).to_be_visible()
    assert axe_violations(page) == []


def test_the_page_with_results_and_each_dialog(tab):
    page = tab.open()
    tab.upload([("chelsea.jpg", photo("chelsea"))], name="cat")
    assert tab.messages() == ["Image generated successfully"]
    # With every optional field of the form shown: the background photo, JPEG's reason.
    page.locator("#upload-form").get_by_label("Photo", exact=True).check()
    expect(page.locator("#upload-form").get_by_label("Background photo")).to_be_visible()
    assert axe_violations(page) == []

    dialog = open_dialog(page, "Rename cat", "Edit image name")
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()

    dialog = open_dialog(page, "Edit result cat", "Edit result: cat")
    assert axe_violations(page) == []
    # With its message shown (a refusal, said in the dialog before anything is sent).
    dialog.get_by_label("Photo", exact=True).check()
    dialog.get_by_role("button", name="Apply changes").click()
    expect(dialog.get_by_role("alert")).to_be_visible()
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Close").first.click()
    expect(dialog).to_be_hidden()

    dialog = open_dialog(page, "Delete cat", "Delete image?")
    assert axe_violations(page) == []
