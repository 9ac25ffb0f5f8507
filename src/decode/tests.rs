use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::Array;

fn decoder() -> Decoder {
    Decoder::new(TableSchema::embedded(), 1 << 30)
}

fn decode(text: &str) -> DecodedFile {
    decoder()
        .decode(text.as_bytes(), RowFilter::All, "test")
        .expect("decodes")
}

fn col<'b>(f: &'b DecodedFile, name: &str) -> &'b dyn Array {
    f.batch.column_by_name(name).expect(name).as_ref()
}

fn s(f: &DecodedFile, name: &str, row: usize) -> Option<String> {
    let a = col(f, name).as_string::<i32>();
    a.is_valid(row).then(|| a.value(row).to_string())
}

fn b(f: &DecodedFile, name: &str, row: usize) -> Option<bool> {
    let a = col(f, name).as_boolean();
    a.is_valid(row).then(|| a.value(row))
}

fn ts(f: &DecodedFile, name: &str, row: usize) -> Option<i64> {
    let a = col(f, name).as_primitive::<TimestampMicrosecondType>();
    a.is_valid(row).then(|| a.value(row))
}

#[test]
fn maps_columns_and_keeps_loose_fields_verbatim() {
    let f = decode(
        r#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/R/s","sessionContext":{"attributes":{"creationDate":"2024-01-02T03:04:05Z","mfaAuthenticated":"false"},"sessionIssuer":{"type":"Role","userName":"R"}}},"eventTime":"2024-01-02T03:04:06Z","eventName":"GetObject","requestParameters":{"b":1.50, "a" : [1,2]},"responseElements":null,"readOnly":true,"resources":[{"ARN":"arn:aws:s3:::b","accountId":"111122223333","type":"AWS::S3::Bucket"}],"eventID":"e1"}]}"#,
    );
    assert_eq!(f.batch.num_rows(), 1);
    assert_eq!(f.records, 1);
    assert_eq!(s(&f, "eventversion", 0).as_deref(), Some("1.08"));
    assert_eq!(
        s(&f, "useridentity_type", 0).as_deref(),
        Some("AssumedRole")
    );
    assert_eq!(
        s(&f, "useridentity_sessioncontext_sessionissuer_username", 0).as_deref(),
        Some("R")
    );
    assert_eq!(
        b(
            &f,
            "useridentity_sessioncontext_attributes_mfaauthenticated",
            0
        ),
        Some(false)
    );
    assert_eq!(
        ts(&f, "useridentity_sessioncontext_attributes_creationdate", 0),
        Some(1_704_164_645_000_000)
    );
    assert_eq!(ts(&f, "eventtime", 0), Some(1_704_164_646_000_000));
    // Exact source text, spacing and number formatting included.
    assert_eq!(
        s(&f, "requestparameters", 0).as_deref(),
        Some(r#"{"b":1.50, "a" : [1,2]}"#)
    );
    assert_eq!(s(&f, "responseelements", 0).as_deref(), Some("null"));
    assert_eq!(b(&f, "readonly", 0), Some(true));
    assert_eq!(s(&f, "errorcode", 0), None);
    assert_eq!(s(&f, "unmapped", 0), None);
    let res = col(&f, "resources").as_list::<i32>();
    let first = res.value(0);
    let st = first.as_struct();
    assert_eq!(st.len(), 1);
    assert_eq!(st.column(0).as_string::<i32>().value(0), "arn:aws:s3:::b");
    assert_eq!(st.column(2).as_string::<i32>().value(0), "AWS::S3::Bucket");
}

#[test]
fn unknown_and_misfit_values_go_to_unmapped_under_their_path() {
    let f = decode(
        r#"{"Records":[{"eventTime":"...","readOnly":"maybe","userIdentity":{"type":{"x":1},"accesKeyId":"AKIA","sessionContext":{"attributes":{},"webIdFederationData":{"attributes":{"k":"v"}}}},"p_log_type":"AWS.CloudTrail","tlsDetails":null,"errorCode":null,"resources":[{"ARN":"a","extra":1}],"sessionCredentialFromConsole":"True","managementEvent":"FALSE","recipientAccountId":123456789012}]}"#,
    );
    assert_eq!(ts(&f, "eventtime", 0), None);
    assert_eq!(b(&f, "readonly", 0), None);
    assert_eq!(s(&f, "useridentity_type", 0), None);
    assert_eq!(b(&f, "sessioncredentialfromconsole", 0), Some(true));
    assert_eq!(b(&f, "managementevent", 0), Some(false));
    assert_eq!(
        s(&f, "recipientaccountid", 0).as_deref(),
        Some("123456789012")
    );
    assert_eq!(
        s(
            &f,
            "useridentity_sessioncontext_webidfederationdata_attributes",
            0
        )
        .as_deref(),
        Some(r#"{"k":"v"}"#)
    );
    let u: serde_json::Value = serde_json::from_str(&s(&f, "unmapped", 0).unwrap()).unwrap();
    assert_eq!(
        u,
        serde_json::json!({
            "eventTime": "...",
            "readOnly": "maybe",
            "userIdentity": {"type": {"x": 1}, "accesKeyId": "AKIA", "sessionContext": {"attributes": {}}},
            "p_log_type": "AWS.CloudTrail",
            "tlsDetails": null,
            "errorCode": null,
            "resources": [{"ARN": "a", "extra": 1}]
        })
    );
    assert!(col(&f, "resources").is_null(0));
}

/// The resources lists of consecutive records, one of which does not fit: each
/// row gets its own structs, whatever the row before it held.
#[test]
fn resources_lists_of_consecutive_records_stay_apart() {
    let f = decode(
        r#"{"Records":[
        {"eventTime":"2024-03-05T10:00:00Z","resources":[{"ARN":"a1","type":"t1"},{"accountId":"1","ARN":"a2"}]},
        {"eventTime":"2024-03-05T10:00:01Z","resources":[{"ARN":"b1"},{"ARN":"b2","extra":true}]},
        {"eventTime":"2024-03-05T10:00:02Z","resources":[{"type":"c1"}]},
        {"eventTime":"2024-03-05T10:00:03Z","resources":[]}]}"#,
    );
    let res = col(&f, "resources").as_list::<i32>();
    let rows: Vec<Option<Vec<[Option<String>; 3]>>> = (0..4)
        .map(|r| {
            res.is_valid(r).then(|| {
                let st = res.value(r);
                let st = st.as_struct();
                (0..st.len())
                    .map(|i| {
                        std::array::from_fn(|c| {
                            let a = st.column(c).as_string::<i32>();
                            a.is_valid(i).then(|| a.value(i).to_string())
                        })
                    })
                    .collect()
            })
        })
        .collect();
    let some = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        vec![
            Some(vec![
                [some("a1"), None, some("t1")],
                [some("a2"), some("1"), None]
            ]),
            None,
            Some(vec![[None, None, some("c1")]]),
            Some(vec![]),
        ]
    );
    let u: serde_json::Value = serde_json::from_str(&s(&f, "unmapped", 1).unwrap()).unwrap();
    assert_eq!(
        u,
        serde_json::json!({"resources": [{"ARN": "b1"}, {"ARN": "b2", "extra": true}]})
    );
    assert_eq!(s(&f, "unmapped", 2), None);
}

