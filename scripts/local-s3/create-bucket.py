#!/usr/bin/python3
"""Waits until a fresh S3 endpoint accepts signed requests, then creates one empty bucket.

Usage: create-bucket.py ENDPOINT BUCKET TIMEOUT_SECONDS PID
Reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION from the environment.
PID is the radosgw process: if it exits, waiting stops at once.

Standard library only, so local-s3.sh works before `npm ci` and needs nothing beyond
what ceph-common already pulls in (/usr/bin/python3).
"""

import datetime
import hashlib
import hmac
import http.client
import os
import sys
import time
import urllib.parse

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signed_headers(method: str, host: str, path: str, query: str, body: bytes,
                   access_key: str, secret_key: str, region: str) -> dict:
    """AWS Signature Version 4 headers for one path-style S3 request."""
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    headers = {"host": host, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    names = sorted(headers)
    canonical = "\n".join([
        method,
        path,
        query,
        "".join(f"{n}:{headers[n]}\n" for n in names),
        ";".join(names),
        payload_hash,
    ])
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(("AWS4" + secret_key).encode(), day)
    for part in (region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={signature}")
    return headers


def request(endpoint: urllib.parse.SplitResult, method: str, path: str, query: str = "",
            body: bytes = b"", timeout: float = 60) -> tuple:
    headers = signed_headers(method, endpoint.netloc, path, query, body,
                             os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"],
                             os.environ.get("AWS_REGION", "us-east-1"))
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=timeout)
    try:
        conn.request(method, path + ("?" + query if query else ""), body=body or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def process_alive(pid: int) -> bool:
    """A zombie counts as dead: PID 1 may take seconds to reap the daemonized gateway."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def main() -> int:
    try:
        return create_bucket()
    except OSError as err:
        print(f"S3 request to {sys.argv[1]} failed: {err!r}", file=sys.stderr)
        return 1


def create_bucket() -> int:
    endpoint = urllib.parse.urlsplit(sys.argv[1])
    bucket = sys.argv[2]
    deadline = time.monotonic() + float(sys.argv[3])
    rgw_pid = int(sys.argv[4])

    # 1. Ready = a signed ListBuckets succeeds (proves the frontend listens and the user is known).
    last = "no answer"
    while True:
        try:
            # Short: whatever else might listen on the port must not stall the wait.
            status, body = request(endpoint, "GET", "/", timeout=2)
            if status == 200:
                break
            last = f"HTTP {status}: {one_line(body)}"
        except OSError as err:
            last = str(err)
        if not process_alive(rgw_pid):
            print(f"radosgw (pid {rgw_pid}) exited; last answer: {last}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"S3 not ready at {sys.argv[1]} in time; last answer: {last}", file=sys.stderr)
            return 1
        time.sleep(0.05)

    # 2. CreateBucket. It can take ~30 s when a gateway that died (after a port clash) left its
    # watches behind, hence the long timeout. 409 BucketAlreadyOwnedByYou counts as success.
    path = "/" + urllib.parse.quote(bucket, safe="")
    status, body = request(endpoint, "PUT", path)
    if status != 200 and not (status == 409 and "BucketAlreadyOwnedByYou" in body):
        print(f"CreateBucket {bucket} failed: HTTP {status}: {one_line(body)}", file=sys.stderr)
        return 1

    # 3. The contract promises an existing, empty bucket: check it.
    status, body = request(endpoint, "GET", path, "list-type=2&max-keys=1")
    if status != 200 or "<KeyCount>0</KeyCount>" not in body:
        print(f"bucket {bucket} is not an empty, listable bucket: HTTP {status}: {one_line(body)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
