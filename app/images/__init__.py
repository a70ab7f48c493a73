"""Pillow and numpy work on photos: check and decode uploads, compose results, write PNGs.
Nothing here knows about Flask, engines or storage."""
