//! trailpack-gen: a deterministic generator of realistic CloudTrail log days.
//!
//! Writes the S3 delivery layout (optionally under an organisation id), file names
//! with delivery times, ~5-minute files whose records carry eventTimes from the
//! minutes before delivery (so the first files of a day hold late records of the
//! previous day), a mix of identity types, services, errors, large request and
//! response payloads, resources, tlsDetails, data events, and digest files: one an
//! hour per account/region, chained, listing the hour's files with the SHA-256 of
//! their content as CloudTrail does (unsigned: a local copy carries no signatures).
//!
//! Reference day "W1": `trailpack-gen --out DIR --files 288 --records 1500`
//! (one account, one region: ≈432k records, ≈600 MB JSON, ≈90 MB gz).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

struct Args {
    out: PathBuf,
    seed: u64,
    accounts: usize,
    account_base: u64,
    regions: Vec<String>,
    start: (i32, u8, u8),
    days: u32,
    files: u32,
    records: u32,
    org: Option<String>,
    digests: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: trailpack-gen --out DIR [--seed N] [--accounts N] [--account-base N] [--regions r1,r2] \
         [--start YYYY-MM-DD] [--days N] [--files N per day] [--records N per file] \
         [--org o-xxxx] [--no-digests]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        out: PathBuf::new(),
        seed: 1,
        accounts: 1,
        account_base: 111_122_223_333,
        regions: vec!["us-east-1".into()],
        start: (2024, 3, 5),
        days: 1,
        files: 288,
        records: 1500,
        org: None,
        digests: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--out" => a.out = PathBuf::from(val()),
            "--seed" => a.seed = val().parse().unwrap_or_else(|_| usage()),
            "--accounts" => a.accounts = val().parse().unwrap_or_else(|_| usage()),
            "--account-base" => a.account_base = val().parse().unwrap_or_else(|_| usage()),
            "--regions" => a.regions = val().split(',').map(String::from).collect(),
            "--start" => {
                let v = val();
                let p: Vec<&str> = v.split('-').collect();
                if p.len() != 3 {
                    usage()
                }
                a.start = (
                    p[0].parse().unwrap_or_else(|_| usage()),
                    p[1].parse().unwrap_or_else(|_| usage()),
                    p[2].parse().unwrap_or_else(|_| usage()),
                );
            }
            "--days" => a.days = val().parse().unwrap_or_else(|_| usage()),
            "--files" => a.files = val().parse().unwrap_or_else(|_| usage()),
            "--records" => a.records = val().parse().unwrap_or_else(|_| usage()),
            "--org" => a.org = Some(val()),
            "--no-digests" => a.digests = false,
            _ => usage(),
        }
    }
    if a.out.as_os_str().is_empty() || a.files == 0 {
        usage()
    }
    a
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i32, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

fn sha256_hex(data: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hourly digests of one account/region: files waiting to be listed, and the
/// previous digest (key, SHA-256 of its content).
#[derive(Default)]
struct DigestChain {
    listed: Vec<(i64, String, String)>,
    previous: Option<(String, String)>,
}

impl DigestChain {
    /// Write the digest of the hour starting at `start` (Unix seconds), in the
    /// folder of its end time, listing the files delivered in that hour.
    fn write(&mut self, out: &Path, base: &Path, account: &str, region: &str, start: i64) {
        let end = start + 3600;
        let (y, m, d) = civil_from_days(end.div_euclid(86_400));
        let s = end.rem_euclid(86_400);
        let path = base.join(format!("{y:04}/{m:02}/{d:02}")).join(format!(
            "{account}_CloudTrail-Digest_{region}_trail_{region}_{y:04}{m:02}{d:02}T{:02}0000Z.json.gz",
            s / 3600
        ));
        let key = path
            .strip_prefix(out)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.listed)
            .into_iter()
            .partition(|(t, _, _)| *t < end);
        self.listed = later;
        let logs: Vec<Value> = now
            .into_iter()
            .map(|(_, k, h)| json!({"s3Bucket": "trail-bucket", "s3Object": k, "hashValue": h, "hashAlgorithm": "SHA-256"}))
            .collect();
        let prev = self.previous.take();
        let body = json!({
            "awsAccountId": account, "digestStartTime": iso(start), "digestEndTime": iso(end),
            "digestS3Bucket": "trail-bucket", "digestS3Object": key,
            "digestPublicKeyFingerprint": "00000000000000000000000000000000",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": prev.as_ref().map(|_| "trail-bucket"),
            "previousDigestS3Object": prev.as_ref().map(|p| p.0.clone()),
            "previousDigestHashValue": prev.as_ref().map(|p| p.1.clone()),
            "previousDigestHashAlgorithm": prev.as_ref().map(|_| "SHA-256"),
            "previousDigestSignature": Value::Null,
            "logFiles": logs,
        });
        let text = body.to_string();
        write_gz(&path, text.as_bytes());
        self.previous = Some((key, sha256_hex(text.as_bytes())));
    }
}

