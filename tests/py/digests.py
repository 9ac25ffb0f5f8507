"""Write CloudTrail digest files for a local delivery tree, as CloudTrail does.

usage: digests.py ROOT [--bucket NAME] [--hourly] [--sign KEYDIR]

For every account/region (organisation trails included) a chain of digests, each
listing log files with the SHA-256 of their uncompressed content and naming the
previous digest with the SHA-256 of its uncompressed content and its signature.
By default one digest per day folder that holds log files (end time 23:59:59);
with --hourly one per hour, as CloudTrail writes them: from the first day's 00:00
to the last day's 24:00, each listing the files whose name time falls in its hour,
in the folder of its end time (so the 23:00 digest of a day is in the next day's
folder). With --sign, a fresh RSA-2048 key signs every digest with SHA256withRSA
over the documented signing string (end time, bucket/key, hex SHA-256 of the
uncompressed digest, previous signature or "null"); the signatures (hex) go to
ROOT/.signatures.json (key -> [signature, algorithm]: the S3 metadata a test
uploads with each digest) and the public key to KEYDIR/public-keys.json in the
form `aws cloudtrail list-public-keys` prints. Field names, file names and the
signing string follow "CloudTrail digest file structure" and "Custom
implementations of CloudTrail log file integrity validation" (CloudTrail User
Guide). Independent of trailpack's code: hashes from hashlib, signatures from
the cryptography package.
"""

import base64
import datetime as dt
import gzip
import hashlib
import json
import os
import re
import sys
from collections import defaultdict

NAME_TIME = re.compile(r"_(\d{8}T\d{4})Z_")


class Signer:
    def __init__(self, keydir):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        self.fingerprint = hashlib.md5(der).hexdigest()
        os.makedirs(keydir, exist_ok=True)
        with open(os.path.join(keydir, "public-keys.json"), "w") as fh:
            json.dump({"PublicKeyList": [{
                "Value": base64.b64encode(der).decode(),
                "ValidityStartTime": 1262304000.0,
                "ValidityEndTime": 4102444800.0,
                "Fingerprint": self.fingerprint,
            }]}, fh)

    def sign(self, text):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return self.key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def log_files(root):
    """(head, account, region) -> [(delivery time, rel path)]"""
    found = defaultdict(list)
    for dirpath, _, files in os.walk(root):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            parts = rel.split("/")
            if "CloudTrail" not in parts or not f.endswith(".json.gz"):
                continue
            i = parts.index("CloudTrail")
            account, region = parts[i - 1], parts[i + 1]
            y, m, d = parts[i + 2:i + 5]
            t = NAME_TIME.search(f)
            when = (dt.datetime.strptime(t.group(1), "%Y%m%dT%H%M") if t
                    else dt.datetime(int(y), int(m), int(d)))
            found[(tuple(parts[:i - 1]), account, region)].append((when, rel))
    return found


def periods(files, hourly):
    """(start, end, [rel]) in time order."""
    if not hourly:
        by_day = defaultdict(list)
        for when, rel in files:
            y, m, d = rel.split("/CloudTrail/")[1].split("/")[1:4]
            by_day[(int(y), int(m), int(d))].append(rel)
        for day in sorted(by_day):
            start = dt.datetime(*day)
            yield start, start + dt.timedelta(hours=23, minutes=59, seconds=59), by_day[day]
        return
    first = min(w for w, _ in files).replace(hour=0, minute=0)
    last = max(w for w, _ in files).replace(hour=0, minute=0) + dt.timedelta(days=1)
    h = first
    while h < last:
        end = h + dt.timedelta(hours=1)
        yield h, end, [rel for w, rel in files if h <= w < end]
        h = end


def main(argv):
    root, bucket, hourly, signer = argv[0], "trail-bucket", False, None
    rest = argv[1:]
    while rest:
        a = rest.pop(0)
        if a == "--bucket":
            bucket = rest.pop(0)
        elif a == "--hourly":
            hourly = True
        elif a == "--sign":
            signer = Signer(rest.pop(0))
        else:
            bucket = a
    signatures = {}
    fingerprint = signer.fingerprint if signer else "31e8b5433410dfb61a9dc45cc65b22ff"
    for (head, account, region), files in sorted(log_files(root).items()):
        prev = None
        for start, end, rels in periods(files, hourly):
            stamp = end.strftime("%Y%m%dT%H%M%SZ")
            key = "/".join(head + (account, "CloudTrail-Digest", region, end.strftime("%Y/%m/%d"),
                                   f"{account}_CloudTrail-Digest_{region}_trail_{region}_{stamp}.json.gz"))
            logs = []
            for rel in sorted(rels):
                with open(os.path.join(root, rel), "rb") as fh:
                    content = gzip.decompress(fh.read())
                logs.append({"s3Bucket": bucket, "s3Object": rel,
                             "hashValue": hashlib.sha256(content).hexdigest(),
                             "hashAlgorithm": "SHA-256"})
            end_text = end.strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {
                "awsAccountId": account,
                "digestStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "digestEndTime": end_text,
                "digestS3Bucket": bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "newestEventTime": None,
                "oldestEventTime": None,
                "previousDigestS3Bucket": bucket if prev else None,
                "previousDigestS3Object": prev[0] if prev else None,
                "previousDigestHashValue": prev[1] if prev else None,
                "previousDigestHashAlgorithm": "SHA-256" if prev else None,
                "previousDigestSignature": prev[2] if prev else None,
                "logFiles": logs,
            }
            content = json.dumps(body).encode()
            digest_hash = hashlib.sha256(content).hexdigest()
            signature = None
            if signer:
                previous = prev[2] if prev and prev[2] else "null"
                signature = signer.sign(f"{end_text}\n{bucket}/{key}\n{digest_hash}\n{previous}")
                signatures[key] = [signature, "SHA256withRSA"]
            path = os.path.join(root, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(gzip.compress(content))
            prev = (key, digest_hash, signature)
    if signer:
        with open(os.path.join(root, ".signatures.json"), "w") as fh:
            json.dump(signatures, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
