"""A fake of the GCS JSON API on loopback, enough for google-cloud-storage's downloads
(``STORAGE_EMULATOR_HOST``): object metadata and media reads, with Range support.

Its one remaining user is tests/runtime/test_image.py; every other Vertex fetch test runs
on fake-gcs-server (the ``fake_gcs_server`` fixture, tests/emulators.py). Delete this
once the image test uses that fixture too."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import google_crc32c


class FakeGcs:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.requests: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                fake.requests.append(self.path)
                url = urllib.parse.urlsplit(self.path)
                match = re.fullmatch(r"(?:/download)?/storage/v1/b/([^/]+)/o/(.+)", url.path)
                if not match:
                    return self._send(404, b'{"error": {"code": 404}}')
                bucket, name = match[1], urllib.parse.unquote(match[2])
                data = fake.objects.get((bucket, name))
                if data is None:
                    body = {"error": {"code": 404, "message": f"No such object: {bucket}/{name}"}}
                    return self._send(404, json.dumps(body).encode())
                query = urllib.parse.parse_qs(url.query)
                if query.get("alt") == ["media"]:
                    return self._media(data)
                return self._send(200, json.dumps(fake.resource(bucket, name, data)).encode())

            def _media(self, data: bytes) -> None:
                crc = base64.b64encode(google_crc32c.Checksum(data).digest()).decode()
                md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
                headers = {"x-goog-hash": f"crc32c={crc},md5={md5}"}
                rng = self.headers.get("Range")
                if rng:
                    first, _, last = rng.removeprefix("bytes=").partition("-")
                    start, end = int(first), int(last) if last else len(data) - 1
                    part = data[start : end + 1]
                    headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(data)}"
                    return self._send(206, part, "application/octet-stream", headers)
                self._send(200, data, "application/octet-stream", headers)

            def _send(self, status, body, ctype="application/json", headers=None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def resource(self, bucket: str, name: str, data: bytes) -> dict:
        return {
            "kind": "storage#object",
            "bucket": bucket,
            "name": name,
            "size": str(len(data)),
            "generation": "1",
            "crc32c": base64.b64encode(google_crc32c.Checksum(data).digest()).decode(),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(),
            "mediaLink": f"{self.host}/download/storage/v1/b/{bucket}/o/"
            f"{urllib.parse.quote(name, safe='')}?alt=media",
        }

    def put_folder(self, bucket: str, prefix: str, folder: Path) -> None:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                key = prefix + path.relative_to(folder).as_posix()
                self.objects[(bucket, key)] = path.read_bytes()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
