//! Digests and log files in; a status per log file and the problems of the digests
//! out ("Validate the digest file" and "Validate the log files", Custom
//! implementations of CloudTrail log file integrity validation).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{object_identity, DigestFile, PublicKeys};

/// A log file that was found, with the hex SHA-256 of its uncompressed content.
#[derive(Debug, Clone)]
pub struct LogFile {
    pub location: String,
    pub sha256: String,
}

/// What the digests say of one log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogStatus {
    /// Its hash is the one a digest lists, that digest's signature verifies with
    /// CloudTrail's key and its link to the previous digest holds.
    Valid,
    /// Its hash is the one a digest lists and the digest's link to the previous one
    /// holds, but no signature could be checked: a copy made without the digests'
    /// S3 metadata, checked without public keys (with them, every digest but the
    /// newest of a chain is checked with the signature its successor recorded).
    HashChained,
    /// Its hash is the one a digest lists, but that digest is itself in doubt (its
    /// signature fails, its key is unknown, its link to the previous digest is
    /// broken or missing, or it was moved): see the digest problems.
    Unproven,
    /// No digest lists it: delivered while validation was off, or put there by
    /// someone else.
    NotCovered,
    /// A digest lists it with another hash: its content changed after delivery.
    Modified,
}

impl LogStatus {
    pub const ALL: [LogStatus; 5] = [
        LogStatus::Valid,
        LogStatus::HashChained,
        LogStatus::Unproven,
        LogStatus::NotCovered,
        LogStatus::Modified,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogStatus::Valid => "valid",
            LogStatus::HashChained => "hash-chained",
            LogStatus::Unproven => "unproven",
            LogStatus::NotCovered => "not-covered",
            LogStatus::Modified => "modified",
        }
    }
}

/// A problem of the digests themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A digest lists a log file that is not there.
    Deleted,
    /// A digest names a previous digest that is not there (deleted, or never
    /// delivered).
    ChainGap,
    /// The previous digest is there, but its hash or signature is not the one the
    /// next digest recorded: it was changed or replaced.
    ChainBreak,
    /// The digest's signature does not verify (or its algorithm is not SHA256withRSA).
    BadSignature,
    /// No public key has the digest's fingerprint.
    UnknownKey,
    /// The digest says it was delivered elsewhere than where it was found.
    Moved,
    /// The digest file cannot be read (not gzip, not JSON, fields missing).
    Unreadable,
}

impl ProblemKind {
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Deleted => "deleted",
            ProblemKind::ChainGap => "chain-gap",
            ProblemKind::ChainBreak => "chain-break",
            ProblemKind::BadSignature => "bad-signature",
            ProblemKind::UnknownKey => "unknown-key",
            ProblemKind::Moved => "moved",
            ProblemKind::Unreadable => "unreadable",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestProblem {
    pub kind: ProblemKind,
    /// The digest concerned (where it was found).
    pub digest: String,
    /// The file it concerns and what was expected.
    pub detail: String,
}

/// The outcome: a status per log file (in the order given) and the digest problems.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub logs: Vec<LogStatus>,
    pub problems: Vec<DigestProblem>,
    /// Digests in scope whose signature was checked (verified or not).
    pub signatures_checked: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signed {
    Verified,
    Unsigned,
    Failed,
}

/// What of the digests and logs given is being checked: the rest is context.
pub struct Scope<'a> {
    /// Whether a log file a digest lists (its identity from `AWSLogs/` on) belongs
    /// to the range checked; only those are reported `deleted` when absent.
    pub log: &'a dyn Fn(&str) -> bool,
    /// Whether a digest (where it was found) belongs to the range checked; the
    /// others only anchor the chain (the digest before the first of the range)
    /// and their own problems are not reported.
    pub digest: &'a dyn Fn(&str) -> bool,
}

impl Scope<'_> {
    /// Everything given is checked.
    pub const ALL: Scope<'static> = Scope {
        log: &|_| true,
        digest: &|_| true,
    };
}

