#!/usr/bin/env python3
"""Independent checks of trailpack output, with pyarrow and DuckDB.

Nothing here imports or calls trailpack: the schema file is read with tomllib,
Parquet with pyarrow/DuckDB, input files with gzip/json.

  trailcheck.py roundtrip INPUT_DIR OUTPUT_DIR SCHEMA_TOML
      Rebuild every record from its row (columns + unmapped) and compare the
      multiset of rebuilt records with the multiset of input records, after the
      documented normalisations. Prints "roundtrip OK: N records" or the diffs.
  trailcheck.py sql OUTPUT_DIR "SELECT ... FROM t ..."
      Run SQL in DuckDB over the output (view t, hive partitioning); prints JSON rows.
  trailcheck.py trino OUTPUT_DIR FILE.sql [FILE.sql ...]
      Parse each file as Trino (Athena) SQL with sqlglot, translate to DuckDB and run
      the statements in order over the output (table `cloudtrail`, partition values
      as strings, UTC); prints the last statement's rows as JSON.
  trailcheck.py s3-put ENDPOINT BUCKET[@REGION] PREFIX LOCAL_DIR
      Create the bucket (if needed; in REGION if given) and upload every file of
      LOCAL_DIR under PREFIX.
  trailcheck.py s3-put-many ENDPOINT BUCKET ACCOUNTS REGIONS DAYS FILES
      Create the bucket and upload ACCOUNTS x REGIONS x DAYS day folders (from
      2024-01-01) of FILES small log files each, one record per file.
  trailcheck.py s3-compare ENDPOINT BUCKET PREFIX LOCAL_OUTPUT_DIR
      Read the curated dataset under s3://BUCKET/PREFIX with pyarrow's S3 filesystem
      and compare it, row for row, with the local dataset; prints "equal: N rows".
  trailcheck.py s3-keys ENDPOINT BUCKET PREFIX
      List the keys under a prefix (JSON), with their server-side encryption.
  trailcheck.py glue-table ENDPOINT DB TABLE
      The Glue table and its partitions, as JSON.
  trailcheck.py s3-parquet-rows ENDPOINT S3_FOLDER
      Every row of the Parquet files under an s3:// folder, read by pyarrow (JSON).
  trailcheck.py glue-create-table ENDPOINT DB TABLE COLUMNS_JSON
      Create a Parquet table with these [name, type] columns (to test evolution).
  trailcheck.py iam-user ENDPOINT NAME POLICY_JSON
      Create an IAM user whose only permissions are POLICY_JSON; prints its access key.
  trailcheck.py enforce-iam ENDPOINT on|off
      Make the S3/Glue server (moto) check every request against the caller's IAM
      policies, or stop checking.
  trailcheck.py meta FILE.parquet
      Print Parquet metadata facts as JSON (codec, statistics, page index, ...).
"""
import collections
import datetime as dt
import gzip
import json
import os
import re
import sys
import tomllib

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def load_schema(path):
    with open(path, "rb") as f:
        return tomllib.load(f)["column"]


def input_records(root):
    """Every record of every event file under root (digests and others skipped)."""
    return [r for _, r in keyed_input_records(root)]


def keyed_input_records(root):
    """(AWSLogs/... key of its file, record) for every record under root."""
    out = []
    for d, _, files in os.walk(root):
        for name in sorted(files):
            p = os.path.join(d, name)
            if "CloudTrail-Digest" in p or name.startswith(".") or "ConfigWritabilityCheckFile" in name:
                continue
            if not re.search(r"/\d{12}/CloudTrail[^/]*/[^/]+/\d{4}/\d{2}/\d{2}/", p.replace(os.sep, "/")):
                continue
            raw = open(p, "rb").read()
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            try:
                doc = json.loads(raw)
            except ValueError:
                continue  # bad files are tested elsewhere
            if isinstance(doc, dict) and isinstance(doc.get("Records"), list):
                rel = p.replace(os.sep, "/")
                key = rel[rel.index("AWSLogs/"):] if "AWSLogs/" in rel else rel
                out.extend((key, r) for r in doc["Records"])
    return out


