"""`flask remove-bg`: photos in files and folders through the core (in this process) or a
running server's `POST /api/v1/remove`, their cutouts written beside each other under one
folder. files.py (what to do: the walk, the names, atomic writes, what is already done),
options.py (the upload's output options as command-line options), senders.py (one photo
made: here or by a server), runner.py (the photos in parallel, progress and summary),
command.py (the click command)."""
