"""What the page shows after another tab (the same visitor) changed the gallery under it, in
real headless Chromium against the app under gunicorn with the real model (helper 66): a
gallery filled elsewhere is shown full, and a record deleted elsewhere leaves the list when
the page tries to rename, restyle or delete it."""

from __future__ import annotations

import pytest

from tests.browser import Tab, app_server, expect
from tests.support import photo

GONE = "That image does not exist, or it is not yours."
FULL = "Max limit reached. Please remove a record."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with app_server(tmp_path_factory.mktemp("other-tabs-server"), USER_LIMIT="2",
                    UPLOAD_RATE_LIMIT="1000 per minute",
                    UPLOAD_RATE_LIMIT_IP="1000 per minute") as base:
        yield base


class OtherTab:
    """The same visitor's other tab: its cookies, through the API's JSON calls."""

    def __init__(self, tab: Tab):
        self.request, self.base = tab.context.request, tab.base
        self.token = self.request.get(f"{self.base}/api/v1/session").json()["csrf_token"]

    def upload(self, name: str) -> str:
        answer = self.request.post(
            f"{self.base}/api/v1/records", headers={"X-CSRFToken": self.token},
            multipart={"name": name, "image": {"name": f"{name}.jpg", "mimeType": "image/jpeg",
                                               "buffer": photo(size=(160, 120))}})
        assert answer.status == 201, answer.text()
        return answer.json()["id"]

    def delete(self, record_id: str) -> None:
        answer = self.request.delete(f"{self.base}/api/v1/records/{record_id}",
                                     headers={"X-CSRFToken": self.token})
        assert answer.status == 204, answer.text()


def test_a_gallery_filled_in_another_tab_is_shown_full(tab):
    """The page said "remove a record" beside "No images yet" and "(0 used)"."""
    page = tab.open()
    expect(page.locator("#no-records")).to_be_visible()
    other = OtherTab(tab)
    other.upload("one")
    other.upload("two")
    tab.expected_statuses.add(409)
    tab.upload([("three.jpg", photo(size=(160, 120)))], name="three")
    assert tab.messages() == [FULL]
    expect(page.locator("#records .record-name")).to_have_text(["two", "one"])
    expect(page.locator("#usage")).to_contain_text("(2 used)")
    expect(page.locator("#previews li")).to_have_count(1)  # kept, to send once there is room


@pytest.mark.parametrize("action", ["Rename", "Delete", "Edit result"])
def test_a_record_deleted_in_another_tab_leaves_the_list(tab, action):
    """Each dialog said "does not exist" and stayed open over the row, whose links gave
    404s."""
    page = tab.open()
    other = OtherTab(tab)
    record_id = other.upload("gone")
    page.reload()
    expect(page.locator("#records .record-name")).to_have_text(["gone"])
    other.delete(record_id)
    tab.expected_statuses.add(404)
    page.get_by_role("button", name=f"{action} gone").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    if action == "Rename":
        dialog.get_by_label("Image Name").fill("kept")
        dialog.get_by_role("button", name="Save changes").click()
    elif action == "Delete":
        dialog.get_by_role("button", name="Delete", exact=True).click()
    else:
        dialog.get_by_role("button", name="Apply changes").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#no-records")).to_be_visible()
    assert tab.messages() == [GONE]