def parse_ts(s):
    """Microseconds since the epoch for ISO 8601 text, or None."""
    if not isinstance(s, str):
        return None
    m = re.fullmatch(r"(.*[T t ]\d\d:?\d\d:?\d\d)[.,](\d+)(.*)", s)
    if m:
        frac = m.group(2)
        if len(frac) > 6:
            if set(frac[6:]) != {"0"}:
                return None
            frac = frac[:6]
        s = m.group(1) + "." + frac.ljust(6, "0") + m.group(3)
    try:
        t = dt.datetime.fromisoformat(s.replace("z", "Z"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def is_number_text(s):
    try:
        v = json.loads(s)
    except ValueError:
        return False
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def canon_scalar(kind, v):
    """The documented normalisations: timestamp and boolean spelling, numbers in string columns."""
    if kind == "timestamp":
        t = v if isinstance(v, int) and not isinstance(v, bool) else parse_ts(v)
        return ["TS", t] if t is not None else v
    if kind == "boolean":
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        return v
    if kind == "string":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return ["NUM", float(v)]
        if isinstance(v, str) and is_number_text(v):
            return ["NUM", float(json.loads(v))]
    return v


class Canon:
    def __init__(self, columns):
        self.kinds = {}
        self.structs = {}
        for c in columns:
            if c.get("role") in ("unmapped", "derived", "source"):
                continue  # derived: copies inside JSON columns, compared exactly
            self.kinds[tuple(c["path"].split("."))] = c["type"]
            if c["type"] == "struct_list":
                self.structs[tuple(c["path"].split("."))] = {f["key"]: f["type"] for f in c["fields"]}

    def __call__(self, obj, path=()):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                p = path + (k,)
                kind = self.kinds.get(p)
                if kind == "struct_list" and isinstance(v, list):
                    fields = self.structs[p]
                    v = [
                        {fk: canon_scalar(fields[fk], fv) if fk in fields else fv for fk, fv in e.items()}
                        if isinstance(e, dict) else e
                        for e in v
                    ]
                    out[k] = v
                elif kind in ("timestamp", "boolean", "string"):
                    out[k] = canon_scalar(kind, v)
                else:
                    out[k] = self(v, p) if isinstance(v, dict) else v
            return out
        return obj


def set_path(obj, keys, value):
    for k in keys[:-1]:
        obj = obj.setdefault(k, {})
    obj[keys[-1]] = value


def deep_merge(a, b):
    for k, v in b.items():
        if k in a and isinstance(a[k], dict) and isinstance(v, dict):
            deep_merge(a[k], v)
        else:
            a[k] = v
    return a


def output_rows(out_dir, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for d, _, files in os.walk(out_dir):
        rel = os.path.relpath(d, out_dir)
        if any(part.startswith(".") and part != "." for part in rel.split(os.sep)):
            continue  # staging folders are not part of the dataset
        for name in sorted(files):
            if not name.endswith(".parquet"):
                continue
            t = pq.read_table(os.path.join(d, name))
            for c in columns:
                if c["type"] == "timestamp":
                    i = t.schema.get_field_index(c["name"])
                    t = t.set_column(i, c["name"], t[c["name"]].cast(pa.int64()))
            rows.extend(t.to_pylist())
    return rows


def rebuild(row, columns):
    rec = {}
    for c in columns:
        v = row[c["name"]]
        if v is None or c.get("role") in ("unmapped", "derived", "source"):
            continue
        keys = c["path"].split(".")
        if c["type"] == "json":
            v = json.loads(v)
        elif c["type"] == "struct_list":
            v = [{f["key"]: e[f["name"]] for f in c["fields"] if e[f["name"]] is not None} for e in v]
        set_path(rec, keys, v)
    if row.get("unmapped") is not None:
        deep_merge(rec, json.loads(row["unmapped"]))
    return rec


def derived_mismatches(rows, columns):
    """Derived columns must equal the member of their JSON column: a string member as
    itself, a number as its JSON text, anything else (or absence) as null."""
    by_path = {c["path"]: c["name"] for c in columns if c.get("role") is None}
    derived = []
    for c in columns:
        if c.get("role") == "derived":
            parent, key = c["path"].rsplit(".", 1)
            derived.append((c["name"], by_path[parent], key))
    bad = []
    for r in rows:
        for name, source, key in derived:
            text = r[source]
            member = None
            if text is not None:
                obj = json.loads(text)
                if isinstance(obj, dict):
                    member = obj.get(key)
            if isinstance(member, bool) or not isinstance(member, (str, int, float)):
                want_null = True
            else:
                want_null = False
            got = r[name]
            if want_null:
                ok = got is None
            elif isinstance(member, str):
                ok = got == member
            else:
                ok = got is not None and json.loads(got) == member
            if not ok:
                bad.append({"column": name, "value": got, "member": member})
    return bad


def dumps(o):
    return json.dumps(o, sort_keys=True, ensure_ascii=False)


def roundtrip(in_dir, out_dir, schema_path):
    columns = load_schema(schema_path)
    canon = Canon(columns)
    names = {c["name"] for c in columns}
    rows = output_rows(out_dir, columns)
    for r in rows:
        extra = set(r) - names
        if extra:
            print(f"unexpected columns in a data file: {sorted(extra)}")
            return 1
    bad = derived_mismatches(rows, columns)
    if bad:
        print(f"derived columns differ from their JSON members in {len(bad)} rows, e.g.:")
        for b in bad[:3]:
            print("  ", b)
        return 1
    keyed = keyed_input_records(in_dir)
    got = collections.Counter(dumps(canon(rebuild(r, columns))) for r in rows)
    want = collections.Counter(dumps(canon(r)) for _, r in keyed)
    # Provenance: each row names an input object that holds exactly that record.
    held = {(k, dumps(canon(r))) for k, r in keyed}
    strays = [r.get("source_object") for r in rows
              if (r.get("source_object"), dumps(canon(rebuild(r, columns)))) not in held]
    if strays:
        print(f"provenance FAILED: {len(strays)} rows name an object that does not hold them, e.g. {strays[:3]}")
        return 1
    if got == want:
        print(f"roundtrip OK: {sum(got.values())} records")
        return 0
    missing = want - got
    invented = got - want
    print(f"roundtrip FAILED: {sum(want.values())} input records, {sum(got.values())} rows; "
          f"{sum(missing.values())} lost, {sum(invented.values())} invented")
    for k in list(missing)[:3]:
        print("LOST    ", k[:2000])
    for k in list(invented)[:3]:
        print("INVENTED", k[:2000])
    return 1


def sql(out_dir, query):
    import duckdb

    con = duckdb.connect()
    glob = os.path.join(out_dir, "account=*", "region=*", "day=*", "*.parquet")
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)")
    cur = con.execute(query)
    cols = [d[0] for d in cur.description]
    out = [dict(zip(cols, row)) for row in cur.fetchall()]
    print(json.dumps(out, default=str))
    return 0


def trino(out_dir, files):
    import duckdb
    import sqlglot

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = os.path.join(out_dir, "account=*", "region=*", "day=*", "*.parquet")
    con.execute(
        f"CREATE VIEW cloudtrail AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, hive_types_autocast = false)"
    )
    cur = None
    for f in files:
        text = open(f).read()
        for stmt in sqlglot.parse(text, read="trino", error_level=sqlglot.ErrorLevel.RAISE):
            if stmt is None:
                continue
            cur = con.execute(stmt.sql(dialect="duckdb"))
    cols = [d[0] for d in cur.description] if cur is not None and cur.description else []
    rows = [dict(zip(cols, r)) for r in cur.fetchall()] if cols else []
    print(json.dumps(rows, default=str))
    return 0


def s3_client(endpoint):
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def s3_put(endpoint, bucket, prefix, local):
    from concurrent.futures import ThreadPoolExecutor

    s3 = s3_client(endpoint)
    bucket, _, region = bucket.partition("@")
    try:
        if region:
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        else:
            s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    # Digest signatures written by digests.py --sign: uploaded as the digests'
    # metadata, as CloudTrail delivers them.
    signatures = {}
    sig_file = os.path.join(local, ".signatures.json")
    if os.path.exists(sig_file):
        with open(sig_file) as fh:
            signatures = json.load(fh)
    jobs = []
    for d, _, files in os.walk(local):
        for f in files:
            p = os.path.join(d, f)
            if p == sig_file:
                continue
            rel = os.path.relpath(p, local).replace(os.sep, "/")
            extra = {}
            if rel in signatures:
                sig, alg = signatures[rel]
                extra = {"Metadata": {"signature": sig, "signature-algorithm": alg}}
            jobs.append((p, prefix + rel, extra))
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda j: s3.upload_file(j[0], bucket, j[1], ExtraArgs=j[2] or None), jobs))
    print(f"uploaded {len(jobs)}")
    return 0


