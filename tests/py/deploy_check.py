#!/usr/bin/env python3
"""Checks of deploy/cloudformation.yaml against the trailpack binary.

  deploy_check.py TRAILPACK_BINARY MOTO_SERVER

For several parameter sets (KMS keys or not, partition projection or not, prefixes or
the bucket root), the template's intrinsic functions are resolved the way
CloudFormation would, and:

1. the task role's policy must equal, statement for statement, what
   `trailpack iam-policy` prints for the same buckets, prefixes, table and keys (the
   binary's list of the S3/Glue calls it makes): nothing missing, nothing extra;
2. every TRAILPACK_* variable of the task definition must be an option of the
   command it runs, and with a read-only root filesystem the image's TMPDIR must be a
   volume the image declares and the task mounts;
3. the task's command with its environment, and each backfill shard's command as
   the state machine builds it, must run: against an S3/Glue server (moto) holding
   the sample logs, they convert them and register the partitions;
4. the state machine's definition must be valid JSON after substitution, running
   `trailpack backfill --shard i/N` for every i in 0..N-1.

And the image's build context (deploy/Dockerfile's COPY lines, filtered by
.dockerignore) must hold everything the binary compiles from: it is copied to an
empty folder and checked with `cargo check --locked --offline --bin trailpack`.

Prints what it checked; exits 1 with the differences on failure.
"""
import contextlib
import fnmatch
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from cfnlint.decode import cfn_yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trailcheck  # noqa: E402  (the independent checker's S3 upload)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "deploy", "cloudformation.yaml")
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
          "AWS::StackName": "tp"}
NO_VALUE = object()


class Resolver:
    """Resolves Ref, Fn::Sub, Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Join, Fn::GetAtt."""

    def __init__(self, template, params):
        self.t = template
        self.params = {}
        for name, p in template["Parameters"].items():
            v = params.get(name, p.get("Default"))
            if v is None:
                raise SystemExit(f"parameter {name} has no default and no test value")
            self.params[name] = v if isinstance(v, list) else str(v)
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.value(self.t["Conditions"][name])
        return self.conditions[name]

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        return f"<{name}>"  # a resource: its id stands for its physical id

    def sub(self, text, extra=None):
        def repl(m):
            key = m.group(1)
            if extra and key in extra:
                return str(extra[key])
            if "." in key:
                return f"<{key}>"
            v = self.ref(key)
            return ",".join(v) if isinstance(v, list) else str(v)

        return re.sub(r"\$\{([^}!]+)\}", repl, text)

    def value(self, node):
        if isinstance(node, dict) and len(node) == 1:
            (k, v), = node.items()
            if k == "Ref":
                return self.ref(v)
            if k == "Fn::Sub":
                if isinstance(v, list):
                    return self.sub(v[0], {n: self.value(x) for n, x in v[1].items()})
                return self.sub(v)
            if k == "Fn::If":
                return self.value(v[1] if self.condition(v[0]) else v[2])
            if k == "Fn::Equals":
                a, b = (self.value(x) for x in v)
                return str(a) == str(b)
            if k == "Fn::Not":
                return not self.value(v[0])
            if k == "Fn::And":
                return all(self.value(x) for x in v)
            if k == "Fn::Join":
                return v[0].join(str(x) for x in self.value(v[1]))
            if k == "Fn::GetAtt":
                name = v if isinstance(v, str) else ".".join(v)
                return f"<{name}>"
            if k == "Condition":
                return self.condition(v)
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                r = self.value(v)
                if r is not NO_VALUE:
                    out[k] = r
            return out
        if isinstance(node, list):
            return [r for r in (self.value(x) for x in node) if r is not NO_VALUE]
        return node


def as_list(v):
    return sorted(v) if isinstance(v, list) else [v]


def normal(statements):
    """Statements as comparable values, keyed by Sid."""
    out = {}
    for st in statements:
        out[st["Sid"]] = {
            "Effect": st["Effect"],
            "Action": as_list(st["Action"]),
            "Resource": as_list(st["Resource"]),
            "Condition": st.get("Condition"),
        }
    return out


