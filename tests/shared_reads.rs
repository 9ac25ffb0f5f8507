//! Downloads shared between builds, against a real S3-compatible server (moto)
//! through a proxy that counts GetObject calls per object. The early files of day
//! D+1 are read by two builds (D+1 for its own records, D for its late ones); when
//! both announced the read, the file is downloaded once and each build gets the
//! whole file. Its own test binary: the AWS credentials are set in this process.

mod common;

use common::*;
use trailpack::aws::{Aws, AwsOptions};
use trailpack::source::s3::S3Source;
use trailpack::source::{ListFilter, Source};

#[test]
fn a_file_announced_by_two_builds_is_downloaded_once() {
    let mut t = Tree::new();
    t.file(
        None,
        "111122223333",
        "us-east-1",
        "2024-03-06",
        "0005",
        &[
            record("late", "2024-03-05T23:59:00Z", "a"),
            record("early", "2024-03-06T00:01:00Z", "a"),
        ],
    );
    let b = bucket("shared");
    let up = py_aws(&["s3-put", &b, "", t.input().to_str().unwrap()]);
    assert!(up.status.success(), "{}", stderr(&up));
    let proxy = FaultProxy::start(0, 0);
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ] {
        std::env::set_var(k, v);
    }
    let aws = Aws::connect(AwsOptions {
        region: Some("us-east-1".into()),
        endpoint_url: Some(proxy.endpoint.clone()),
        force_path_style: true,
        max_concurrent_requests: 4,
        ..Default::default()
    })
    .unwrap();
    let source = S3Source::new(&aws, &b, "");
    let found = source.discover(&ListFilter::default()).unwrap();
    assert_eq!(found.folders.len(), 1);
    let day = time::macros::date!(2024 - 03 - 06);
    let listing = source.list_days(&[(&found.folders[0], day)]).unwrap();
    assert_eq!(listing.files.len(), 1);
    let file = &listing.files[0];
    let path = format!("/{b}/{}", file.location);
    let expected = std::fs::read(t.input().join(&file.key)).unwrap();

    // Announced by two builds, read by both: one download, the same bytes twice.
    source.prefetch(&[file]);
    source.prefetch(&[file]);
    let first = source.read(file).unwrap();
    let second = source.read(file).unwrap();
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    assert_eq!(proxy.stats()["gets"][&path], 1, "{}", proxy.stats());

    // Both reads done, nothing is kept: a further read downloads again.
    assert_eq!(source.read(file).unwrap(), expected);
    assert_eq!(proxy.stats()["gets"][&path], 2);

    // An announced read withdrawn (a build that stopped) is not kept either.
    // (The withdrawn download still runs; the read makes its own.)
    source.prefetch(&[file]);
    source.forget(&[file]);
    assert_eq!(source.read(file).unwrap(), expected);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(proxy.stats()["gets"][&path], 4);
}
