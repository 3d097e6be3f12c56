"""Run a worker: `python worker.py [--queues a,b] [--concurrency N]` (same as `aa worker`)."""

import sys

from app.cli import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
