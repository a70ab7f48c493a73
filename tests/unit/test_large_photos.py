"""A 12 MP photo with a busy background goes all the way through and comes back whole."""

import bson
import numpy as np
import pytest
from PIL import Image

from tests.support import encode, open_png, photo_array


@pytest.fixture(scope="module")
def busy_12mp():
    # Sensor-like noise on every pixel: the cutout's PNG cannot compress below 10 MB.
    rng = np.random.default_rng(7)
    base = Image.fromarray(photo_array("coffee")).resize((4000, 3000), Image.Resampling.BILINEAR)
    noisy = np.asarray(base).astype(np.int16) + rng.normal(0, 12, (3000, 4000, 3)).astype(np.int16)
    return encode(np.clip(noisy, 0, 255).astype(np.uint8), quality=85)


def test_a_12mp_photo_is_processed_stored_and_served_whole(visitor, records, busy_12mp):
    response = visitor.upload(busy_12mp, name="big")
    assert response.status_code == 302
    assert visitor.flashes() == [("success", "Image generated successfully")]
    (record,) = records.list(visitor.id())
    assert record.processed.size > 10 * 1024 * 1024
    assert (record.processed.width, record.processed.height) == (4000, 3000)

    original = visitor.client.get(f"/images/{record.id}/original")
    assert original.data == busy_12mp
    processed = visitor.client.get(f"/images/{record.id}/processed")
    assert processed.data == records.read(record, "processed")
    assert len(processed.data) == record.processed.size
    img = open_png(processed.data)
    assert img.size == (4000, 3000) and img.mode == "RGBA"

    # The record itself stays tiny: the bytes are in GridFS, far from the 16 MB limit.
    doc = records.records.find_one({"user_id": visitor.id()})
    assert len(bson.encode(doc)) < 4096
