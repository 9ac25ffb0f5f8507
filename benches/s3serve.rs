//! trailpack-s3serve: a read-only S3-compatible server over a local folder, with a
//! fixed latency added to every response — the benchmark's stand-in for S3 when
//! measuring how well a task hides per-request latency.
//!
//! The test suite runs every S3 path against moto; this server exists only because
//! moto answers a few hundred GetObject calls a second on this machine (it is
//! Python), so it cannot show whether trailpack reaches thousands of files a second.
//! It serves, path-style, what a conversion reads: HeadBucket (with the bucket's
//! region), ListObjectsV2 (prefix, delimiter, max-keys, continuation) and GetObject.
//! Objects are loaded into memory at start.
//!
//! usage: trailpack-s3serve DIR BUCKET PORT_FILE [--latency-ms N]
//! Serves DIR as s3://BUCKET on 127.0.0.1 (a free port, written to PORT_FILE) until
//! killed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Store {
    bucket: String,
    objects: BTreeMap<String, Arc<[u8]>>,
    latency: Duration,
}

fn usage() -> ! {
    eprintln!("usage: trailpack-s3serve DIR BUCKET PORT_FILE [--latency-ms N]");
    std::process::exit(2)
}

fn load(dir: &PathBuf) -> BTreeMap<String, Arc<[u8]>> {
    let mut objects = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(dir) else {
            continue;
        };
        let key = rel.to_string_lossy().replace('\\', "/");
        if key.starts_with('.') {
            continue;
        }
        match std::fs::read(e.path()) {
            Ok(body) => {
                objects.insert(key, Arc::from(body));
            }
            Err(err) => eprintln!("skipping {}: {err}", e.path().display()),
        }
    }
    objects
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        usage()
    }
    let latency_ms: u64 = match args.get(3).map(String::as_str) {
        Some("--latency-ms") => args
            .get(4)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage()),
        Some(_) => usage(),
        None => 0,
    };
    let dir = PathBuf::from(&args[0]);
    let store = Arc::new(Store {
        bucket: args[1].clone(),
        objects: load(&dir),
        latency: Duration::from_millis(latency_ms),
    });
    // One thread: the server should take as little of the machine as S3 does.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let tmp = format!("{}.tmp", args[2]);
        std::fs::write(&tmp, port.to_string()).expect("port file");
        std::fs::rename(&tmp, &args[2]).expect("port file");
        eprintln!(
            "serving {} objects of {} as s3://{} on 127.0.0.1:{port}, {latency_ms} ms latency",
            store.objects.len(),
            dir.display(),
            store.bucket
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let store = store.clone();
            tokio::spawn(async move {
                let _ = serve(stream, store).await;
            });
        }
    });
}

/// Serve requests on one connection until the client closes it.
async fn serve(mut stream: TcpStream, store: Arc<Store>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let body_len = header(&head, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..head_end + body_len);
        let mut words = head.split_whitespace();
        let method = words.next().unwrap_or("").to_string();
        let target = words.next().unwrap_or("/").to_string();
        let (status, headers, body) = respond(&store, &method, &target);
        if !store.latency.is_zero() {
            tokio::time::sleep(store.latency).await;
        }
        let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
        for (k, v) in headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        stream.write_all(out.as_bytes()).await?;
        if method != "HEAD" {
            stream.write_all(&body).await?;
        }
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

type Response = (&'static str, Vec<(&'static str, String)>, Arc<[u8]>);

fn respond(store: &Store, method: &str, target: &str) -> Response {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = percent_decode(path.trim_start_matches('/'));
    let (bucket, key) = path.split_once('/').unwrap_or((&path, ""));
    let region = || vec![("x-amz-bucket-region", "us-east-1".to_string())];
    if bucket != store.bucket {
        return error("404 Not Found", "NoSuchBucket");
    }
    match (method, key.is_empty()) {
        ("HEAD", true) => ("200 OK", region(), Arc::from(Vec::new())),
        ("GET", true) if query.contains("list-type=2") => {
            let q = parse_query(query);
            let xml = list(store, &q);
            let mut h = region();
            h.push(("content-type", "application/xml".into()));
            ("200 OK", h, Arc::from(xml.into_bytes()))
        }
        ("GET" | "HEAD", false) => match store.objects.get(key) {
            Some(body) => (
                "200 OK",
                vec![
                    ("etag", etag(body)),
                    ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT".into()),
                    ("content-type", "application/octet-stream".into()),
                ],
                body.clone(),
            ),
            None => error("404 Not Found", "NoSuchKey"),
        },
        _ => error("501 Not Implemented", "NotImplemented"),
    }
}

fn error(status: &'static str, code: &str) -> Response {
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    );
    (
        status,
        vec![("content-type", "application/xml".into())],
        Arc::from(xml.into_bytes()),
    )
}

fn etag(body: &[u8]) -> String {
    format!("\"{:032x}\"", xxhash_rust::xxh3::xxh3_128(body))
}

fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).and_then(|&c| hex(c)),
            b.get(i + 2).and_then(|&c| hex(c)),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// ListObjectsV2: keys after the continuation token (or start-after) under the
/// prefix; with a delimiter, keys below the next delimiter fold into one common
/// prefix. The continuation token is the last key or common prefix returned.
fn list(store: &Store, q: &BTreeMap<String, String>) -> String {
    let prefix = q.get("prefix").cloned().unwrap_or_default();
    let delimiter = q.get("delimiter").filter(|d| !d.is_empty()).cloned();
    let max_keys: usize = q
        .get("max-keys")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let after = q
        .get("continuation-token")
        .or_else(|| q.get("start-after"))
        .cloned()
        .unwrap_or_default();
    let mut contents = String::new();
    let mut prefixes = String::new();
    let (mut count, mut last, mut truncated) = (0usize, String::new(), false);
    let start = if after.as_str() > prefix.as_str() {
        after.clone()
    } else {
        prefix.clone()
    };
    let mut last_prefix: Option<String> = None;
    for (key, body) in store.objects.range(start..) {
        if !key.starts_with(&prefix) {
            break;
        }
        if !after.is_empty()
            && (key.as_str() <= after.as_str() || key.starts_with(&after) && after.ends_with('/'))
        {
            continue;
        }
        let folded = delimiter.as_ref().and_then(|d| {
            key[prefix.len()..]
                .find(d.as_str())
                .map(|i| key[..prefix.len() + i + d.len()].to_string())
        });
        if let (Some(cp), Some(lp)) = (&folded, &last_prefix) {
            if cp == lp {
                continue;
            }
        }
        if count == max_keys {
            truncated = true;
            break;
        }
        count += 1;
        match folded {
            Some(cp) => {
                prefixes.push_str(&format!(
                    "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
                    xml_escape(&cp)
                ));
                last = cp.clone();
                last_prefix = Some(cp);
            }
            None => {
                contents.push_str(&format!(
                    "<Contents><Key>{}</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
                    xml_escape(key),
                    xml_escape(&etag(body)),
                    body.len()
                ));
                last = key.clone();
            }
        }
    }
    let next = if truncated {
        format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml_escape(&last)
        )
    } else {
        String::new()
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{}</Name><Prefix>{}</Prefix>{}<KeyCount>{count}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{truncated}</IsTruncated>{next}{contents}{prefixes}</ListBucketResult>",
        store.bucket,
        xml_escape(&prefix),
        delimiter
            .map(|d| format!("<Delimiter>{}</Delimiter>", xml_escape(&d)))
            .unwrap_or_default(),
    )
}
