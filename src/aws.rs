//! AWS configuration and the IO runtime. Credentials and region come from the
//! default chain (environment, profiles, web identity, ECS task role, instance
//! metadata); `--profile`, `--aws-region` and `--endpoint-url` override them, and
//! `AWS_ENDPOINT_URL` is honoured. The tokio runtime here does IO only; CPU work
//! stays on the rayon pool.

use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};

/// Attempts per request, with exponential backoff: S3 answers SlowDown under load
/// and a batch job should ride it out rather than fail a partition. The standard
/// `AWS_MAX_ATTEMPTS` variable overrides it.
const MAX_ATTEMPTS: u32 = 10;

fn max_attempts() -> u32 {
    std::env::var("AWS_MAX_ATTEMPTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(MAX_ATTEMPTS)
}

/// Settings of the AWS clients.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    pub max_concurrent_requests: usize,
}

/// A loaded AWS configuration and the runtime its clients run on.
pub struct Aws {
    pub rt: Arc<tokio::runtime::Runtime>,
    pub config: aws_config::SdkConfig,
    pub opts: AwsOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("starting the IO runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("no AWS region: set --aws-region, AWS_REGION or a profile's region")]
    NoRegion,
}

impl Aws {
    pub fn connect(opts: AwsOptions) -> Result<Aws, AwsError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trailpack-io")
            .enable_all()
            .build()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(max_attempts()));
        if let Some(p) = &opts.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &opts.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &opts.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let config = rt.block_on(loader.load());
        if config.region().is_none() {
            return Err(AwsError::NoRegion);
        }
        Ok(Aws {
            rt: Arc::new(rt),
            config,
            opts,
        })
    }
}
