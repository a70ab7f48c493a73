"""The page after an edit: the result keeps its URLs on the server, so the page gives each
version of it URLs of its own, or a browser would keep showing the picture it already has
(the browser test checks the pixels; this checks the markup), and the "Edit result" button
carries the record's options for the dialog."""

import re

from tests.support import photo


def versions(page: str, record_id: str) -> set[str]:
    return set(re.findall(rf"/images/{record_id}/processed/(?:160|320)\?v=([0-9a-f]+)", page))


def result_button(page: str) -> dict[str, str]:
    tag = re.search(r'<button[^>]*class="[^"]*result-btn[^"]*"[^>]*>', page, re.S)[0]
    return dict(re.findall(r'data-([a-z0-9-]+)="([^"]*)"', tag))


def test_an_edit_gives_the_result_new_urls_and_the_button_its_options(visitor, fake_engine):
    visitor.upload(photo(), name="cat")
    (record_id,) = visitor.record_ids()
    before = visitor.page().get_data(as_text=True)
    (first,) = versions(before, record_id)
    assert result_button(before) == {
        "record-id": record_id, "record-name": "cat", "edit-url": f"/edit/{record_id}",
        "preview": f"/images/{record_id}/processed/160?v={first}",
        "preview2x": f"/images/{record_id}/processed/320?v={first}",
        # No colour of its own: the dialog keeps the last one picked (helper 77).
        "output": "transparent", "background": "", "crop": "false",
        "crop-margin": "5", "format": "png", "refine-edges": "false",
        "has-backdrop": "false", "bs-toggle": "modal", "bs-target": "#result-modal"}

    response = visitor.client.post(
        f"/edit/{record_id}", content_type="multipart/form-data",
        data={"output": "color", "background": "#FF0000", "crop": "true", "crop_margin": "7",
              "format": "webp", "refine_edges": "true", "csrf_token": visitor.token})
    assert response.status_code == 302
    after = visitor.page().get_data(as_text=True)
    (second,) = versions(after, record_id)
    assert second != first
    # The original did not change: its URLs neither (src and srcset; the cropped result
    # and the original no longer match pixel for pixel, so there is no slider over them).
    assert re.findall(rf"/images/{record_id}/original/160[^\"\s]*", after) == [
        f"/images/{record_id}/original/160"] * 2
    assert 'class="compare"' in before and 'class="compare"' not in after
    assert "The result is cropped, so it is shown beside the original instead." in after
    button = result_button(after)
    assert {key: button[key] for key in ("output", "background", "crop", "crop-margin",
                                         "format", "refine-edges", "preview")} == {
        "output": "color", "background": "#ff0000", "crop": "true", "crop-margin": "7",
        "format": "webp", "refine-edges": "true",
        "preview": f"/images/{record_id}/processed/160?v={second}"}