/// Check `logs` against `digests`. `keys`: CloudTrail's public keys (none: no
/// signature can be verified).
pub fn check(
    digests: &[DigestFile],
    logs: &[LogFile],
    keys: Option<&PublicKeys>,
    scope: &Scope<'_>,
) -> Checked {
    let states = DigestStates::of(digests, keys, scope);
    // Every listing of a log file: (digest, hash).
    let mut listed: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    for (i, d) in digests.iter().enumerate() {
        for l in &d.digest.log_files {
            listed
                .entry(object_identity(&l.s3_object))
                .or_default()
                .push((i, &l.hash_value));
        }
    }
    let statuses = logs
        .iter()
        .map(|l| match listed.get(object_identity(&l.location)) {
            None => LogStatus::NotCovered,
            Some(entries) => entries
                .iter()
                .filter(|(_, h)| h.eq_ignore_ascii_case(&l.sha256))
                .map(|&(i, _)| states.status(i))
                .min()
                .unwrap_or(LogStatus::Modified),
        })
        .collect();
    let signatures_checked = digests
        .iter()
        .zip(&states.signed)
        .filter(|(d, s)| **s != Signed::Unsigned && (scope.digest)(&d.location))
        .count();
    let mut problems = states.problems;
    problems.retain(|p| (scope.digest)(&p.digest));
    problems.extend(deleted(digests, logs, &listed, scope));
    Checked {
        logs: statuses,
        problems,
        signatures_checked,
    }
}

/// What is known of each digest: its signature, its own link to the previous
/// digest, the whole chain before it; and the problems found.
struct DigestStates {
    signed: Vec<Signed>,
    /// Not moved, and its link to the previous digest holds.
    linked: Vec<bool>,
    /// Linked, and so is every digest before it (among those read).
    chained: Vec<bool>,
    problems: Vec<DigestProblem>,
}

impl DigestStates {
    fn of(digests: &[DigestFile], keys: Option<&PublicKeys>, scope: &Scope<'_>) -> Self {
        let mut problems = Vec::new();
        let mut problem = |kind, d: &DigestFile, detail: String| {
            problems.push(DigestProblem {
                kind,
                digest: d.location.clone(),
                detail,
            })
        };
        let by_identity: HashMap<&str, usize> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| (object_identity(&d.location), i))
            .collect();
        // A digest without its S3 metadata (a local copy) is signed by the signature
        // its successor recorded (`previousDigestSignature`): "Validating digest and
        // log files offline" — all but the newest digest of a chain can be checked.
        let recorded = recorded_signatures(digests, &by_identity);
        let signed: Vec<Signed> = digests
            .iter()
            .zip(&recorded)
            .map(|(d, r)| match (&d.signature, r) {
                (None, Some(sig)) if keys.is_some() => {
                    let mut with = d.clone();
                    let algorithm = d.digest.digest_signature_algorithm.clone();
                    with.signature = Some((sig.clone(), algorithm));
                    signature_state(&with, keys, &mut problem)
                }
                _ => signature_state(d, keys, &mut problem),
            })
            .collect();
        let linked: Vec<bool> = digests
            .iter()
            .map(|d| linked(d, &by_identity, digests, scope, &mut problem))
            .collect();
        // Without signatures, a digest is only as sound as every link before it: a
        // digest after a gap or break could have been written by whoever made it.
        let previous: Vec<Option<usize>> = digests
            .iter()
            .map(|d| {
                let p = d.digest.previous_digest_s3_object.as_deref()?;
                by_identity.get(object_identity(p)).copied()
            })
            .collect();
        let chained = chain_holds(&linked, &previous);
        DigestStates {
            signed,
            linked,
            chained,
            problems,
        }
    }

    /// The status of a log file whose hash digest `i` lists.
    fn status(&self, i: usize) -> LogStatus {
        match self.signed[i] {
            Signed::Verified if self.linked[i] => LogStatus::Valid,
            Signed::Unsigned if self.chained[i] => LogStatus::HashChained,
            _ => LogStatus::Unproven,
        }
    }
}

