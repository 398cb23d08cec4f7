//! Settings read from the host's configuration (`wasi:config/store`; Spin variables).

use super::*;

/// Settings read from the host's configuration (`wasi:config/store`; Spin variables).
pub struct Settings {
    pub admin_token_sha256: Option<String>,
    pub rate_limit: u32,
    pub rate_window_secs: u64,
    /// Failed authentications one client address may make per rate-limit window (0: no limit).
    pub auth_failure_limit: u32,
    pub max_body_bytes: usize,
    pub max_lists_per_user: usize,
    pub dedupe_secs: u64,
    pub cache_ttl_secs: u64,
    pub max_preview_bytes: usize,
    pub jobs: JobSettings,
    /// Publish a sweep request from the request path at most this often (0: never; for hosts
    /// with no timer, such as Spin).
    pub request_sweep_secs: u64,
    /// The shortest refresh interval a list may have, in seconds.
    pub refresh_min_interval_secs: u64,
    /// Fetches one subscription may make per rate-limit window (0: no limit).
    pub subscription_rate_limit: u32,
    /// Subscription fetches one client address may make per rate-limit window (0: no limit).
    pub subscription_address_limit: u32,
    /// `Cache-Control: max-age` of subscription answers, in seconds.
    pub subscription_max_age_secs: u64,
    /// The `Expires` subscription files announce (how often blockers should refetch), in hours.
    pub subscription_expires_hours: u32,
    /// The service's public URL (`https://lists.example.com`), for the subscription URLs the
    /// API shows; empty: made from the request's `Host`.
    pub public_base_url: String,
    /// Versions kept per list and the default publish guard.
    pub publishing: edge_store::publish::PublishSettings,
}

impl Settings {
    pub fn load() -> Result<Settings> {
        let values = edge_store::config::Values::load()?;
        let admin: String = values.get(blocklist_model::variables::ADMIN_TOKEN_SHA256, String::new())?;
        let admin = admin.trim().to_ascii_lowercase();
        if !admin.is_empty() && (admin.len() != 64 || !admin.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(ApiError::internal("configuration value \"admin_token_sha256\" is not a SHA-256 hex digest"));
        }
        Ok(Settings {
            admin_token_sha256: (!admin.is_empty()).then_some(admin),
            rate_limit: values.get(blocklist_model::variables::RATE_LIMIT_REQUESTS, 100)?,
            rate_window_secs: values.get(blocklist_model::variables::RATE_LIMIT_WINDOW_SECS, 60)?,
            auth_failure_limit: values.get(blocklist_model::variables::AUTH_FAILURE_LIMIT, 30)?,
            max_body_bytes: values.get(blocklist_model::variables::MAX_BODY_BYTES, 4 * 1024 * 1024)?,
            max_lists_per_user: values.get(blocklist_model::variables::MAX_LISTS_PER_USER, 1000)?,
            dedupe_secs: values.get(blocklist_model::variables::COMPILE_DEDUPE_SECS, 60)?,
            cache_ttl_secs: values.get(blocklist_model::variables::CACHE_TTL_SECS, 300)?,
            max_preview_bytes: values.get(blocklist_model::variables::MAX_PREVIEW_BYTES, 1024 * 1024)?,
            jobs: JobSettings::load(&values)?,
            request_sweep_secs: values.get(blocklist_model::variables::REQUEST_SWEEP_SECS, 0)?,
            subscription_rate_limit: values.get(blocklist_model::variables::SUBSCRIPTION_RATE_LIMIT, 600)?,
            subscription_address_limit: values.get(blocklist_model::variables::SUBSCRIPTION_ADDRESS_LIMIT, 300)?,
            subscription_max_age_secs: values.get(blocklist_model::variables::SUBSCRIPTION_MAX_AGE_SECS, 3600)?,
            subscription_expires_hours: edge_store::renditions::expires_hours(&values)?,
            public_base_url: values.get(blocklist_model::variables::PUBLIC_BASE_URL, String::new())?,
            refresh_min_interval_secs: values.get(blocklist_model::variables::REFRESH_MIN_INTERVAL_SECS, 300)?,
            publishing: edge_store::publish::PublishSettings::load(&values)?,
        })
    }
}