def s3_put_many(endpoint, bucket, accounts, regions, days, files):
    from concurrent.futures import ThreadPoolExecutor

    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket=bucket)
    start = dt.date(2024, 1, 1)
    region_names = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2",
                    "eu-west-3", "eu-central-1", "eu-north-1", "ap-south-1", "ap-northeast-1",
                    "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
                    "ca-central-1", "sa-east-1"][: int(regions)]
    jobs = []
    for a in range(int(accounts)):
        account = f"{100000000000 + a:012d}"
        for region in region_names:
            for d in range(int(days)):
                day = start + dt.timedelta(days=d)
                for f in range(int(files)):
                    minute = 150 + f * (1280 // int(files))  # none within the late window
                    t = f"{day:%Y%m%d}T{minute // 60:02d}{minute % 60:02d}Z"
                    key = (f"AWSLogs/o-abcd1234ef/{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"
                           f"{account}_CloudTrail_{region}_{t}_{f:04d}.json.gz")
                    rec = {"eventVersion": "1.08", "eventID": f"{account}-{region}-{d}-{f}",
                           "eventTime": f"{day}T{minute // 60:02d}:{minute % 60:02d}:00Z",
                           "eventName": "GetObject", "eventSource": "s3.amazonaws.com",
                           "awsRegion": region, "recipientAccountId": account}
                    jobs.append((key, gzip.compress(json.dumps({"Records": [rec]}).encode())))
    with ThreadPoolExecutor(32) as ex:
        list(ex.map(lambda j: s3.put_object(Bucket=bucket, Key=j[0], Body=j[1]), jobs))
    print(f"uploaded {len(jobs)}")
    return 0


def dataset_table(fs, root):
    import pyarrow.dataset as ds

    d = ds.dataset(root, filesystem=fs, format="parquet",
                   partitioning=ds.partitioning(flavor="hive"), exclude_invalid_files=False,
                   ignore_prefixes=[".", "_"])
    t = d.to_table()
    if "source_object" in t.column_names:
        # s3://bucket/prefix/AWSLogs/... and a local AWSLogs/... key name the same object.
        import pyarrow.compute as pc

        i = t.column_names.index("source_object")
        col = pc.replace_substring_regex(t["source_object"].cast("string"), "^.*?AWSLogs/", "AWSLogs/")
        t = t.set_column(i, "source_object", col)
    cols = [c for c in ["account", "region", "day"] if c in t.column_names]
    t = t.select(sorted(t.column_names))
    for c in cols:
        t = t.set_column(t.column_names.index(c), c, t[c].cast("string"))
    return t.sort_by([("account", "ascending"), ("region", "ascending"), ("day", "ascending"),
                      ("eventid", "ascending"), ("eventtime", "ascending"), ("requestid", "ascending")])


def s3_compare(endpoint, bucket, prefix, local):
    from pyarrow import fs

    s3fs = fs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    remote = dataset_table(s3fs, f"{bucket}/{prefix}".rstrip("/"))
    here = dataset_table(fs.LocalFileSystem(), os.path.abspath(local))
    if remote.num_rows == here.num_rows and remote.equals(here):
        print(f"equal: {remote.num_rows} rows")
        return 0
    print(f"DIFFERENT: s3 {remote.num_rows} rows, local {here.num_rows} rows")
    return 1


def local_compare(a, b):
    """Two local outputs hold the same rows (any file layout, any row order)."""
    from pyarrow import fs

    ta = dataset_table(fs.LocalFileSystem(), os.path.abspath(a))
    tb = dataset_table(fs.LocalFileSystem(), os.path.abspath(b))
    if ta.num_rows == tb.num_rows and ta.equals(tb):
        print(f"equal: {ta.num_rows} rows")
        return 0
    print(f"DIFFERENT: {ta.num_rows} rows and {tb.num_rows} rows")
    return 1


def s3_keys(endpoint, bucket, prefix):
    s3 = s3_client(endpoint)
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=o["Key"])
            out.append({"key": o["Key"], "size": o["Size"], "sse": head.get("ServerSideEncryption")})
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    print(json.dumps({"objects": out, "open_multipart_uploads": len(uploads)}))
    return 0