/// Whether a digest is where it says it was delivered and links to its previous
/// digest. A digest read only as context (the anchor before the range) whose
/// previous digest was not read starts the chain.
fn linked(
    d: &DigestFile,
    by_identity: &HashMap<&str, usize>,
    digests: &[DigestFile],
    scope: &Scope<'_>,
    problem: &mut impl FnMut(ProblemKind, &DigestFile, String),
) -> bool {
    let here = object_identity(&d.location);
    let said = object_identity(&d.digest.digest_s3_object);
    if here != said {
        problem(ProblemKind::Moved, d, format!("it says it is {said}"));
        return false;
    }
    let context_root = !(scope.digest)(&d.location)
        && d.digest
            .previous_digest_s3_object
            .as_deref()
            .is_some_and(|p| !by_identity.contains_key(object_identity(p)));
    context_root || link_holds(d, by_identity, digests, problem)
}

/// Log files of the range that a digest lists and that are not there.
fn deleted(
    digests: &[DigestFile],
    logs: &[LogFile],
    listed: &HashMap<&str, Vec<(usize, &str)>>,
    scope: &Scope<'_>,
) -> Vec<DigestProblem> {
    let found: std::collections::HashSet<&str> =
        logs.iter().map(|l| object_identity(&l.location)).collect();
    let mut absent: Vec<(&str, usize)> = listed
        .iter()
        .filter(|(id, _)| !found.contains(*id) && (scope.log)(id))
        .map(|(id, e)| (*id, e[0].0))
        .collect();
    absent.sort_unstable();
    absent
        .into_iter()
        .map(|(id, i)| DigestProblem {
            kind: ProblemKind::Deleted,
            digest: digests[i].location.clone(),
            detail: format!("lists {id}, which is not there"),
        })
        .collect()
}

/// For each digest, the signature the next digest of its chain recorded for it.
fn recorded_signatures(
    digests: &[DigestFile],
    by_identity: &HashMap<&str, usize>,
) -> Vec<Option<String>> {
    let mut out = vec![None; digests.len()];
    for d in digests {
        let (Some(prev), Some(sig)) = (
            d.digest.previous_digest_s3_object.as_deref(),
            d.digest.previous_digest_signature.as_deref(),
        ) else {
            continue;
        };
        if let Some(&i) = by_identity.get(object_identity(prev)) {
            out[i] = Some(sig.to_string());
        }
    }
    out
}

fn signature_state(
    d: &DigestFile,
    keys: Option<&PublicKeys>,
    problem: &mut impl FnMut(ProblemKind, &DigestFile, String),
) -> Signed {
    if d.signature.is_none() {
        return Signed::Unsigned;
    }
    let fingerprint = &d.digest.digest_public_key_fingerprint;
    let Some(key) = keys.and_then(|k| k.get(fingerprint)) else {
        problem(
            ProblemKind::UnknownKey,
            d,
            format!("no public key with fingerprint {fingerprint}"),
        );
        return Signed::Failed;
    };
    match d.signature_verifies(key) {
        Some(true) => Signed::Verified,
        Some(false) => {
            problem(
                ProblemKind::BadSignature,
                d,
                "the signature does not verify".into(),
            );
            Signed::Failed
        }
        None => {
            let algorithm = d.signature.as_ref().map_or("", |s| s.1.as_str());
            problem(
                ProblemKind::BadSignature,
                d,
                format!("signature algorithm {algorithm:?} is not SHA256withRSA"),
            );
            Signed::Failed
        }
    }
}

/// For each digest, whether its own link and every link before it (among the
/// digests read) hold.
fn chain_holds(own: &[bool], previous: &[Option<usize>]) -> Vec<bool> {
    let mut memo: Vec<Option<bool>> = vec![None; own.len()];
    let mut on_path = vec![false; own.len()];
    for start in 0..own.len() {
        let mut path = Vec::new();
        let mut j = start;
        let result = loop {
            if let Some(v) = memo[j] {
                break v;
            }
            if !own[j] || on_path[j] {
                break false;
            }
            on_path[j] = true;
            path.push(j);
            match previous[j] {
                Some(p) => j = p,
                None => break true,
            }
        };
        for k in path {
            on_path[k] = false;
            memo[k] = Some(result);
        }
    }
    memo.into_iter().map(|m| m.unwrap_or(false)).collect()
}

