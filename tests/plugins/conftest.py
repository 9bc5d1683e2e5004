"""The Ansible plugins under test are plain modules: their directories go on the import path."""

import sys
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[2] / "ansible" / "plugins"
for kind in ("filter", "test"):
    sys.path.insert(0, str(PLUGINS / kind))