def s3_parquet_rows(endpoint, folder):
    import io

    import pyarrow.parquet as pq

    s3 = s3_client(endpoint)
    bucket, _, prefix = folder[len("s3://"):].partition("/")
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if not o["Key"].endswith(".parquet"):
                continue
            body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            rows.extend(pq.read_table(io.BytesIO(body)).to_pylist())
    print(json.dumps(rows, default=str))
    return 0


def glue_watch(endpoint, db, table, values, seconds, out_file):
    """A reader of one partition, as Athena reads it: ask Glue where the partition
    is, read every Parquet file under that location with pyarrow, and record
    (rows, distinct eventIDs) of what it saw, over and over for `seconds`. Writes
    {"seen": [[rows, distinct], ...] (distinct pairs, with counts), "reads": n,
    "errors": [...]} to out_file."""
    import time

    import boto3
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from pyarrow import fs

    glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")
    s3fs = fs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing",
                           secret_key="testing", region="us-east-1")
    values = json.loads(values)
    seen = collections.Counter()
    errors = []
    reads = 0
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            p = glue.get_partition(DatabaseName=db, TableName=table, PartitionValues=values)
        except glue.exceptions.EntityNotFoundException:
            seen[(0, 0)] += 1
            reads += 1
            continue
        loc = p["Partition"]["StorageDescriptor"]["Location"]
        path = loc[len("s3://"):].rstrip("/")
        try:
            t = ds.dataset(path, filesystem=s3fs, format="parquet",
                           ignore_prefixes=[".", "_"]).to_table(columns=["eventid"])
            seen[(t.num_rows, len(pc.unique(t["eventid"])))] += 1
        except Exception as e:  # a torn or vanished version is what this looks for
            errors.append(f"{loc}: {e}")
        reads += 1
    with open(out_file + ".tmp", "w") as f:
        json.dump({"seen": [[r, d, n] for (r, d), n in sorted(seen.items())], "reads": reads,
                   "errors": errors[:20]}, f)
    os.replace(out_file + ".tmp", out_file)
    return 0