/// Whether the digest's link to its previous digest holds (or it starts a chain).
fn link_holds(
    d: &DigestFile,
    by_identity: &HashMap<&str, usize>,
    digests: &[DigestFile],
    problem: &mut impl FnMut(ProblemKind, &DigestFile, String),
) -> bool {
    let Some(prev) = d.digest.previous_digest_s3_object.as_deref() else {
        return true;
    };
    let prev_id = object_identity(prev);
    let Some(&j) = by_identity.get(prev_id) else {
        problem(
            ProblemKind::ChainGap,
            d,
            format!("its previous digest {prev_id} is not there"),
        );
        return false;
    };
    let p = &digests[j];
    let hash_ok = d
        .digest
        .previous_digest_hash_value
        .as_deref()
        .is_some_and(|h| h.eq_ignore_ascii_case(&p.sha256));
    let signature_ok = match (&p.signature, &d.digest.previous_digest_signature) {
        (Some((sig, _)), Some(said)) => sig.eq_ignore_ascii_case(said),
        (Some(_), None) => false,
        // A copy without metadata: the hash is what links them.
        (None, _) => true,
    };
    if !(hash_ok && signature_ok) {
        let what = if hash_ok { "signature" } else { "hash" };
        problem(
            ProblemKind::ChainBreak,
            d,
            format!("its previous digest {prev_id} has another {what} than it recorded"),
        );
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;

    const FP: &str = "31e8b5433410dfb61a9dc45cc65b22ff";

    struct Trail {
        key: KeyPair,
        digests: Vec<DigestFile>,
    }

    fn log_key(n: usize) -> String {
        format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T{n:02}05Z_x.json.gz")
    }

    fn log_content(n: usize) -> Vec<u8> {
        format!("{{\"Records\":[{{\"eventID\":\"e{n}\"}}]}}").into_bytes()
    }

    impl Trail {
        fn new() -> Trail {
            Trail {
                key: KeyPair::generate(KeySize::Rsa2048).unwrap(),
                digests: Vec::new(),
            }
        }

        fn keys(&self) -> PublicKeys {
            let mut k = PublicKeys::default();
            k.insert(FP, self.key.public_key().as_ref().to_vec());
            k
        }

        fn sign(&self, msg: &[u8]) -> String {
            let mut sig = vec![0; self.key.public_modulus_len()];
            self.key
                .sign(
                    &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                    &aws_lc_rs::rand::SystemRandom::new(),
                    msg,
                    &mut sig,
                )
                .unwrap();
            super::super::hex(&sig)
        }

        /// The digest of hour `n`, listing log `n`, chained to the last one.
        fn hour(&mut self, n: usize) {
            let key = format!("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T{:02}0000Z.json.gz", n + 1);
            let prev = self.digests.last();
            let body = serde_json::json!({
                "awsAccountId": "111122223333",
                "digestStartTime": format!("2024-03-05T{n:02}:00:00Z"),
                "digestEndTime": format!("2024-03-05T{:02}:00:00Z", n + 1),
                "digestS3Bucket": "trail-bucket",
                "digestS3Object": key,
                "digestPublicKeyFingerprint": FP,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": prev.map(|_| "trail-bucket"),
                "previousDigestS3Object": prev.map(|p| p.location.clone()),
                "previousDigestHashValue": prev.map(|p| p.sha256.clone()),
                "previousDigestHashAlgorithm": prev.map(|_| "SHA-256"),
                "previousDigestSignature": prev.map(|p| p.signature.clone().unwrap().0),
                "logFiles": [{
                    "s3Bucket": "trail-bucket",
                    "s3Object": log_key(n),
                    "hashValue": crate::integrity::sha256_hex(&log_content(n)),
                    "hashAlgorithm": "SHA-256",
                }],
            });
            let mut d = DigestFile::parse(&key, body.to_string().as_bytes(), None).unwrap();
            let sig = self.sign(d.string_to_sign().as_bytes());
            d.signature = Some((sig, "SHA256withRSA".into()));
            self.digests.push(d);
        }
    }

    fn logs(hours: &[usize]) -> Vec<LogFile> {
        hours
            .iter()
            .map(|&n| LogFile {
                location: format!("copy/{}", log_key(n)),
                sha256: crate::integrity::sha256_hex(&log_content(n)),
            })
            .collect()
    }

    fn kinds(c: &Checked) -> Vec<ProblemKind> {
        c.problems.iter().map(|p| p.kind).collect()
    }

    fn chain(n: usize) -> Trail {
        let mut t = Trail::new();
        (0..n).for_each(|h| t.hour(h));
        t
    }

    #[test]
    fn a_signed_intact_chain_makes_every_listed_file_valid() {
        let t = chain(3);
        let c = check(&t.digests, &logs(&[0, 1, 2]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(c.logs, [LogStatus::Valid; 3]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    #[test]
    fn the_signing_string_is_the_documented_one() {
        let t = chain(2);
        let d = &t.digests[1];
        let s = d.string_to_sign();
        let lines: Vec<&str> = s.split('\n').collect();
        assert_eq!(lines[0], "2024-03-05T02:00:00Z");
        assert_eq!(lines[1], format!("trail-bucket/{}", d.location));
        assert_eq!(lines[2], d.sha256);
        assert_eq!(lines[3], t.digests[0].signature.as_ref().unwrap().0);
        // The first of a chain signs `null` for the previous signature.
        assert!(t.digests[0].string_to_sign().ends_with("\nnull"));
    }

    #[test]
    fn a_changed_log_is_modified_and_a_missing_one_deleted() {
        let t = chain(3);
        let mut l = logs(&[0, 2]);
        l[1].sha256 = crate::integrity::sha256_hex(b"{\"Records\":[]}");
        let c = check(&t.digests, &l, Some(&t.keys()), &Scope::ALL);
        assert_eq!(c.logs, [LogStatus::Valid, LogStatus::Modified]);
        assert_eq!(kinds(&c), [ProblemKind::Deleted]);
        assert!(c.problems[0].detail.contains(&log_key(1)));
        // Out of the range checked: not reported.
        let none = Scope {
            log: &|_| false,
            digest: &|_| true,
        };
        let c = check(&t.digests, &l, Some(&t.keys()), &none);
        assert!(c.problems.is_empty());
    }

    #[test]
    fn digests_out_of_scope_anchor_the_chain_without_their_own_problems() {
        let mut t = chain(4);
        // The first digest is gone: the second (out of scope) has a gap, but it
        // still anchors the third, whose link holds.
        t.digests.remove(0);
        let scope = Scope {
            log: &|l| !l.contains("T0105Z"),
            digest: &|d| !d.contains("T020000Z"),
        };
        let c = check(&t.digests, &logs(&[2, 3]), Some(&t.keys()), &scope);
        assert_eq!(c.logs, [LogStatus::Valid, LogStatus::Valid]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        // In scope, both show: the gap, and the hour-1 log the anchor lists.
        let c = check(&t.digests, &logs(&[2, 3]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(kinds(&c), [ProblemKind::ChainGap, ProblemKind::Deleted]);
    }

    #[test]
    fn a_deleted_digest_is_a_gap_and_what_follows_is_unproven() {
        let mut t = chain(3);
        t.digests.remove(1);
        let c = check(&t.digests, &logs(&[0, 2]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(c.logs, [LogStatus::Valid, LogStatus::Unproven]);
        assert_eq!(kinds(&c), [ProblemKind::ChainGap]);
        assert!(c.problems[0].digest.contains("T030000Z"));
    }

    #[test]
    fn an_altered_signature_fails_and_breaks_the_next_link() {
        let mut t = chain(3);
        let (sig, _) = t.digests[1].signature.as_mut().unwrap();
        let flipped = if sig.starts_with('0') { "1" } else { "0" };
        sig.replace_range(0..1, flipped);
        let c = check(&t.digests, &logs(&[0, 1, 2]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(
            c.logs,
            [LogStatus::Valid, LogStatus::Unproven, LogStatus::Unproven]
        );
        assert_eq!(
            kinds(&c),
            [ProblemKind::BadSignature, ProblemKind::ChainBreak]
        );
    }

    #[test]
    fn a_changed_digest_breaks_its_signature_and_the_next_link() {
        let mut t = chain(3);
        // Rewritten content: another hash, the old signature.
        t.digests[1].sha256 = crate::integrity::sha256_hex(b"rewritten");
        let c = check(&t.digests, &logs(&[0, 1, 2]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(
            kinds(&c),
            [ProblemKind::BadSignature, ProblemKind::ChainBreak]
        );
        assert!(c.problems[1].detail.contains("another hash"));
    }

    #[test]
    fn unlisted_files_are_not_covered_and_copies_without_metadata_hash_chained() {
        let mut t = chain(2);
        let mut l = logs(&[0, 1]);
        l.push(LogFile {
            location: log_key(7),
            sha256: crate::integrity::sha256_hex(&log_content(7)),
        });
        for d in &mut t.digests {
            d.signature = None;
        }
        let c = check(&t.digests, &l, None, &Scope::ALL);
        assert_eq!(
            c.logs,
            [
                LogStatus::HashChained,
                LogStatus::HashChained,
                LogStatus::NotCovered
            ]
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    #[test]
    fn a_copy_without_metadata_is_signed_by_the_next_digests_record() {
        let mut t = chain(3);
        for d in &mut t.digests {
            d.signature = None;
        }
        let c = check(&t.digests, &logs(&[0, 1, 2]), Some(&t.keys()), &Scope::ALL);
        // The newest digest's signature is recorded nowhere else.
        assert_eq!(
            c.logs,
            [LogStatus::Valid, LogStatus::Valid, LogStatus::HashChained]
        );
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        // A digest changed in the copy no longer matches its recorded signature.
        let mut changed = t.digests.clone();
        changed[0].sha256 = crate::integrity::sha256_hex(b"another content");
        let c = check(&changed, &logs(&[0, 1, 2]), Some(&t.keys()), &Scope::ALL);
        assert_eq!(c.logs[0], LogStatus::Unproven);
        assert_eq!(
            kinds(&c),
            [ProblemKind::BadSignature, ProblemKind::ChainBreak]
        );
    }

    #[test]
    fn without_signatures_a_gap_leaves_every_later_digest_unproven() {
        let mut t = chain(4);
        for d in &mut t.digests {
            d.signature = None;
        }
        // The first digest is gone: the second reports the gap; the third and
        // fourth link correctly but hang from it.
        let rest = t.digests[1..].to_vec();
        let c = check(&rest, &logs(&[1, 2, 3]), None, &Scope::ALL);
        assert_eq!(c.logs, [LogStatus::Unproven; 3]);
        assert_eq!(kinds(&c), [ProblemKind::ChainGap]);
        // Read as context only (the day before a range), the second digest starts
        // the chain: its missing predecessor is outside what was read.
        let second = rest[0].location.clone();
        let scope = Scope {
            log: &|_| true,
            digest: &|d| d != second,
        };
        let c = check(&rest, &logs(&[1, 2, 3]), None, &scope);
        assert_eq!(c.logs, [LogStatus::HashChained; 3]);
        assert!(c.problems.is_empty(), "{:?}", c.problems);
    }

    #[test]
    fn an_unknown_key_is_reported_and_proves_nothing() {
        let t = chain(1);
        let c = check(
            &t.digests,
            &logs(&[0]),
            Some(&PublicKeys::default()),
            &Scope::ALL,
        );
        assert_eq!(c.logs, [LogStatus::Unproven]);
        assert_eq!(kinds(&c), [ProblemKind::UnknownKey]);
        // Another key with the same fingerprint: the signature fails.
        let other = Trail::new();
        let c = check(&t.digests, &logs(&[0]), Some(&other.keys()), &Scope::ALL);
        assert_eq!(kinds(&c), [ProblemKind::BadSignature]);
    }
}
