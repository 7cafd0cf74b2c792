#!/usr/bin/env python3
"""Open N keep-alive TLS connections to a proxy and hold them idle.

Each connection completes a TLS handshake, sends one `GET PATH` with
keep-alive, reads the whole response, and then stays open doing nothing.
When all are open the script writes a one-line summary to --ready-file and
waits until --release-file exists (or --max-hold seconds pass).  It then
checks how many connections the proxy still holds open, closes them all and
prints a final summary line on stdout:

    opened=1000 ok=1000 failed=0 alive=1000 setup_s=1.83

Used by tests/bench/run to measure proxy memory per idle connection.
"""

import argparse
import os
import resource
import select
import socket
import ssl
import sys
import time


def raise_nofile(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def read_response(sock):
    """Read one HTTP/1.1 response; return (status, keep_alive)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(16384)
        if not chunk:
            raise ConnectionError("closed before response head")
        buf += chunk
        if len(buf) > 65536:
            raise ValueError("response head too large")
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    keep_alive = "close" not in headers.get("connection", "").lower()
    if "content-length" in headers:
        need = int(headers["content-length"])
        while len(body) < need:
            chunk = sock.recv(16384)
            if not chunk:
                raise ConnectionError("closed inside body")
            body += chunk
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(16384)
            if not chunk:
                raise ConnectionError("closed inside chunked body")
            body += chunk
    else:
        keep_alive = False
    return status, keep_alive


def still_open(conns):
    """Count connections the peer has not closed (no EOF, no error)."""
    poller = select.poll()
    by_fd = {}
    for s in conns:
        by_fd[s.fileno()] = s
        poller.register(s.fileno(), select.POLLIN | select.POLLERR | select.POLLHUP)
    readable = {fd for fd, _ in poller.poll(0)}
    alive = 0
    for fd, s in by_fd.items():
        if fd not in readable:
            alive += 1
            continue
        # Readable: EOF / close_notify / reset, or a stray TLS record (ticket).
        s.setblocking(False)
        try:
            data = s.recv(1)
            alive += 1 if data else 0
        except ssl.SSLWantReadError:
            alive += 1
        except (OSError, ssl.SSLError):
            pass
    return alive


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/item.xml")
    ap.add_argument("-n", "--count", type=int, default=1000)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--release-file", required=True)
    ap.add_argument("--max-hold", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-connection set-up timeout")
    args = ap.parse_args()

    limit = raise_nofile(args.count + 64)
    if limit < args.count + 16:
        sys.exit(f"RLIMIT_NOFILE is {limit}, need {args.count + 16}")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
               "User-Agent: plextap-bench-idle\r\nAccept: */*\r\n\r\n").encode()

    conns, ok, failed, errors = [], 0, 0, {}
    t0 = time.monotonic()
    deadline = t0 + max(60.0, args.count * 0.1)  # bounded set-up
    for _ in range(args.count):
        if time.monotonic() > deadline:
            failed += args.count - ok - failed
            errors["setup deadline"] = errors.get("setup deadline", 0) + 1
            break
        raw = None
        try:
            raw = socket.create_connection((args.host, args.port), timeout=args.timeout)
            s = ctx.wrap_socket(raw, server_hostname="localhost")
            s.sendall(request)
            status, keep_alive = read_response(s)
            if status != 200 or not keep_alive:
                raise ValueError(f"status={status} keep_alive={keep_alive}")
            s.settimeout(None)
            conns.append(s)
            ok += 1
        except Exception as e:  # noqa: BLE001 - tally every failure kind
            failed += 1
            key = f"{type(e).__name__}: {e}"[:120]
            errors[key] = errors.get(key, 0) + 1
            if raw is not None:
                raw.close()
    setup_s = time.monotonic() - t0

    summary = f"opened={len(conns)} ok={ok} failed={failed} setup_s={setup_s:.2f}"
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(summary + "\n")
    os.replace(tmp, args.ready_file)

    end = time.monotonic() + args.max_hold
    while not os.path.exists(args.release_file) and time.monotonic() < end:
        time.sleep(0.05)

    alive = still_open(conns)
    for s in conns:
        try:
            s.close()
        except OSError:
            pass
    print(f"{summary} alive={alive}")
    for k, v in sorted(errors.items(), key=lambda kv: -kv[1])[:5]:
        print(f"error x{v}: {k}", file=sys.stderr)
    return 0 if failed == 0 and alive == len(conns) else 1


if __name__ == "__main__":
    sys.exit(main())
