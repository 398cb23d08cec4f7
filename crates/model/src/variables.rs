//! The configuration variables the components read through `wasi:config/store`: Spin's
//! application variables (`spin.toml`), or the blocklist-edge host's flags (`src/main.rs` sets
//! every one). One constant per name, so that the host, the components and spin.toml cannot
//! drift apart (`tests/variables.rs` checks spin.toml and the host against [`ALL`]).

/// SHA-256 (hex) of the admin token.
pub const ADMIN_TOKEN_SHA256: &str = "admin_token_sha256";
/// Requests per user per rate-limit window.
pub const RATE_LIMIT_REQUESTS: &str = "rate_limit_requests";
/// The rate-limit window, in seconds.
pub const RATE_LIMIT_WINDOW_SECS: &str = "rate_limit_window_secs";
/// Failed authentications per client address per window.
pub const AUTH_FAILURE_LIMIT: &str = "auth_failure_limit";
/// Largest request body, in bytes.
pub const MAX_BODY_BYTES: &str = "max_body_bytes";
/// Lists one user may own.
pub const MAX_LISTS_PER_USER: &str = "max_lists_per_user";
/// Seconds a compile request holds its list's dedupe lock.
pub const COMPILE_DEDUPE_SECS: &str = "compile_dedupe_secs";
/// Seconds an entry stays in the node-local cache.
pub const CACHE_TTL_SECS: &str = "cache_ttl_secs";
/// Largest list `POST /v1/preview` answers, in bytes.
pub const MAX_PREVIEW_BYTES: &str = "max_preview_bytes";
/// Fetches per subscription per window.
pub const SUBSCRIPTION_RATE_LIMIT: &str = "subscription_rate_limit";
/// Subscription fetches per client address per window.
pub const SUBSCRIPTION_ADDRESS_LIMIT: &str = "subscription_address_limit";
/// `Cache-Control: max-age` of subscription answers, in seconds.
pub const SUBSCRIPTION_MAX_AGE_SECS: &str = "subscription_max_age_secs";
/// The `Expires` subscription files announce, in hours.
pub const SUBSCRIPTION_EXPIRES_HOURS: &str = "subscription_expires_hours";
/// The public URL subscription URLs are built on.
pub const PUBLIC_BASE_URL: &str = "public_base_url";
/// The job channel's Redis address (`fermyon:spin/redis` `open`).
pub const JOB_QUEUE_ADDRESS: &str = "job_queue_address";
/// The job channel.
pub const JOB_QUEUE_CHANNEL: &str = "job_queue_channel";
/// Attempts before a job is dead.
pub const JOB_MAX_ATTEMPTS: &str = "job_max_attempts";
/// Delay before the first retry, in milliseconds.
pub const JOB_BACKOFF_MS: &str = "job_backoff_ms";
/// Longest delay between attempts, in milliseconds.
pub const JOB_BACKOFF_MAX_MS: &str = "job_backoff_max_ms";
/// How long a claim on a job holds, in milliseconds.
pub const JOB_LEASE_MS: &str = "job_lease_ms";
/// A queued job not claimed this long is published again, in milliseconds.
pub const JOB_REQUEUE_AFTER_MS: &str = "job_requeue_after_ms";
/// Sweeps requested from the request path at most this often, in seconds (0: never).
pub const REQUEST_SWEEP_SECS: &str = "request_sweep_secs";
/// How compile jobs reach the compile consumer: `redis` (published on the job channel, the
/// default) or `http` (nothing is published; the runner route runs the due jobs, for platforms
/// with HTTP triggers only).
pub const JOB_RUNNER: &str = "job_runner";
/// Finished jobs kept per list (the newest).
pub const JOB_RETENTION_PER_LIST: &str = "job_retention_per_list";
/// Finished jobs are deleted this long after they finished, in milliseconds.
pub const JOB_RETENTION_MS: &str = "job_retention_ms";
/// The collector deletes a key it found unreferenced this long, in milliseconds.
pub const RETENTION_GRACE_MS: &str = "retention_grace_ms";
/// Attempts to deliver a webhook event before it is failed for good.
pub const WEBHOOK_MAX_ATTEMPTS: &str = "webhook_max_attempts";
/// Delay before the second attempt of a webhook delivery, in milliseconds (it doubles).
pub const WEBHOOK_BACKOFF_MS: &str = "webhook_backoff_ms";
/// Longest delay between attempts of a webhook delivery, in milliseconds.
pub const WEBHOOK_BACKOFF_MAX_MS: &str = "webhook_backoff_max_ms";
/// The shortest refresh interval a list may have, in seconds.
pub const REFRESH_MIN_INTERVAL_SECS: &str = "refresh_min_interval_secs";
/// Published versions kept per list.
pub const VERSIONS_KEPT: &str = "versions_kept";
/// The publish guard holds a refresh that lost more than this share of the rules, in percent.
pub const PUBLISH_GUARD_MAX_SHRINK_PERCENT: &str = "publish_guard_max_shrink_percent";
/// The publish guard holds a refresh with fewer rules than this.
pub const PUBLISH_GUARD_MIN_RULES: &str = "publish_guard_min_rules";

/// Every variable, in the order above.
pub const ALL: &[&str] = &[
    ADMIN_TOKEN_SHA256,
    RATE_LIMIT_REQUESTS,
    RATE_LIMIT_WINDOW_SECS,
    AUTH_FAILURE_LIMIT,
    MAX_BODY_BYTES,
    MAX_LISTS_PER_USER,
    COMPILE_DEDUPE_SECS,
    CACHE_TTL_SECS,
    MAX_PREVIEW_BYTES,
    SUBSCRIPTION_RATE_LIMIT,
    SUBSCRIPTION_ADDRESS_LIMIT,
    SUBSCRIPTION_MAX_AGE_SECS,
    SUBSCRIPTION_EXPIRES_HOURS,
    PUBLIC_BASE_URL,
    JOB_QUEUE_ADDRESS,
    JOB_QUEUE_CHANNEL,
    JOB_MAX_ATTEMPTS,
    JOB_BACKOFF_MS,
    JOB_BACKOFF_MAX_MS,
    JOB_LEASE_MS,
    JOB_REQUEUE_AFTER_MS,
    REQUEST_SWEEP_SECS,
    JOB_RUNNER,
    JOB_RETENTION_PER_LIST,
    JOB_RETENTION_MS,
    RETENTION_GRACE_MS,
    WEBHOOK_MAX_ATTEMPTS,
    WEBHOOK_BACKOFF_MS,
    WEBHOOK_BACKOFF_MAX_MS,
    REFRESH_MIN_INTERVAL_SECS,
    VERSIONS_KEPT,
    PUBLISH_GUARD_MAX_SHRINK_PERCENT,
    PUBLISH_GUARD_MIN_RULES,
];
