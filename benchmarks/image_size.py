"""The runtime image's expected size, from its lock, without building it.

For every wheel runtime/serve.lock pins (the CUDA build of torch and its libraries), reads
the wheel's size and, from its zip central directory (HTTP range requests to PyPI; no
wheel is downloaded whole), the bytes it unpacks to. Prints the largest packages and the
totals: what a `docker pull` transfers for the venv layer (compressed, roughly the wheels'
size) and what it occupies on disk. The base image (python:3.11-slim-bookworm) comes on
top. Needs network access to PyPI.

    .venv/bin/python benchmarks/image_size.py
"""

from __future__ import annotations

import io
import json
import re
import struct
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.read()


def wheel_url(name: str, version: str, sha256: str) -> str:
    index = json.loads(fetch(f"https://pypi.org/simple/{name}/",
                             {"Accept": "application/vnd.pypi.simple.v1+json"}))  # fmt: skip
    for f in index["files"]:
        if f.get("hashes", {}).get("sha256") == sha256:
            return f["url"]
    raise LookupError(f"{name}=={version}: no file with sha256 {sha256[:12]}… on PyPI")


def sizes(url: str) -> tuple[int, int]:
    """(wheel bytes, unpacked bytes) from the zip's end records, by range requests."""
    head = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(head, timeout=60) as resp:
        total = int(resp.headers["Content-Length"])
    tail = fetch(url, {"Range": f"bytes={max(0, total - 65536)}-{total - 1}"})
    eocd = tail.rfind(b"PK\x05\x06")
    entries, cd_size, cd_offset = struct.unpack("<HII", tail[eocd + 10 : eocd + 20])
    if cd_offset == 0xFFFFFFFF:  # zip64: the real values are in the zip64 end record
        z64 = tail.rfind(b"PK\x06\x06")
        entries, cd_size, cd_offset = struct.unpack("<QQQ", tail[z64 + 32 : z64 + 56])
    cd = fetch(url, {"Range": f"bytes={cd_offset}-{cd_offset + cd_size - 1}"})
    unpacked, pos, stream = 0, 0, io.BytesIO(cd)
    for _ in range(entries):
        stream.seek(pos)
        fixed = stream.read(46)
        usize = struct.unpack("<I", fixed[24:28])[0]
        name_len, extra_len, comment_len = struct.unpack("<HHH", fixed[28:34])
        if usize == 0xFFFFFFFF:  # zip64 extra field holds the size
            extra = cd[pos + 46 + name_len : pos + 46 + name_len + extra_len]
            usize = struct.unpack("<Q", extra[4:12])[0]
        unpacked += usize
        pos += 46 + name_len + extra_len + comment_len
    return total, unpacked


def main() -> int:
    text = (ROOT / "runtime" / "serve.lock").read_text().replace("\\\n", " ")
    pins = re.findall(r"^([\w.-]+)==(\S+)\s+--hash=sha256:([0-9a-f]{64})", text, re.M)

    def one(pin):
        name, version, digest = pin
        return name, sizes(wheel_url(name, version, digest))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, pins))
    results.sort(key=lambda r: -r[1][1])
    print(f"{'package':32} {'wheel MB':>9} {'on disk MB':>11}")
    for name, (wheel, unpacked) in results[:15]:
        print(f"{name:32} {wheel / 1e6:9.0f} {unpacked / 1e6:11.0f}")
    wheels = sum(w for _, (w, _) in results)
    disk = sum(u for _, (_, u) in results)
    cuda = sum(u for n, (_, u) in results if re.match(r"nvidia-|cuda-|triton", n, re.I))
    print(
        f"{len(results)} wheels: {wheels / 1e9:.2f} GB to download, {disk / 1e9:.2f} GB on "
        f"disk ({cuda / 1e9:.2f} GB of it CUDA libraries), plus the python:3.11-slim base"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
