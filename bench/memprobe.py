"""Run prepare_image once in a fresh process and print its peak RSS growth as JSON.

tracemalloc only sees Python's allocator; Pillow keeps decoded pixels in its own C
allocations, so the process's high-water mark is the number that says what a server needs.
Usage: python -m bench.memprobe IMAGE_FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.image_preparation import prepare_image
from bench.procs import read_proc_memory


def main(path: str) -> None:
    raw = Path(path).read_bytes()
    before = read_proc_memory()
    prepared = prepare_image(raw)
    after = read_proc_memory()
    print(json.dumps({"hwm_before_mib": before["VmHWM"], "hwm_after_mib": after["VmHWM"], "bytes": len(prepared.data)}))


if __name__ == "__main__":
    main(sys.argv[1])