fn iso(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

struct Gen {
    rng: fastrand::Rng,
    seed: u64,
}

impl Gen {
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.usize(..xs.len())]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit(self.rng.u32(..16), 16).unwrap_or('0'))
            .collect()
    }
    fn upper(&mut self, n: usize) -> String {
        (0..n).map(|_| (b'A' + self.rng.u8(..26)) as char).collect()
    }
    fn uuid(&mut self) -> String {
        format!(
            "{}-{}-{}-{}-{}",
            self.hex(8),
            self.hex(4),
            self.hex(4),
            self.hex(4),
            self.hex(12)
        )
    }
    fn ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.rng.u8(1..224),
            self.rng.u8(..),
            self.rng.u8(..),
            self.rng.u8(1..255)
        )
    }
}

const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "deploy-bot",
    "ci-runner",
    "dave",
    "erin",
];
const ROLES: &[&str] = &[
    "AdminRole",
    "ReadOnly",
    "Deployer",
    "LambdaExec",
    "EKSNodeRole",
    "OrganizationAccountAccessRole",
];
const AGENTS: &[&str] = &[
    "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.ls",
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.210 md/arch#x86_64 lang/python#3.12.2 cfg/retry-mode#legacy Botocore/1.34.69",
    "aws-sdk-go-v2/1.25.3 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.28.4",
    "AWS Internal",
    "console.amazonaws.com",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.41.0 aws-sdk-go-v2/1.25.3",
];

/// A generator seeded from the run's seed and a name: the same name always draws
/// the same values, so an identity's IDs and keys repeat as they do in real logs.
fn pooled(seed: u64, parts: &[&dyn std::fmt::Display]) -> Gen {
    let mut h = xxhash_rust::xxh3::Xxh3::with_seed(seed);
    for p in parts {
        h.update(p.to_string().as_bytes());
        h.update(b"/");
    }
    Gen {
        rng: fastrand::Rng::with_seed(h.digest()),
        seed,
    }
}

/// Sessions of assumed roles active in one hour of one account.
const SESSIONS_PER_HOUR: usize = 24;

/// A user's stable identity: principal ID, long-term access key and two home IPs.
fn user_ids(seed: u64, account: &str, user: &str) -> (String, String, [String; 2]) {
    let mut p = pooled(seed, &[&account, &"user", &user]);
    (
        format!("AIDA{}", p.upper(17)),
        format!("AKIA{}", p.upper(16)),
        [p.ip(), p.ip()],
    )
}

fn role_id(seed: u64, account: &str, role: &str) -> String {
    format!(
        "AROA{}",
        pooled(seed, &[&account, &"role", &role]).upper(17)
    )
}