#[test]
fn duplicate_keys_are_kept() {
    let f = decode(r#"{"Records":[{"eventName":"A","eventName":"B"}]}"#);
    assert_eq!(s(&f, "eventname", 0).as_deref(), Some("A"));
    assert_eq!(
        s(&f, "unmapped", 0).as_deref(),
        Some(r#"{"eventName":"B"}"#)
    );
    // Both occurrences of an object with members no column takes: the second is
    // `userIdentity#2`, so a standard JSON reader of `unmapped` keeps both.
    let f = decode(
        r#"{"Records":[{"userIdentity":{"type":"A","x":1},"userIdentity":{"type":"B","x":2},"eventName":"C","eventName":"D","eventName":"E"}]}"#,
    );
    assert_eq!(s(&f, "useridentity_type", 0).as_deref(), Some("A"));
    let u = s(&f, "unmapped", 0).unwrap();
    assert_eq!(
        u,
        r#"{"userIdentity":{"x":1},"userIdentity#2":{"type":"B","x":2},"eventName":"D","eventName#2":"E"}"#
    );
    let parsed: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&u).unwrap();
    assert_eq!(parsed.len(), 4, "no key collapsed: {u}");
}

#[test]
fn escaped_strings_and_keys() {
    let f = decode(r#"{"Records":[{"eventName":"a\"b\u00e9","we\"ird":1}]}"#);
    assert_eq!(s(&f, "eventname", 0).as_deref(), Some("a\"bé"));
    assert_eq!(s(&f, "unmapped", 0).as_deref(), Some(r#"{"we\"ird":1}"#));
}

#[test]
fn row_filter_by_event_day() {
    let text = r#"{"Records":[{"eventTime":"2024-01-01T23:59:00Z","eventID":"a"},{"eventTime":"2024-01-02T00:01:00Z","eventID":"b"},{"eventID":"c"}]}"#;
    let d = decoder();
    let day = timestamp::epoch_day(time::macros::date!(2024 - 01 - 01));
    let only = d
        .decode(text.as_bytes(), RowFilter::OnlyDay(day), "test")
        .unwrap();
    assert_eq!(
        (only.batch.num_rows(), only.filtered_out, only.records),
        (1, 2, 3)
    );
    assert_eq!(s(&only, "eventid", 0).as_deref(), Some("a"));
    let except = d
        .decode(text.as_bytes(), RowFilter::ExceptDay(day), "test")
        .unwrap();
    assert_eq!(except.batch.num_rows(), 2);
    assert_eq!(s(&except, "eventid", 1).as_deref(), Some("c"));
}

#[test]
fn rows_come_in_event_time_order_ties_in_file_order() {
    let f = decode(
        r#"{"Records":[{"eventID":"late","eventTime":"2024-01-02T00:00:09Z"},{"eventID":"none"},{"eventID":"tie1","eventTime":"2024-01-02T00:00:05Z"},{"eventID":"bad","eventTime":"yesterday"},{"eventID":"early","eventTime":"2024-01-02T00:00:01Z"},{"eventID":"tie2","eventTime":"2024-01-02T00:00:05.000Z"}]}"#,
    );
    let ids: Vec<String> = (0..6).map(|r| s(&f, "eventid", r).unwrap()).collect();
    // Without a (valid) eventTime last, as the row group's order has them.
    assert_eq!(ids, ["early", "tie1", "tie2", "late", "none", "bad"]);
    assert_eq!(ts(&f, "eventtime", 0), Some(1_704_153_601_000_000));
    // Each row's key is its own record's.
    assert_eq!(f.keys[0].event_id, Some(event_id_hash("early")));
    assert_eq!(f.keys[5].event_id, Some(event_id_hash("bad")));
    assert!(s(&f, "unmapped", 5).unwrap().contains("yesterday"));
}

/// The eventtime column takes the time parsed for the record's order only from
/// the same text: a repeated eventTime key keeps the first value that fits, the
/// rest go to `unmapped`, as for any other column.
#[test]
fn repeated_event_time_keys_keep_the_first_that_fits() {
    let f = decode(
        r#"{"Records":[{"eventID":"two","eventTime":"2024-01-02T00:00:05Z","eventTime":"2024-01-02T00:00:07Z"},{"eventID":"bad-first","eventTime":"soon","eventTime":"2024-01-02T00:00:09Z"}]}"#,
    );
    assert_eq!(s(&f, "eventid", 0).as_deref(), Some("two"));
    assert_eq!(ts(&f, "eventtime", 0), Some(1_704_153_605_000_000));
    assert_eq!(
        s(&f, "unmapped", 0).as_deref(),
        Some(r#"{"eventTime":"2024-01-02T00:00:07Z"}"#)
    );
    // The order uses the first eventTime (unparsable: last); the column the second.
    assert_eq!(s(&f, "eventid", 1).as_deref(), Some("bad-first"));
    assert_eq!(ts(&f, "eventtime", 1), Some(1_704_153_609_000_000));
    assert_eq!(
        s(&f, "unmapped", 1).as_deref(),
        Some(r#"{"eventTime":"soon"}"#)
    );
}

#[test]
fn row_keys_identify_content() {
    let f = decode(
        r#"{"Records":[{"eventID":"x","a":1},{"eventID":"x","a":1},{"eventID":"x","a":2},{"a":1}]}"#,
    );
    assert_eq!(f.keys[0], f.keys[1]);
    assert_eq!(f.keys[0].event_id, f.keys[2].event_id);
    assert_ne!(f.keys[0].content, f.keys[2].content);
    assert_eq!(f.keys[3].event_id, None);
}

#[test]
fn empty_records_and_extra_top_level_keys() {
    let f = decode(r#"{"Records":[],"Extra":{"x":1}}"#);
    assert_eq!(f.batch.num_rows(), 0);
    assert_eq!(f.ignored_top_level_keys, vec!["Extra".to_string()]);
}

#[test]
fn bad_input_kinds() {
    let d = decoder();
    let kind = |text: &[u8]| d.decode(text, RowFilter::All, "test").unwrap_err().kind();
    assert_eq!(kind(b""), "empty");
    assert_eq!(kind(b"{\"Records\":[{}"), "not_json");
    assert_eq!(kind(b"hello"), "not_json");
    assert_eq!(kind(b"[1,2]"), "not_an_object");
    assert_eq!(kind(b"{\"records\":[]}"), "no_records");
    assert_eq!(kind(b"{\"Records\":{}}"), "records_not_array");
    assert_eq!(kind(b"{\"Records\":[{},\"x\"]}"), "record_not_object");
    assert_eq!(kind(b"{\"Records\":[]} trailing"), "not_json");
    assert_eq!(kind(b"{\"Records\":[{\"a\":\"\xff\"}]}"), "invalid_utf8");
    match d.decode(b"{\"Records\":[{},{},7]}", RowFilter::All, "test") {
        Err(DecodeError::RecordNotObject { index, .. }) => assert_eq!(index, 2),
        other => panic!("{other:?}"),
    }
    match d.decode(b"{\"a\":\"\xc3\x28\"}", RowFilter::All, "test") {
        Err(DecodeError::InvalidUtf8 { offset }) => assert_eq!(offset, 6),
        other => panic!("{other:?}"),
    }
}

#[test]
fn derived_columns_copy_top_level_members_only() {
    let f = decode(
        r#"{"Records":[
{"eventTime":"2024-01-02T03:04:06Z","requestParameters":{"roleArn":"arn:aws:iam::1:role/R","roleSessionName":"s","durationSeconds":3600},"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}},
{"eventTime":"2024-01-02T03:04:07Z","requestParameters":{"policy":{"roleArn":"nested, not top-level"},"bucketName":12,"userName":true}},
{"eventTime":"2024-01-02T03:04:08Z","requestParameters":"roleArn as a string","responseElements":null},
{"eventTime":"2024-01-02T03:04:09Z","requestParameters":{"role\u0041rn":"escaped key","groupName":"G\"q"}},
{"eventTime":"2024-01-02T03:04:10Z","requestParameters":{"bucket\u004eame":"only an escaped key"}}
]}"#,
    );
    assert_eq!(f.batch.num_rows(), 5);
    assert_eq!(
        s(&f, "requestparameters_bucketname", 4).as_deref(),
        Some("only an escaped key")
    );
    assert_eq!(
        s(&f, "requestparameters_rolearn", 0).as_deref(),
        Some("arn:aws:iam::1:role/R")
    );
    assert_eq!(
        s(&f, "responseelements_consolelogin", 0).as_deref(),
        Some("Failure")
    );
    assert_eq!(
        s(&f, "additionaleventdata_mfaused", 0).as_deref(),
        Some("No")
    );
    // The JSON column keeps the member.
    assert!(s(&f, "requestparameters", 0)
        .unwrap()
        .contains(r#""roleArn":"arn:aws:iam::1:role/R""#));
    // A nested key is not the member; a number is copied as its text; a boolean is not.
    assert_eq!(s(&f, "requestparameters_rolearn", 1), None);
    assert_eq!(
        s(&f, "requestparameters_bucketname", 1).as_deref(),
        Some("12")
    );
    assert_eq!(s(&f, "requestparameters_username", 1), None);
    // Not an object: nothing to copy.
    assert_eq!(s(&f, "requestparameters_rolearn", 2), None);
    assert_eq!(s(&f, "responseelements_consolelogin", 2), None);
    // An escaped key is the same key; escaped values are unescaped.
    assert_eq!(
        s(&f, "requestparameters_rolearn", 3).as_deref(),
        Some("escaped key")
    );
    assert_eq!(
        s(&f, "requestparameters_groupname", 3).as_deref(),
        Some("G\"q")
    );
    assert_eq!(s(&f, "unmapped", 0), None);
}

/// A bounded-time fuzz run (TRAILPACK_FUZZ_SECONDS, default 5): arbitrary bytes,
/// mutated records, and arbitrary gzip members (split, concatenated, truncated,
/// with lying trailers) never panic the decoder; every input ends in a batch or a
/// typed error, and no content beyond the limit is ever held.
#[test]
fn fuzz_arbitrary_bytes_and_gzip_members() {
    use std::io::Write;
    let seconds: u64 = std::env::var("TRAILPACK_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let d = Decoder::new(TableSchema::embedded(), 1 << 20);
    let seed = r#"{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"eventTime":"2024-03-05T10:00:00Z","eventName":"X","requestParameters":{"roleArn":"r","a":[1,{"b":null}]},"resources":[{"ARN":"x","accountId":"1","type":"t"}],"eventID":"e","readOnly":true}],"x":1}"#;
    let gz = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    };
    let mut rng = fastrand::Rng::with_seed(
        std::env::var("TRAILPACK_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut cases = 0u64;
    while std::time::Instant::now() < deadline {
        let mut text = seed.as_bytes().to_vec();
        for _ in 0..rng.usize(0..8) {
            let at = rng.usize(0..=text.len());
            match rng.u8(0..4) {
                0 if at < text.len() => text[at] = rng.u8(..),
                1 => {
                    let alphabet = b"{}[]\",:\\u0 9e-";
                    text.insert(at, alphabet[rng.usize(0..alphabet.len())]);
                }
                2 if at < text.len() => {
                    text.remove(at);
                }
                _ => {
                    let cut = rng.usize(0..=at);
                    let piece = text[cut..at].to_vec();
                    text.splice(at..at, piece);
                }
            }
        }
        let input: Vec<u8> = match rng.u8(0..5) {
            0 => (0..rng.usize(0..300)).map(|_| rng.u8(..)).collect(),
            1 => text.clone(),
            2 => {
                // Several members splitting the text at random points.
                let mut out = Vec::new();
                let mut rest = &text[..];
                while !rest.is_empty() {
                    let n = rng.usize(1..=rest.len());
                    out.extend(gz(&rest[..n]));
                    rest = &rest[n..];
                }
                out
            }
            3 => {
                let mut g = gz(&text);
                let n = g.len();
                g[n - 4..].copy_from_slice(&rng.u32(..).to_le_bytes());
                if rng.bool() {
                    g.truncate(rng.usize(0..n));
                }
                g
            }
            _ => {
                let mut g = gz(&text);
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(0..g.len());
                    g[at] = rng.u8(..);
                }
                g
            }
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            d.decode(&input, RowFilter::All, "fuzz")
        }));
        match result {
            Ok(Ok(f)) => assert_eq!(f.batch.num_rows(), f.keys.len()),
            Ok(Err(e)) => assert!(!e.kind().is_empty()),
            Err(_) => panic!(
                "decoder panicked on input {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
        cases += 1;
    }
    eprintln!("fuzz: {cases} inputs in {seconds} s");
    assert!(cases > 100);
}

#[test]
fn decoding_in_steps_gives_the_same_rows_in_batches() {
    let d = decoder();
    let records: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                r#"{{"eventID":"e{i}","eventTime":"2024-03-0{}T10:00:00Z","eventName":"N{i}","x":{i}}}"#,
                4 + i % 2
            )
        })
        .collect();
    let text = format!(r#"{{"Records":[{}],"extra":1}}"#, records.join(","));
    let filter = RowFilter::ExceptDay(timestamp::epoch_day(time::macros::date!(2024 - 03 - 04)));
    let whole = d.decode(text.as_bytes(), filter, "s").unwrap();
    let mut batches = Vec::new();
    let mut keys = Vec::new();
    let last = d
        .decode_in_steps(text.as_bytes(), filter, "s", 16 << 10, |b, k| {
            batches.push(b);
            keys.extend(k);
            Ok::<(), ()>(())
        })
        .unwrap()
        .unwrap();
    assert!(batches.len() >= 2, "{} steps", batches.len());
    keys.extend(last.keys.iter().copied());
    batches.push(last.batch.clone());
    let joined = arrow_select::concat::concat_batches(&whole.batch.schema(), &batches).unwrap();
    assert_eq!(joined, whole.batch);
    assert_eq!(keys, whole.keys);
    assert_eq!(
        (last.records, last.filtered_out),
        (whole.records, whole.filtered_out)
    );
    assert_eq!(last.ignored_top_level_keys, vec!["extra".to_string()]);
    // A consumer's error ends the decode.
    let stopped = d.decode_in_steps(text.as_bytes(), filter, "s", 16 << 10, |_, _| Err("full"));
    assert_eq!(stopped.err(), Some("full"));
    // Bad input is reported as for a whole decode.
    let bad = d.decode_in_steps(br#"{"Records":[{},7]}"#, RowFilter::All, "s", 1, |_, _| {
        Ok::<(), ()>(())
    });
    assert_eq!(bad.unwrap().unwrap_err().kind(), "record_not_object");
}
