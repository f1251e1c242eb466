"""Open CONNS plain TCP connections to a server and hold them SECONDS, sending nothing:
step 1 counts what the kernel attached meanwhile.

    python3 hold.py 198.18.0.2:9100 16 3
"""

from __future__ import annotations

import json
import socket
import sys
import time


def main() -> int:
    host, port = sys.argv[1].rsplit(":", 1)
    conns, seconds = int(sys.argv[2]), float(sys.argv[3])
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(conns)]
    time.sleep(seconds)
    for sock in held:
        sock.close()
    print(json.dumps({"held": len(held), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
