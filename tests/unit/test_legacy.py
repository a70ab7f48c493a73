"""Documents in the original app's layout: served as they are, and migrated to GridFS by
`flask migrate-images`, which can be stopped and run again without loss."""

import base64
import io

import pytest
from PIL import Image

from tests.support import encode, open_png, photo, photo_array

JPEG = photo("chelsea")
PNG = encode(photo_array("coffee"), "PNG")


def original_document(user_id, name="Raven"):
    """Exactly the shape the original app wrote (the original README's schema)."""
    return {"user_id": user_id, "image_name": name,
            "original_image_base64": base64.b64encode(JPEG).decode(),
            "processed_image_base64": base64.b64encode(PNG).decode(),
            "created_on": "2023-12-14 10:29:11"}


@pytest.fixture
def legacy_id(visitor, records):
    visitor.page()
    return str(records.records.insert_one(original_document(visitor.id())).inserted_id)


def test_listed_with_its_name_and_date(visitor, legacy_id, records):
    html = visitor.client.get("/").get_data(as_text=True)
    assert "Raven" in html and "2023-12-14 10:29:11" in html
    (record,) = records.list(visitor.id())
    assert record.id == legacy_id
    assert (record.original.content_type, record.original.width) == ("image/jpeg", 451)
    assert (record.processed.content_type, record.processed.width) == ("image/png", 600)


def test_images_are_served_with_caching(visitor, legacy_id):
    original = visitor.client.get(f"/images/{legacy_id}/original")
    assert original.status_code == 200 and original.data == JPEG
    assert original.mimetype == "image/jpeg"
    processed = visitor.client.get(f"/images/{legacy_id}/processed")
    assert processed.data == PNG and open_png(processed.data).size == (600, 400)
    again = visitor.client.get(f"/images/{legacy_id}/processed",
                               headers={"If-None-Match": processed.headers["ETag"]})
    assert again.status_code == 304


def test_renamed_and_deleted(visitor, legacy_id, records):
    assert visitor.rename(legacy_id, {"record_name": "Crow"}).status_code == 200
    assert records.get(visitor.id(), legacy_id).image_name == "Crow"
    assert visitor.delete(legacy_id).status_code == 200
    assert records.list(visitor.id()) == []


def test_they_count_towards_the_limit(visitor, legacy_id, records, fake_engine):
    records.records.insert_one(original_document(visitor.id(), "Second"))
    visitor.upload(photo(), name="third")
    assert visitor.flashes()[-1] == ("danger", "Max limit reached. Please remove a record.")


def test_not_visible_to_other_visitors(other_visitor, legacy_id):
    assert other_visitor.client.get(f"/images/{legacy_id}/original").status_code == 404


def test_a_damaged_document_does_not_break_the_page(visitor, records):
    visitor.page()
    broken = {**original_document(visitor.id(), "Broken"), "original_image_base64": "%%%"}
    record_id = str(records.records.insert_one(broken).inserted_id)
    assert "Broken" in visitor.client.get("/").get_data(as_text=True)
    response = visitor.client.get(f"/images/{record_id}/original")
    assert response.status_code == 200 and response.data == b""


@pytest.mark.parametrize("missing", [{"image_name": None}, {"created_on": None},
                                     {"image_name": None, "created_on": None}, "image_name"])
def test_a_document_without_a_name_or_date_is_served(visitor, records, missing):
    """The original app did not check its fields: a null or absent name or date is shown
    as none, and its images and downloads are served (a null name answered 500)."""
    visitor.page()
    doc = original_document(visitor.id())
    if isinstance(missing, dict):
        doc.update(missing)
    else:
        del doc[missing]
    record_id = str(records.records.insert_one(doc).inserted_id)
    assert visitor.client.get("/").status_code == 200
    for path in (f"/images/{record_id}/processed", f"/images/{record_id}/processed?download=1",
                 f"/images/{record_id}/original?download=1"):
        response = visitor.client.get(path)
        assert response.status_code == 200, path
        assert response.data in (JPEG, PNG)
    download = visitor.client.get(f"/images/{record_id}/processed?download=1")
    named = doc.get("image_name") or ""
    assert download.headers["Content-Disposition"] == (
        f"attachment; filename={named or 'image'}.png")
    listed = visitor.client.get("/api/v1/records").get_json()["records"]
    assert [(item["id"], item["image_name"], item["created_on"]) for item in listed] == [
        (record_id, named, doc.get("created_on") or "")]


