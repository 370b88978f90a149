"""Files that hold the user's voice or conversation are the user's alone: folders 0700, files 0600.

Recordings, event logs and log files are created private whatever the umask, as the config file
is; a file that already exists is made private before it is written again.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: Path) -> Path:
    """Create `path` and any missing parents, each one created here private; existing ones are left as they are."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is cut by the umask; the intent is not
    return path


def private_file(path: Path) -> Path:
    """Make sure `path` exists and, if it is a regular file, is readable by its owner only, before
    anything is written into it (`/dev/stdout` or a named pipe keep their modes)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        if stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path
