"""`flask remove-bg`: photos in files and folders through the core (in this process) or a
running server's `POST /api/v1/remove`, their cutouts written beside each other under one
folder (docs/batch.md)."""
