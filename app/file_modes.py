"""The data folder is its owner's alone: 0700, and what is made in it 0600 (see docs/operations.md)."""

import os
from pathlib import Path


def keep_data_private(data_dir: Path) -> None:
    """Everything this process creates is its owner's alone (umask 077): the databases hold password
    and key hashes and every conversation. A data folder made before this is closed up too."""
    os.umask(0o077)
    if data_dir.is_dir() and data_dir.stat().st_uid == os.getuid():
        data_dir.chmod(0o700)
