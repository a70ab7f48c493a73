"""The core: what the app does, with no HTTP in it. Check → mask → compose → store for an
upload (uploads.py), the visitor's gallery (gallery.py), and the forms every front door
validates with (forms.py)."""