/// The identity of an event and the IP it came from. Users, roles and sessions come
/// from pools (a session's key, name and creation time repeat for the hour it lives),
/// so principal IDs, keys and IPs have the cardinality of real logs.
fn identity(g: &mut Gen, account: &str, event_secs: i64) -> (Value, String) {
    let r = g.rng.u32(..100);
    let seed = g.seed;
    if r < 30 {
        let u = *g.pick(USERS);
        let (aida, akia, ips) = user_ids(seed, account, u);
        let ip = ips[g.rng.usize(..2)].clone();
        (
            json!({"type": "IAMUser", "principalId": aida,
               "arn": format!("arn:aws:iam::{account}:user/{u}"), "accountId": account,
               "accessKeyId": akia, "userName": u}),
            ip,
        )
    } else if r < 75 {
        let hour = event_secs.div_euclid(3600);
        let slot = g.rng.usize(..SESSIONS_PER_HOUR);
        let mut s = pooled(seed, &[&account, &"session", &hour, &slot]);
        let role = *s.pick(ROLES);
        let user = *s.pick(USERS);
        let session = format!("{user}-{}", s.rng.u32(1000..9999));
        let rid = role_id(seed, account, role);
        let created = hour * 3600 - s.rng.i64(0..3600);
        let mut ctx = json!({
            "sessionIssuer": {"type": "Role", "principalId": rid, "arn": format!("arn:aws:iam::{account}:role/{role}"),
                              "accountId": account, "userName": role},
            "attributes": {"creationDate": iso(created), "mfaAuthenticated": if s.rng.bool() {"true"} else {"false"}}
        });
        if s.rng.u32(..10) == 0 {
            ctx["webIdFederationData"] = json!({});
            ctx["ec2RoleDelivery"] = json!("2.0");
        }
        if s.rng.u32(..20) == 0 {
            ctx["sourceIdentity"] = json!(user);
        }
        let key = format!("ASIA{}", s.upper(16));
        let ip = s.ip();
        (
            json!({"type": "AssumedRole", "principalId": format!("{rid}:{session}"),
               "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"), "accountId": account,
               "accessKeyId": key, "sessionContext": ctx}),
            ip,
        )
    } else if r < 85 {
        (
            json!({"type": "AWSService", "invokedBy": g.pick(&["lambda.amazonaws.com", "ec2.amazonaws.com", "config.amazonaws.com", "cloudtrail.amazonaws.com"])}),
            String::new(),
        )
    } else if r < 87 {
        let ip = user_ids(seed, account, "root").2[0].clone();
        (
            json!({"type": "Root", "principalId": account, "arn": format!("arn:aws:iam::{account}:root"), "accountId": account,
               "accessKeyId": "", "sessionContext": {"attributes": {"creationDate": iso(event_secs - 600), "mfaAuthenticated": "true"}}}),
            ip,
        )
    } else if r < 90 {
        let u = *g.pick(USERS);
        let (aida, _, ips) = user_ids(seed, account, u);
        let hour = event_secs.div_euclid(3600);
        let mut s = pooled(seed, &[&account, &"federated", &hour, &u]);
        (
            json!({"type": "FederatedUser", "principalId": format!("{account}:{u}"), "arn": format!("arn:aws:sts::{account}:federated-user/{u}"),
               "accountId": account, "accessKeyId": format!("ASIA{}", s.upper(16)),
               "sessionContext": {"sessionIssuer": {"type": "IAMUser", "principalId": aida,
               "arn": format!("arn:aws:iam::{account}:user/{u}"), "accountId": account, "userName": u},
               "attributes": {"creationDate": iso(hour * 3600 - 900), "mfaAuthenticated": "false"}}}),
            ips[0].clone(),
        )
    } else if r < 95 {
        let u = *g.pick(USERS);
        let mut s = pooled(seed, &[&account, &"identitycenter", &u]);
        (
            json!({"type": "IdentityCenterUser", "accountId": account,
               "onBehalfOf": {"userId": s.uuid(), "identityStoreArn": format!("arn:aws:identitystore::{account}:identitystore/d-{}", s.hex(10))},
               "credentialId": s.upper(40)}),
            s.ip(),
        )
    } else {
        let mut s = pooled(seed, &[&"partner", &g.rng.u32(..8)]);
        (
            json!({"type": "AWSAccount", "principalId": format!("AIDA{}", s.upper(17)), "accountId": "999988887777"}),
            s.ip(),
        )
    }
}

