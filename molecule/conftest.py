"""Testinfra suites only make sense inside `molecule verify` (which exports MOLECULE_* variables).

A plain `pytest` from the repository root must not collect them.
"""

import os

if not os.environ.get("MOLECULE_INVENTORY_FILE"):
    collect_ignore_glob = ["*"]
