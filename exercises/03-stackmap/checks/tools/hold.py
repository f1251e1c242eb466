"""Open CONNS plain TCP connections to a server and hold them, sending nothing, for
SECONDS or until SIGTERM: step 1 counts what the kernel attached meanwhile, and ends the
hold once it has seen them all.

    python3 hold.py 198.18.0.2:9100 16 10
"""

from __future__ import annotations

import json
import signal
import socket
import sys


def main() -> int:
    host, port = sys.argv[1].rsplit(":", 1)
    conns, seconds = int(sys.argv[2]), float(sys.argv[3])
    # blocked before the connections open, so a SIGTERM that comes early is kept
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(conns)]
    stopped = signal.sigtimedwait({signal.SIGTERM}, seconds) is not None
    for sock in held:
        sock.close()
    print(json.dumps({"held": len(held), "stopped": stopped}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