fn event(g: &mut Gen, account: &str, region: &str, secs: i64) -> Value {
    let (ident, ip) = identity(g, account, secs);
    let from_service = ident["type"] == "AWSService";
    let kind = g.rng.u32(..100);
    let bucket = format!("{}-data-{}", account, g.rng.u32(..5));
    let (source, name, read_only, req, resp, resources, category, extra): (
        &str,
        &str,
        bool,
        Value,
        Value,
        Option<Value>,
        &str,
        Option<Value>,
    ) = if kind < 25 {
        let key = format!("logs/{}/{}.json", g.hex(8), g.hex(16));
        (
            "s3.amazonaws.com",
            "GetObject",
            true,
            json!({"bucketName": bucket, "Host": format!("{bucket}.s3.{region}.amazonaws.com"), "key": key}),
            Value::Null,
            Some(
                json!([{"type": "AWS::S3::Object", "ARN": format!("arn:aws:s3:::{bucket}/{key}")},
                     {"accountId": account, "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}]),
            ),
            "Data",
            Some(
                json!({"SignatureVersion": "SigV4", "CipherSuite": "TLS_AES_128_GCM_SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "x-amz-id-2": g.hex(60), "bytesTransferredOut": g.rng.u32(100..5_000_000)}),
            ),
        )
    } else if kind < 45 {
        let n = g.rng.usize(1..8);
        let ids: Vec<Value> = (0..n)
            .map(|_| json!({"instanceId": format!("i-{}", g.hex(17))}))
            .collect();
        (
            "ec2.amazonaws.com",
            "DescribeInstances",
            true,
            json!({"instancesSet": {"items": ids}, "filterSet": {}, "maxResults": 1000}),
            Value::Null,
            None,
            "Management",
            None,
        )
    } else if kind < 55 {
        (
            "sts.amazonaws.com",
            "AssumeRole",
            false,
            json!({"roleArn": format!("arn:aws:iam::{account}:role/{}", g.pick(ROLES)), "roleSessionName": format!("s-{}", g.hex(8)), "durationSeconds": 3600}),
            json!({"credentials": {"accessKeyId": format!("ASIA{}", g.upper(16)), "sessionToken": g.hex(300), "expiration": "Mar 5, 2024, 1:00:00 PM"},
                "assumedRoleUser": {"assumedRoleId": format!("AROA{}:s", g.upper(17)), "arn": format!("arn:aws:sts::{account}:assumed-role/x/s")}}),
            Some(
                json!([{"accountId": account, "type": "AWS::IAM::Role", "ARN": format!("arn:aws:iam::{account}:role/x")}]),
            ),
            "Management",
            None,
        )
    } else if kind < 58 {
        // A large write: RunInstances with a big request and response.
        let n = g.rng.usize(1..4);
        let items: Vec<Value> = (0..n).map(|_| json!({"instanceId": format!("i-{}", g.hex(17)), "imageId": format!("ami-{}", g.hex(17)),
            "instanceState": {"code": 0, "name": "pending"}, "privateDnsName": format!("ip-10-0-{}-{}.ec2.internal", g.rng.u8(..), g.rng.u8(..)),
            "amiLaunchIndex": 0, "productCodes": {}, "instanceType": "m6i.large", "launchTime": secs * 1000, "placement": {"availabilityZone": format!("{region}a"), "tenancy": "default"},
            "monitoring": {"state": "disabled"}, "subnetId": format!("subnet-{}", g.hex(17)), "vpcId": format!("vpc-{}", g.hex(17)),
            "privateIpAddress": format!("10.0.{}.{}", g.rng.u8(..), g.rng.u8(..)), "stateReason": {"code": "pending", "message": "pending"},
            "architecture": "x86_64", "rootDeviceType": "ebs", "rootDeviceName": "/dev/xvda", "blockDeviceMapping": {},
            "virtualizationType": "hvm", "hypervisor": "xen", "tagSet": {"items": [{"key": "Name", "value": format!("web-{}", g.hex(4))}, {"key": "team", "value": "platform"}]},
            "groupSet": {"items": [{"groupId": format!("sg-{}", g.hex(17)), "groupName": "default"}]}, "sourceDestCheck": true,
            "networkInterfaceSet": {"items": [{"networkInterfaceId": format!("eni-{}", g.hex(17)), "subnetId": "subnet-1", "vpcId": "vpc-1", "ownerId": account, "status": "in-use", "macAddress": "0a:00:00:00:00:01", "privateIpAddress": "10.0.0.1", "sourceDestCheck": true, "interfaceType": "interface"}]},
            "ebsOptimized": false, "enaSupport": true, "cpuOptions": {"coreCount": 1, "threadsPerCore": 2}, "capacityReservationSpecification": {"capacityReservationPreference": "open"},
            "enclaveOptions": {"enabled": false}, "metadataOptions": {"state": "pending", "httpTokens": "required", "httpPutResponseHopLimit": 2, "httpEndpoint": "enabled"}})).collect();
        (
            "ec2.amazonaws.com",
            "RunInstances",
            false,
            json!({"instancesSet": {"items": [{"imageId": format!("ami-{}", g.hex(17)), "minCount": 1, "maxCount": n}]}, "instanceType": "m6i.large",
                "blockDeviceMapping": {}, "monitoring": {"enabled": false}, "disableApiTermination": false, "disableApiStop": false,
                "clientToken": g.uuid(), "tagSpecificationSet": {"items": [{"resourceType": "instance", "tags": [{"key": "Name", "value": "web"}]}]},
                "userData": "<sensitiveDataRemoved>"}),
            json!({"requestId": g.uuid(), "reservationId": format!("r-{}", g.hex(17)), "ownerId": account, "groupSet": {}, "instancesSet": {"items": items}}),
            None,
            "Management",
            None,
        )
    } else if kind < 70 {
        let policy = format!("{{\"Version\":\"2012-10-17\",\"Statement\":[{{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\",\"s3:ListBucket\"],\"Resource\":[\"arn:aws:s3:::{bucket}\",\"arn:aws:s3:::{bucket}/*\"],\"Principal\":{{\"AWS\":\"arn:aws:iam::{account}:role/{}\"}}}}]}}", g.pick(ROLES));
        (
            "iam.amazonaws.com",
            *g.pick(&[
                "PutRolePolicy",
                "CreateAccessKey",
                "AttachRolePolicy",
                "UpdateAssumeRolePolicy",
            ]),
            false,
            json!({"roleName": g.pick(ROLES), "policyName": format!("inline-{}", g.hex(6)), "policyDocument": policy}),
            Value::Null,
            None,
            "Management",
            None,
        )
    } else if kind < 80 {
        (
            "kms.amazonaws.com",
            *g.pick(&["Decrypt", "GenerateDataKey", "Encrypt"]),
            true,
            json!({"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": {"aws:lambda:FunctionArn": format!("arn:aws:lambda:{region}:{account}:function:fn-{}", g.hex(6))}}),
            Value::Null,
            Some(
                json!([{"accountId": account, "type": "AWS::KMS::Key", "ARN": format!("arn:aws:kms:{region}:{account}:key/{}", g.uuid())}]),
            ),
            "Management",
            None,
        )
    } else if kind < 90 {
        (
            "lambda.amazonaws.com",
            "Invoke",
            false,
            json!({"functionName": format!("arn:aws:lambda:{region}:{account}:function:fn-{}", g.hex(6)), "invocationType": "RequestResponse"}),
            Value::Null,
            Some(
                json!([{"accountId": account, "type": "AWS::Lambda::Function", "ARN": format!("arn:aws:lambda:{region}:{account}:function:fn")}]),
            ),
            "Data",
            Some(json!({"functionVersion": "$LATEST"})),
        )
    } else if kind < 95 {
        (
            "signin.amazonaws.com",
            "ConsoleLogin",
            false,
            Value::Null,
            json!({"ConsoleLogin": if g.rng.u32(..10) == 0 {"Failure"} else {"Success"}}),
            None,
            "Management",
            Some(
                json!({"LoginTo": "https://console.aws.amazon.com/console/home", "MobileVersion": "No", "MFAUsed": if g.rng.bool() {"Yes"} else {"No"}}),
            ),
        )
    } else {
        (
            "cloudtrail.amazonaws.com",
            *g.pick(&["LookupEvents", "DescribeTrails", "GetTrailStatus"]),
            true,
            json!({"maxResults": 50}),
            Value::Null,
            None,
            "Management",
            None,
        )
    };
    let mut rec = json!({
        "eventVersion": if category == "Data" {"1.09"} else {"1.08"},
        "userIdentity": ident,
        "eventTime": iso(secs),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": if from_service {Value::from(source)} else {Value::from(ip)},
        "userAgent": if from_service {Value::from(source)} else {Value::from(*g.pick(AGENTS))},
        "requestParameters": req,
        "responseElements": resp,
        "requestID": g.uuid(),
        "eventID": g.uuid(),
        "readOnly": read_only,
        "eventType": if name == "ConsoleLogin" {"AwsConsoleSignIn"} else {"AwsApiCall"},
        "managementEvent": category == "Management",
        "recipientAccountId": account,
        "eventCategory": category,
    });
    let obj = rec.as_object_mut().expect("object");
    if g.rng.u32(..100) < 5 {
        obj.insert(
            "errorCode".into(),
            json!(g.pick(&[
                "AccessDenied",
                "Client.UnauthorizedOperation",
                "ThrottlingException"
            ])),
        );
        obj.insert(
            "errorMessage".into(),
            json!(format!(
                "User is not authorized to perform: {}:{}",
                source.trim_end_matches(".amazonaws.com"),
                name
            )),
        );
        obj.insert("responseElements".into(), Value::Null);
    }
    if let Some(r) = resources {
        obj.insert("resources".into(), r);
    }
    if let Some(x) = extra {
        obj.insert("additionalEventData".into(), x);
    }
    if !from_service && g.rng.u32(..100) < 80 {
        obj.insert("tlsDetails".into(), json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}));
    }
    if name == "ConsoleLogin" || g.rng.u32(..50) == 0 {
        obj.insert("sessionCredentialFromConsole".into(), json!("true"));
    }
    if from_service && g.rng.u32(..20) == 0 {
        // A service's own event (key rotation, scheduled actions), not an API call.
        obj.insert("eventType".into(), json!("AwsServiceEvent"));
        obj.insert(
            "serviceEventDetails".into(),
            json!({"keyId": g.uuid(), "rotationType": "AUTOMATIC"}),
        );
    }
    if source == "cloudtrail.amazonaws.com" {
        obj.insert("apiVersion".into(), json!("2013-11-01"));
    }
    if from_service && g.rng.u32(..4) == 0 {
        // The copy of a cross-account event that a service made on the caller's behalf.
        obj.insert("sharedEventID".into(), json!(g.uuid()));
    }
    if g.rng.u32(..200) == 0 {
        let mut v = pooled(g.seed, &[&account, &"vpce", &g.rng.u32(..3)]);
        obj.insert("vpcEndpointId".into(), json!(format!("vpce-{}", v.hex(17))));
        obj.insert("vpcEndpointAccountId".into(), json!(account));
    }
    rec
}

fn write_gz(path: &Path, data: &[u8]) {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create folder");
    }
    let f = std::fs::File::create(path).expect("create file");
    let mut e =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::new(6));
    e.write_all(data).expect("write");
    e.finish().expect("finish").flush().expect("flush");
}

fn main() {
    let a = parse_args();
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(a.seed),
        seed: a.seed,
    };
    let start_day = days_from_civil(a.start.0, a.start.1, a.start.2);
    let (mut files, mut records, mut bytes) = (0u64, 0u64, 0u64);
    for acct_i in 0..a.accounts {
        let account = format!("{:012}", a.account_base + acct_i as u64 * 1_000_003);
        for region in &a.regions {
            let mut chain = DigestChain::default();
            for day_i in 0..a.days as i64 {
                let day = start_day + day_i;
                let (y, m, d) = civil_from_days(day);
                let mut base = a.out.join("AWSLogs");
                if let Some(o) = &a.org {
                    base = base.join(o);
                }
                let folder = base
                    .join(&account)
                    .join("CloudTrail")
                    .join(region)
                    .join(format!("{y:04}/{m:02}/{d:02}"));
                for f in 0..a.files {
                    // Delivery every 1440/files minutes, starting 5 minutes after midnight.
                    let minute = 5 + (f as i64 * 1440) / a.files as i64;
                    let deliver = day * 86_400 + minute.min(1439) * 60;
                    let mut recs = Vec::with_capacity(a.records as usize);
                    for _ in 0..a.records {
                        // Events happened in the ~6 minutes before delivery.
                        let secs = deliver - g.rng.i64(1..360);
                        recs.push(event(&mut g, &account, region, secs));
                    }
                    records += recs.len() as u64;
                    let text = serde_json::to_vec(&json!({"Records": recs})).expect("json");
                    bytes += text.len() as u64;
                    let (dy, dm, dd) = civil_from_days(deliver.div_euclid(86_400));
                    let s = deliver.rem_euclid(86_400);
                    let name = format!("{account}_CloudTrail_{region}_{dy:04}{dm:02}{dd:02}T{:02}{:02}Z_{}.json.gz", s / 3600, s / 60 % 60, g.hex(16));
                    let path = folder.join(name);
                    write_gz(&path, &text);
                    if a.digests {
                        let key = path
                            .strip_prefix(&a.out)
                            .unwrap_or(&path)
                            .to_string_lossy()
                            .into_owned();
                        chain.listed.push((deliver, key, sha256_hex(&text)));
                    }
                    files += 1;
                }
                if a.digests {
                    let dig_base = base.join(&account).join("CloudTrail-Digest").join(region);
                    for hour in 0..24 {
                        chain.write(
                            &a.out,
                            &dig_base,
                            &account,
                            region,
                            day * 86_400 + hour * 3600,
                        );
                    }
                }
            }
        }
    }
    eprintln!(
        "trailpack-gen: {files} files, {records} records, {:.1} MB JSON under {}",
        bytes as f64 / 1e6,
        a.out.display()
    );
}
