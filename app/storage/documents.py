"""What a record is, as the app sees it, whichever layout its document is stored in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bson import ObjectId

from app.images.outputs import IMAGE_KINDS as KINDS

# Kept with a record to make its result again without the model: the engine's mask, and the
# photo put behind the subject (output `image`).
EXTRAS = ("mask", "backdrop")


class RecordNotFound(LookupError):
    """No record with that id belongs to this visitor."""


@dataclass(frozen=True)
class StoredImage:
    content_type: str
    size: int
    width: int
    height: int
    file_id: str = ""  # the GridFS file; empty for a document in the original layout
    etag: str = ""  # never changes while the record exists: the bytes never do

    @classmethod
    def from_doc(cls, doc: dict) -> StoredImage:
        file_id = str(doc["file_id"])
        return cls(doc["content_type"], doc["size"], doc["width"], doc["height"], file_id,
                   file_id)


@dataclass(frozen=True)
class StoredRecord:
    id: str
    user_id: str
    image_name: str
    created_on: str
    engine: str
    original: StoredImage
    processed: StoredImage
    options: dict
    # Small renditions for the gallery: {kind: {longest side: image}}; records made before
    # renditions existed have none until first asked for.
    thumbnails: dict = field(default_factory=dict)
    mask: StoredImage | None = None  # absent for records made before masks were kept
    backdrop: StoredImage | None = None
    model: str | None = None  # the local engine's model that made the mask

    @classmethod
    def from_doc(cls, doc: dict) -> StoredRecord:
        """A record of the current layout (legacy.record() reads the original app's)."""
        # A name stored as null (an API bug, now refused) is shown and downloaded as none.
        return cls(str(doc["_id"]), doc["user_id"], doc["image_name"] or "", doc["created_on"],
                   doc.get("engine", ""), StoredImage.from_doc(doc["original"]),
                   StoredImage.from_doc(doc["processed"]), doc.get("options", {}),
                   thumbnails_from_doc(doc),
                   *(StoredImage.from_doc(doc[extra]) if doc.get(extra) else None
                     for extra in EXTRAS), doc.get("model"))

    def image(self, kind: str) -> StoredImage:
        """`original` or `processed`, or (not for visitors' URLs) a kept extra."""
        found = getattr(self, kind) if kind in KINDS + EXTRAS else None
        if found is None:
            raise RecordNotFound(kind)
        return found

    def thumbnail(self, kind: str, size: int) -> StoredImage | None:
        return self.thumbnails.get(kind, {}).get(size)


def thumbnails_from_doc(doc: dict) -> dict:
    return {kind: {int(size): StoredImage.from_doc(image) for size, image in sizes.items()}
            for kind, sizes in (doc.get("thumbnails") or {}).items()}


def new_id() -> str:
    """A fresh id, as MongoDB makes them (the visitor's id is one)."""
    return str(ObjectId())


ID_PATTERN = "^[0-9a-f]{24}$"  # as new_id writes ids
_ID = re.compile(ID_PATTERN)


def is_id(value) -> bool:
    """An id as `new_id` writes it: bson also reads upper-case digits as the same id, which
    gave each record thousands of addresses."""
    return isinstance(value, str) and _ID.match(value) is not None


def file_ids(doc: dict) -> list:
    """The GridFS files a document refers to: its images and their renditions."""
    ids = [doc[kind]["file_id"] for kind in KINDS + EXTRAS if isinstance(doc.get(kind), dict)]
    for sizes in (doc.get("thumbnails") or {}).values():
        ids += [image["file_id"] for image in sizes.values()]
    return ids
