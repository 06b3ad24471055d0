"""Child of the durability tests: write the fixture spans, say so, wait to be killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.storage.fixture_data import load_spans
from traceway.storage.duckdb import DuckDBStore

if __name__ == "__main__":
    store = DuckDBStore(Path(sys.argv[1]))
    store.write_spans(load_spans())
    print("written", flush=True)
    time.sleep(120)  # never closes: the parent kills this process with SIGKILL