def migrate(app, *args):
    result = app.test_cli_runner().invoke(args=["migrate-images", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_migration_moves_bytes_to_gridfs_and_is_idempotent(app, visitor, legacy_id, records):
    assert migrate(app) == ("Migrated 1 record(s); 0 left in the old layout.\n"
                            "Made renditions for 1 record(s).\n")
    doc = records.records.find_one({})
    assert "original_image_base64" not in doc and "processed_image_base64" not in doc
    assert doc["slot"] == f"{visitor.id()}/0"
    record = records.get(visitor.id(), legacy_id)
    assert record.original.file_id and record.engine == "rapidapi"
    assert records.read(record, "original") == JPEG
    assert visitor.client.get(f"/images/{legacy_id}/processed").data == PNG
    assert "Raven" in visitor.client.get("/").get_data(as_text=True)

    assert migrate(app) == ("Migrated 0 record(s); 0 left in the old layout.\n"
                            "Made renditions for 0 record(s).\n")
    assert len(list(records.files.find({}))) == 2 + 4  # two images, two renditions of each


def test_an_interrupted_migration_resumes_without_loss_or_duplicates(app, visitor, records,
                                                                     monkeypatch):
    visitor.page()
    ids = [records.records.insert_one(original_document(visitor.id(), f"r{n}")).inserted_id
           for n in range(3)]
    real_update = records.records.update_one
    calls = {"n": 0}

    def crash_on_the_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the operator pressed Ctrl-C mid-record
        return real_update(*args, **kwargs)

    monkeypatch.setattr(records.records, "update_one", crash_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        from app.storage import legacy

        legacy.migrate(records)
    monkeypatch.setattr(records.records, "update_one", real_update)

    assert migrate(app) == ("Migrated 2 record(s); 0 left in the old layout.\n"
                            "Made renditions for 3 record(s).\n")
    for oid in ids:
        files = list(records.files.find({"metadata.legacy_id": oid}))
        assert len(files) == 2  # the files stored before the crash were reused
        record = records.get(visitor.id(), str(oid))
        assert records.read(record, "original") == JPEG
        assert records.read(record, "processed") == PNG
    assert len(list(records.files.find({}))) == 3 * (2 + 4)


def test_deleting_a_half_migrated_record_leaves_no_files(app, visitor, legacy_id, records,
                                                         monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(records.records, "update_one", crash)
    from app.storage import legacy

    with pytest.raises(KeyboardInterrupt):
        legacy.migrate(records)
    monkeypatch.undo()
    assert len(list(records.files.find({}))) == 2
    assert visitor.delete(legacy_id).status_code == 200
    assert list(records.files.find({})) == []


def test_renditions_of_an_old_record_are_made_on_first_request(visitor, legacy_id, records):
    assert records.get(visitor.id(), legacy_id).thumbnails == {}
    first = visitor.client.get(f"/images/{legacy_id}/processed/320")
    assert first.status_code == 200 and first.mimetype == "image/webp"
    img = Image.open(io.BytesIO(first.data))
    assert img.format == "WEBP" and max(img.size) <= 320
    record = records.get(visitor.id(), legacy_id)
    assert set(record.thumbnails["processed"]) == {160, 320}
    assert "original" not in record.thumbnails  # only what was asked for
    files = len(list(records.files.find({})))
    again = visitor.client.get(f"/images/{legacy_id}/processed/160")
    assert again.status_code == 200
    assert len(list(records.files.find({}))) == files  # stored once, then served
    assert visitor.delete(legacy_id).status_code == 200
    assert list(records.files.find({})) == []  # the renditions go with the record


def test_a_damaged_old_image_has_no_rendition(app, visitor, records):
    visitor.page()
    broken = {**original_document(visitor.id(), "Broken"), "original_image_base64": "%%%"}
    record_id = str(records.records.insert_one(broken).inserted_id)
    assert visitor.client.get(f"/images/{record_id}/original/160").status_code == 404
    assert migrate(app).endswith("Made renditions for 1 record(s); 1 image(s) could not be "
                                 "read.\n")


def test_sweep_orphans_command(app, records):
    records.files.put(b"orphan")
    result = app.test_cli_runner().invoke(args=["sweep-orphans", "--older-than-minutes", "0"])
    assert result.exit_code == 0 and result.output == "Deleted 1 orphan file(s).\n"
