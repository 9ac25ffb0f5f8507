"""Write CloudTrail digest files for a local delivery tree, as CloudTrail does.

usage: digests.py ROOT [BUCKET]

For every account/region (organisation trails included) one digest per day folder
that holds log files, chained in day order: each lists its day's log files with the
SHA-256 of their uncompressed content, and names the previous digest with the
SHA-256 of its uncompressed content and its signature (none here: a local copy
carries no S3 metadata, so the chain is of hashes). Field names and the file name
follow "CloudTrail digest file structure" (CloudTrail User Guide). Independent of
trailpack's code: the hashes come from Python's hashlib.
"""

import gzip
import hashlib
import json
import os
import sys
from collections import defaultdict


def main(root, bucket="trail-bucket"):
    days = defaultdict(list)  # (prefix parts, account, region) -> [(ymd, key)]
    for dirpath, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            parts = rel.split("/")
            if "CloudTrail" not in parts or not f.endswith(".json.gz"):
                continue
            i = parts.index("CloudTrail")
            account, region = parts[i - 1], parts[i + 1]
            ymd = "/".join(parts[i + 2:i + 5])
            head = tuple(parts[:i - 1])
            days[(head, account, region)].append((ymd, rel))
    for (head, account, region), files in sorted(days.items()):
        prev = None
        by_day = defaultdict(list)
        for ymd, rel in files:
            by_day[ymd].append(rel)
        for ymd in sorted(by_day):
            y, m, d = ymd.split("/")
            end = f"{y}-{m}-{d}T23:59:59Z"
            key = "/".join(head + (account, "CloudTrail-Digest", region, y, m, d,
                                   f"{account}_CloudTrail-Digest_{region}_trail_{region}_{y}{m}{d}T235959Z.json.gz"))
            logs = []
            for rel in sorted(by_day[ymd]):
                with open(os.path.join(root, rel), "rb") as fh:
                    content = gzip.decompress(fh.read())
                logs.append({"s3Bucket": bucket, "s3Object": rel,
                             "hashValue": hashlib.sha256(content).hexdigest(),
                             "hashAlgorithm": "SHA-256"})
            body = {
                "awsAccountId": account,
                "digestStartTime": f"{y}-{m}-{d}T00:00:00Z",
                "digestEndTime": end,
                "digestS3Bucket": bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
                "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": bucket if prev else None,
                "previousDigestS3Object": prev[0] if prev else None,
                "previousDigestHashValue": prev[1] if prev else None,
                "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                "previousDigestSignature": None,
                "logFiles": logs,
            }
            content = json.dumps(body).encode()
            path = os.path.join(root, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(gzip.compress(content))
            prev = (key, hashlib.sha256(content).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