def run(cmd, env=None, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if check and p.returncode != 0:
        raise SystemExit(f"FAILED ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def expected_policy(binary, r):
    p = r.params
    cmd = [binary, "iam-policy",
           "--input", f"s3://{p['SourceBucket']}/{p['SourcePrefix']}",
           "--output", f"s3://{p['CuratedBucket']}/{p['CuratedPrefix']}",
           "--glue-database", p["GlueDatabase"], "--glue-table", p["GlueTable"],
           "--aws-region", PSEUDO["AWS::Region"], "--account-id", PSEUDO["AWS::AccountId"],
           "--aws-partition", PSEUDO["AWS::Partition"]]
    if p["PartitionProjection"] == "true":
        cmd.append("--glue-projection")
    if p["TrailKmsKeyArn"]:
        cmd += ["--trail-kms-key", p["TrailKmsKeyArn"]]
    if p["CuratedKmsKeyArn"]:
        cmd += ["--sse-kms-key-id", p["CuratedKmsKeyArn"]]
    if p["DetectionRules"] == "builtin":
        cmd.append("--with-findings")
    if p["VerifyDigests"] == "true":
        cmd.append("--with-digests")
    return json.loads(run(cmd).stdout)


def check_policy(binary, template, r, label):
    role = r.value(template["Resources"]["TaskRole"]["Properties"])
    docs = [p["PolicyDocument"] for p in role["Policies"]]
    got = normal([st for d in docs for st in d["Statement"]])
    want = normal(expected_policy(binary, r)["Statement"])
    if got != want:
        diff = []
        for sid in sorted(set(got) | set(want)):
            if got.get(sid) != want.get(sid):
                diff.append(f"  {sid}:\n    template:   {got.get(sid)}\n    iam-policy: {want.get(sid)}")
        raise SystemExit(f"[{label}] task role policy differs from `trailpack iam-policy`:\n"
                         + "\n".join(diff))
    return len(got)


def container(template, r):
    td = r.value(template["Resources"]["TaskDefinition"]["Properties"])
    (c,) = td["ContainerDefinitions"]
    env = {e["Name"]: str(e["Value"]) for e in c["Environment"]}
    return c, env


def image_rules(path, label):
    """The local folder the image copies to `path` (a runtime-stage COPY line)."""
    for line in open(os.path.join(ROOT, "deploy", "Dockerfile")):
        parts = line.split()
        if parts[:1] == ["COPY"] and "--from" not in line and parts[-1] == path:
            return os.path.join(ROOT, parts[1])
    raise SystemExit(f"[{label}] TRAILPACK_RULES={path}, but the image copies nothing there")


def check_scratch(c, label):
    """With a read-only root filesystem, the image's TMPDIR must be a volume the image
    declares (so a Fargate bind mount there is writable by the image's user) and the
    task must mount it."""
    runtime, stages = [], 0
    for line in open(os.path.join(ROOT, "deploy", "Dockerfile")):
        if line.startswith("FROM "):
            stages += 1
            runtime = []
        runtime.append(line.strip())
    volumes = set()
    tmpdir = None
    for line in runtime:
        if line.startswith("VOLUME "):
            volumes.update(json.loads(line[len("VOLUME "):]))
        if line.startswith("ENV TMPDIR="):
            tmpdir = line.split("=", 1)[1]
    mounts = {m["ContainerPath"] for m in c.get("MountPoints", []) if not m.get("ReadOnly")}
    if c.get("ReadonlyRootFilesystem"):
        if tmpdir not in volumes or tmpdir not in mounts:
            raise SystemExit(f"[{label}] read-only root filesystem: TMPDIR {tmpdir} must be a VOLUME "
                             f"of the image ({sorted(volumes)}) mounted by the task ({sorted(mounts)})")
    if not mounts <= volumes:
        raise SystemExit(f"[{label}] task mounts {sorted(mounts - volumes)} that the image does not declare")


def check_env_names(binary, command, env, label):
    sub = [a for a in command if not a.startswith("-") and a != "json"][0]
    help_text = run([binary, sub, "--help"]).stdout
    for name in env:
        if not name.startswith("TRAILPACK_"):
            continue
        option = "--" + name[len("TRAILPACK_"):].lower().replace("_", "-")
        if not re.search(re.escape(option) + r"(?![\w-])", help_text):
            raise SystemExit(f"[{label}] {name}: `trailpack {sub}` has no option {option}")


def intrinsic(expr, state, item_value=None):
    """Evaluate the subset of Step Functions paths and intrinsics the backfill uses:
    $.field, $$.Map.Item.Value, integers, States.MathAdd, States.ArrayRange."""
    expr = expr.strip()
    if expr == "$$.Map.Item.Value":
        return item_value
    if re.fullmatch(r"-?\d+", expr):
        return int(expr)
    if expr.startswith("$."):
        return state[expr[2:]]
    m = re.fullmatch(r"(States\.\w+)\((.*)\)", expr)
    assert m, expr
    name, inner = m.groups()
    args, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            args.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    args.append(cur)
    vals = [intrinsic(a, state, item_value) for a in args]
    if name == "States.MathAdd":
        return vals[0] + vals[1]
    if name == "States.ArrayRange":
        assert len(range(vals[0], vals[1] + 1, vals[2])) <= 1000, "ArrayRange is limited to 1000 items"
        return list(range(vals[0], vals[1] + 1, vals[2]))
    raise AssertionError(f"unsupported intrinsic {name}")


def parameters(params, state, item_value=None):
    return {k[:-2] if k.endswith(".$") else k:
            (intrinsic(v, state, item_value) if k.endswith(".$") else v)
            for k, v in params.items()}


def choose(choice, state):
    for c in choice["Choices"]:
        v = state[c["Variable"][2:]]
        if "NumericGreaterThan" in c and v > c["NumericGreaterThan"]:
            return c["Next"]
        if "NumericLessThanPath" in c and v < state[c["NumericLessThanPath"][2:]]:
            return c["Next"]
    return choice["Default"]


def shard_indexes(d, run_input):
    """Run the definition (every shard succeeding): the shard index each task gets, and
    the shard states' input, in the order the lanes run them."""
    states = d["States"]
    state = dict(run_input)
    name = d["StartAt"]
    while states[name]["Type"] != "Map":
        st = states[name]
        if st["Type"] == "Choice":
            name = choose(st, state)
        else:
            state = parameters(st["Parameters"], state)
            name = st["Next"]
    m = states[name]
    assert m["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED", m["ItemProcessor"]
    items = state[m["ItemsPath"][2:]]
    inner = m["ItemProcessor"]["States"]
    runs = []
    for value in items:
        lane = parameters(m["ItemSelector"], state, value)
        at = m["ItemProcessor"]["StartAt"]
        while True:
            st = inner[at]
            if st["Type"] == "Task":
                runs.append(dict(lane))
                at = st["Next"]
            elif st["Type"] == "Choice":
                at = choose(st, lane)
            elif st.get("End"):
                break
            else:
                lane = parameters(st["Parameters"], lane)
                at = st["Next"]
    return runs


def shard_commands(template, r, run_input):
    """The commands the state machine gives its shards, from its definition."""
    sm = r.value(template["Resources"]["BackfillStateMachine"]["Properties"])
    subs = {k: (",".join(v) if isinstance(v, list) else v)
            for k, v in sm["DefinitionSubstitutions"].items()}
    text = re.sub(r"\$\{(\w+)\}", lambda m: str(subs[m.group(1)]), sm["DefinitionString"])
    d = json.loads(text)
    shards = d["States"]["Shards"]
    task = shards["ItemProcessor"]["States"]["Shard"]
    assert task["Resource"] == "arn:aws:states:::ecs:runTask.sync", task["Resource"]
    assert shards["MaxConcurrency"] == int(r.params["BackfillConcurrency"])
    # Any number of shards, each exactly once (ArrayRange stops at 1,000 items).
    for n in (1, 3, 1000, 1001, 2500):
        got = sorted(x["index"] for x in shard_indexes(d, dict(run_input, shards=n)))
        assert got == list(range(n)), f"{n} shards: the state machine runs {got[:5]}..."
    # A failed shard is noted (shard and error name only) and its lane goes on: the
    # states on that path carry every field of the lane.
    inner = shards["ItemProcessor"]["States"]
    keys = lambda params: {k.removesuffix(".$") for k in params}  # noqa: E731
    assert task["Catch"][0]["Next"] == "ShardFailed", task["Catch"]
    for st in ("ShardFailed", "Advance"):
        assert keys(inner[st]["Parameters"]) == keys(shards["ItemSelector"]), st
    assert "Cause" not in inner["ShardFailed"]["Parameters"]["failed.$"]
    (override,) = task["Parameters"]["Overrides"]["ContainerOverrides"]
    expr = override["Command.$"]
    m = re.fullmatch(r"States\.Array\((.*)\)", expr)
    assert m, expr
    commands = []
    for item in shard_indexes(d, run_input):
        args = []
        for tok in re.findall(r"States\.Format\('([^']*)',\s*([^)]*)\)|'([^']*)'|(\$\.\w+)", m.group(1)):
            fmt, fargs, lit, path = tok
            if fmt:
                vals = [str(item[a.strip()[2:]]) for a in fargs.split(",")]
                args.append(fmt.replace("{}", "%s") % tuple(vals))
            elif lit:
                args.append(lit)
            else:
                args.append(str(item[path[2:]]))
        commands.append(args)
    return commands


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run_task(binary, moto, template, r, label):
    """Run the task's command and the backfill shards' commands against moto."""
    import boto3

    port = free_port()
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        base_env = {"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        os.environ.update({k: v for k, v in base_env.items() if k.startswith("AWS_")},
                          AWS_DEFAULT_REGION="us-east-1")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        glue = boto3.client("glue", endpoint_url=endpoint, region_name="us-east-1")
        kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
        p = r.params
        s3.create_bucket(Bucket=p["CuratedBucket"])
        # Keys AWSLogs/...: under SourcePrefix "AWSLogs/" or the bucket root.
        with contextlib.redirect_stdout(io.StringIO()):
            trailcheck.s3_put(endpoint, p["SourceBucket"], "", os.path.join(ROOT, "samples"))
        c, env = container(template, r)
        if "TRAILPACK_SSE_KMS_KEY_ID" in env:
            # The server must know the key: use one it made, in place of the parameter.
            env["TRAILPACK_SSE_KMS_KEY_ID"] = kms.create_key()["KeyMetadata"]["Arn"]
        check_env_names(binary, c["Command"], env, label)
        check_scratch(c, label)
        if "TRAILPACK_RULES" in env:
            # The image holds the repository's rules/ at that path.
            env["TRAILPACK_RULES"] = image_rules(env["TRAILPACK_RULES"], label)
        # No --json: the task environment asks for the JSON summary (TRAILPACK_JSON).
        aws = ["--endpoint-url", endpoint, "--s3-force-path-style", "--no-progress"]
        tmp = tempfile.mkdtemp()
        full_env = dict(base_env, **env, TMPDIR=tmp)
        nightly = run([binary] + c["Command"] + aws + ["--now", "2024-03-07T03:00:00Z"], env=full_env)
        summary = json.loads(nightly.stdout)
        if summary["partitions"]["failed"] or summary["records"]["written"] == 0:
            raise SystemExit(f"[{label}] nightly run: {nightly.stdout}\n{nightly.stderr}")
        table = glue.get_table(DatabaseName=p["GlueDatabase"], Name=p["GlueTable"])["Table"]
        projection = table.get("Parameters", {}).get("projection.enabled") == "true"
        if projection != (p["PartitionProjection"] == "true"):
            raise SystemExit(f"[{label}] projection {projection}, parameter {p['PartitionProjection']}")
        parts = glue.get_partitions(DatabaseName=p["GlueDatabase"], TableName=p["GlueTable"])["Partitions"]
        if p["DetectionRules"] == "builtin":
            found = summary.get("detections", {}).get("findings", {})
            fparts = glue.get_partitions(DatabaseName=p["GlueDatabase"],
                                         TableName=p["GlueTable"] + "_findings")["Partitions"]
            if not found or not fparts:
                raise SystemExit(f"[{label}] detections: findings {found}, "
                                 f"{len(fparts)} findings partitions registered")
        nightly_written = summary["records"]["written"]
        # The backfill shards, as the state machine starts them, share the same days
        # without overlap: together they find everything converted and change nothing.
        shards = shard_commands(template, r, {"from": "2024-03-01", "to": "2024-03-06", "shards": 3})
        unchanged = 0
        for args in shards:
            o = run([binary] + args + aws + ["--now", "2024-03-07T03:00:00Z"], env=full_env)
            sm = json.loads(o.stdout)
            if sm["partitions"]["written"] or sm["partitions"]["failed"]:
                raise SystemExit(f"[{label}] shard {args}: {o.stdout}")
            unchanged += sm["partitions"]["unchanged"]
        if unchanged != summary["partitions"]["written"] + summary["partitions"]["unchanged"]:
            raise SystemExit(f"[{label}] shards saw {unchanged} partitions, nightly run "
                             f"{summary['partitions']}")
        return nightly_written, len(parts), len(shards)
    finally:
        server.kill()
        server.wait()


def docker_context_files():
    """Repository files the build context holds: git's files filtered by .dockerignore
    (later patterns win; `!` re-includes; a pattern names a file or a folder)."""
    patterns = []
    for line in open(os.path.join(ROOT, ".dockerignore")):
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append((line.startswith("!"), line.lstrip("!").rstrip("/")))
    files = run(["git", "-C", ROOT, "ls-files"]).stdout.split()
    kept = []
    for f in files:
        include = True
        for negated, pat in patterns:
            parts = f.split("/")
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
            if any(fnmatch.fnmatch(p, pat) for p in prefixes) or fnmatch.fnmatch(f, pat):
                include = negated
        if include:
            kept.append(f)
    return kept


def check_build_context():
    stage = []
    for line in open(os.path.join(ROOT, "deploy", "Dockerfile")):
        if line.startswith("FROM ") and stage:
            break  # the runtime stage copies from the build stage only
        if line.startswith("COPY ") and "--from" not in line:
            *srcs, _dest = line.split()[1:]
            stage += srcs
    context = set(docker_context_files())
    ctx = tempfile.mkdtemp(prefix="trailpack-image-")
    copied = 0
    try:
        for f in sorted(context):
            if any(f == s or f.startswith(s.rstrip("/") + "/") for s in stage):
                os.makedirs(os.path.dirname(os.path.join(ctx, f)) or ctx, exist_ok=True)
                shutil.copy2(os.path.join(ROOT, f), os.path.join(ctx, f))
                copied += 1
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"))
        p = subprocess.run(["cargo", "check", "--locked", "--offline", "--quiet", "--bin", "trailpack"],
                           cwd=ctx, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"the image's build context ({copied} files: {' '.join(stage)}) "
                             f"does not compile:\n{p.stderr[-3000:]}")
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    return copied, len(context)


CASES = [
    ("defaults (projection)", {}),
    ("kms+registered+retention+digests", {
        "TrailKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        "CuratedKmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/66666666-7777-8888-9999-000000000000",
        "PartitionProjection": "false", "RetainDays": 3650, "SourcePrefix": "",
        "CuratedPrefix": "lake/cloudtrail/", "GlueDatabase": "sec", "GlueTable": "trail",
        "VerifyDigests": "true",
    }),
    ("projection+detections", {"DetectionRules": "builtin"}),
]
REQUIRED = {"SourceBucket": "org-trail", "CuratedBucket": "security-lake",
            "ImageUri": "example.com/trailpack@sha256:" + "0" * 64, "Subnets": ["subnet-1", "subnet-2"],
            "SecurityGroup": "sg-1"}


def rules_accept(template, params):
    """Evaluate the template's Rules (Fn::Equals / Fn::Contains) for these values."""
    def ev(x):
        if isinstance(x, dict):
            ((k, v),) = x.items()
            if k == "Ref":
                return str(params[v])
            if k == "Fn::Equals":
                return ev(v[0]) == ev(v[1])
            if k == "Fn::Contains":
                return ev(v[1]) in [ev(i) for i in v[0]]
            raise AssertionError(k)
        return str(x)
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" not in rule or ev(rule["RuleCondition"]):
            if not all(ev(a["Assert"]) for a in rule["Assertions"]):
                return False
    return True


def check_sizes(template):
    """Every Cpu/Memory pair Fargate accepts passes the Rules; no other pair does."""
    fargate = {1024: range(2048, 8193, 1024), 2048: range(4096, 16385, 1024),
               4096: range(8192, 30721, 1024), 8192: range(16384, 61441, 4096),
               16384: range(32768, 122881, 8192)}
    p = template["Parameters"]
    cpus = [int(c) for c in p["Cpu"]["AllowedValues"]]
    assert sorted(cpus) == sorted(fargate), cpus
    checked = 0
    for cpu in cpus:
        for mem in range(p["Memory"]["MinValue"], p["Memory"]["MaxValue"] + 1, 1024):
            assert rules_accept(template, {"Cpu": cpu, "Memory": mem}) == (mem in fargate[cpu]), (cpu, mem)
            checked += 1
    assert rules_accept(template, {"Cpu": p["Cpu"]["Default"], "Memory": p["Memory"]["Default"]})
    return checked


def check_operations(template):
    """The nightly schedule can be paused by a parameter and sends what it could not
    start to a dead-letter queue that raises an alarm; Lake Formation grants exist
    only when asked for, for the task role."""
    res = template["Resources"]
    sched = res["NightlySchedule"]["Properties"]
    assert sched["State"] == {"Ref": "ScheduleState"}, sched["State"]
    assert set(template["Parameters"]["ScheduleState"]["AllowedValues"]) == {"ENABLED", "DISABLED"}
    dlq = sched["Target"].get("DeadLetterConfig", {}).get("Arn")
    assert dlq == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}, dlq
    alarm = res["ScheduleNotStartedAlarm"]["Properties"]
    assert alarm["Namespace"] == "AWS/SQS" and alarm["AlarmActions"] == [{"Ref": "AlertTopic"}], alarm
    sends = [st for pol in res["SchedulerRole"]["Properties"]["Policies"]
             for st in pol["PolicyDocument"]["Statement"] if st["Action"] == "sqs:SendMessage"]
    assert sends and sends[0]["Resource"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}, sends
    grants = {k: v for k, v in res.items() if v["Type"] == "AWS::LakeFormation::PrincipalPermissions"}
    assert len(grants) == 2, grants
    for name, g in grants.items():
        assert g.get("Condition") == "GrantLakeFormation", name
        who = g["Properties"]["Principal"]["DataLakePrincipalIdentifier"]
        assert who == {"Fn::GetAtt": ["TaskRole", "Arn"]}, who
    for name in ("CriticalFindingsAlarm", "HighFindingsAlarm"):
        a = res[name]
        assert a.get("Condition") == "Detect", name
        assert a["Properties"]["Namespace"] == "trailpack", name
        assert a["Properties"]["AlarmActions"] == [{"Ref": "AlertTopic"}], name
    perms = sorted(p for g in grants.values() for p in g["Properties"]["Permissions"])
    # What the binary's Lake Formation message tells users to grant.
    assert perms == sorted(["DESCRIBE", "CREATE_TABLE", "ALTER", "DESCRIBE", "INSERT", "DELETE", "SELECT"]), perms
    return len(grants)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    binary, moto = argv
    copied, context = check_build_context()
    print(f"image build context: {context} files, {copied} copied by the build stage; "
          "they compile on their own")
    template = cfn_yaml.load(TEMPLATE)
    grants = check_operations(template)
    print(f"task sizes: {check_sizes(template)} Cpu/Memory pairs checked against Fargate's")
    print(f"schedule: state parameter, dead-letter queue with alarm; {grants} Lake Formation "
          "grants (conditional) for the task role")
    for label, params in CASES:
        r = Resolver(template, dict(REQUIRED, **params))
        n = check_policy(binary, template, r, label)
        written, parts, shards = run_task(binary, moto, template, r, label)
        print(f"[{label}] task role = iam-policy ({n} statements); nightly task converted "
              f"{written} records, {parts} Glue partitions registered; {shards} backfill shards "
              f"found them all converted")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