def s3_manifests(endpoint, bucket, prefix):
    """{partition folder: {"build", "outputs", "retired"}} of every manifest under prefix."""
    s3 = s3_client(endpoint)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            if o["Key"].endswith("/_trailpack.json"):
                m = json.loads(s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
                out[o["Key"][: -len("_trailpack.json")]] = {
                    "build": m.get("build"), "outputs": [x["file"] for x in m["outputs"]],
                    "retired": [r["folder"] for r in m.get("retired", [])],
                    "rows": m["records"]["written"]}
    print(json.dumps(out))
    return 0


def glue_table(endpoint, db, table):
    import boto3

    g = boto3.client("glue", endpoint_url=endpoint)
    t = g.get_table(DatabaseName=db, Name=table)["Table"]
    sd = t["StorageDescriptor"]
    parts = []
    for page in g.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=table):
        for p in page["Partitions"]:
            parts.append({"values": p["Values"], "location": p["StorageDescriptor"]["Location"],
                          "columns": len(p["StorageDescriptor"].get("Columns", []))})
    parts.sort(key=lambda p: p["values"])
    print(json.dumps({
        "columns": [[c["Name"], c["Type"]] for c in sd["Columns"]],
        "partition_keys": [[c["Name"], c["Type"]] for c in t.get("PartitionKeys", [])],
        "location": sd.get("Location"),
        "input_format": sd.get("InputFormat"),
        "serde": sd.get("SerdeInfo", {}).get("SerializationLibrary"),
        "table_type": t.get("TableType"),
        "parameters": t.get("Parameters", {}),
        "partitions": parts,
    }))
    return 0


def glue_create_table(endpoint, db, table, columns):
    import boto3

    g = boto3.client("glue", endpoint_url=endpoint)
    try:
        g.create_database(DatabaseInput={"Name": db})
    except g.exceptions.AlreadyExistsException:
        pass
    cols = [{"Name": n, "Type": t} for n, t in json.loads(columns)]
    g.create_table(DatabaseName=db, TableInput={
        "Name": table, "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "parquet", "owner": "someone"},
        "StorageDescriptor": {"Columns": cols, "Location": "s3://elsewhere/"},
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("account", "region", "day")]})
    print("created")
    return 0


def iam_user(endpoint, name, policy):
    """An IAM user holding exactly `policy` (inline); prints its access key."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint)
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="trailpack", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
    return 0


def enforce_iam(endpoint, on):
    """Make the server check every request against the caller's IAM policies (or stop)."""
    import urllib.request

    count = b"0" if on == "on" else b"inf"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=count,
                                                  method="POST",
                                                  headers={"Content-Type": "text/plain"})).read()
    print(f"iam enforcement {on}")
    return 0


def meta(path):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    md = f.metadata
    rg = md.row_group(0) if md.num_row_groups else None
    cols = {}
    if rg is not None:
        for i in range(rg.num_columns):
            c = rg.column(i)
            cols[c.path_in_schema] = {
                "compression": c.compression,
                "encodings": list(c.encodings),
                "has_statistics": c.is_stats_set,
                "has_column_index": c.has_column_index,
                "has_offset_index": c.has_offset_index,
                "has_dictionary_page": c.has_dictionary_page,
            }
    print(json.dumps({
        "num_rows": md.num_rows,
        "num_row_groups": md.num_row_groups,
        "columns": cols,
        "schema": {f.name: str(f.type) for f in md.schema.to_arrow_schema()},
        "sorting_columns": [
            {"column_index": s.column_index, "descending": s.descending}
            for s in (rg.sorting_columns if rg is not None else ())
        ],
    }))
    return 0


def s3_set_meta(endpoint, bucket, key, name, value):
    """Replace one user metadata entry of an object (a copy onto itself)."""
    s3 = s3_client(endpoint)
    meta = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    meta[name] = value
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                   Metadata=meta, MetadataDirective="REPLACE")
    return 0


def main(argv):
    if len(argv) >= 4 and argv[0] == "roundtrip":
        return roundtrip(argv[1], argv[2], argv[3])
    if len(argv) == 3 and argv[0] == "sql":
        return sql(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == "trino":
        return trino(argv[1], argv[2:])
    if len(argv) == 5 and argv[0] == "s3-put":
        return s3_put(*argv[1:])
    if len(argv) == 7 and argv[0] == "s3-put-many":
        return s3_put_many(*argv[1:])
    if len(argv) == 5 and argv[0] == "s3-compare":
        return s3_compare(*argv[1:])
    if len(argv) == 3 and argv[0] == "local-compare":
        return local_compare(argv[1], argv[2])
    if len(argv) == 4 and argv[0] == "s3-keys":
        return s3_keys(*argv[1:])
    if len(argv) == 7 and argv[0] == "glue-watch":
        return glue_watch(*argv[1:])
    if len(argv) == 4 and argv[0] == "s3-manifests":
        return s3_manifests(*argv[1:])
    if len(argv) == 3 and argv[0] == "s3-parquet-rows":
        return s3_parquet_rows(*argv[1:])
    if len(argv) == 4 and argv[0] == "glue-table":
        return glue_table(*argv[1:])
    if len(argv) == 5 and argv[0] == "glue-create-table":
        return glue_create_table(*argv[1:])
    if len(argv) == 4 and argv[0] == "iam-user":
        return iam_user(*argv[1:])
    if len(argv) == 3 and argv[0] == "enforce-iam":
        return enforce_iam(*argv[1:])
    if len(argv) == 6 and argv[0] == "s3-set-meta":
        return s3_set_meta(*argv[1:])
    if len(argv) == 2 and argv[0] == "meta":
        return meta(argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
