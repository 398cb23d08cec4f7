//! Who is calling: bearer tokens, the admin token, rate limits per caller and per address.

use super::*;

/// A user, as authenticated by a token: its id, and the hash of the token it sent.
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) token_sha256: String,
}

/// Who is calling.
pub(crate) enum Caller {
    Admin,
    User(User),
}

impl Caller {
    pub(crate) fn rate_key(&self) -> String {
        match self {
            Caller::Admin => "admin".into(),
            Caller::User(u) => format!("user:{}", u.id),
        }
    }
    pub(crate) fn user(&self) -> Result<&User> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Admin => {
                Err(ApiError::new(403, "forbidden", "the admin token manages users; use a user's token for lists"))
            }
        }
    }
    pub(crate) fn require_admin(&self) -> Result<()> {
        match self {
            Caller::Admin => Ok(()),
            Caller::User(_) => Err(ApiError::new(403, "forbidden", "this endpoint needs the admin token")),
        }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The token of an `Authorization` header value (`Bearer <token>`, the scheme in any case, the
/// token trimmed and not empty).
pub(crate) fn bearer_token(value: Option<&str>) -> Result<&str> {
    let Some(value) = value else {
        return Err(ApiError::unauthorized("missing bearer token: send `Authorization: Bearer <token>`"));
    };
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::unauthorized("malformed Authorization header: expected `Bearer <token>`")),
    }
}

pub(crate) fn authenticate(req: &Request, settings: &Settings, lists: &Kv) -> Result<Caller> {
    let token = bearer_token(req.header("authorization"))?;
    let hash = sha256_hex(token.as_bytes());
    if let Some(admin) = &settings.admin_token_sha256
        && bool::from(hash.as_bytes().ct_eq(admin.as_bytes()))
    {
        return Ok(Caller::Admin);
    }
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 200 {
        return Err(ApiError::unauthorized("invalid token"));
    }
    let Some(record) = lists.get_json::<TokenRecord>(&token_key(&hash))? else {
        return Err(ApiError::unauthorized("invalid token"));
    };
    if !bool::from(record.sha256.as_bytes().ct_eq(hash.as_bytes())) {
        return Err(ApiError::unauthorized("invalid token"));
    }
    if !record.indexed {
        adopt_unindexed_token(lists, record.clone())?;
    }
    // The user record itself is read only where it is shown (`/v1/me`): one read less per
    // request. (Deleting a user deletes its tokens first.)
    Ok(Caller::User(User { id: record.user_id, token_sha256: hash }))
}

/// A token issued before users' token indexes existed, used for the first time since: it joins
/// its user's index (so that it can be listed and revoked), or, if its user was deleted
/// meanwhile, it is deleted and refused.
fn adopt_unindexed_token(lists: &Kv, mut record: TokenRecord) -> Result<()> {
    if lists.get_json::<UserRecord>(&user_key(&record.user_id))?.is_none() {
        lists.delete(&token_key(&record.sha256))?;
        return Err(ApiError::unauthorized("invalid token"));
    }
    lists.add_to_index(&user_tokens_key(&record.user_id), &record.sha256, usize::MAX)?;
    record.indexed = true;
    lists.put_json(&token_key(&record.sha256), &record)?;
    Ok(())
}

/// Rate-limit headers for a decision.
pub(crate) fn rate_headers(d: &ratelimit::Decision) -> Vec<(String, String)> {
    vec![
        ("ratelimit-limit".into(), d.limit.to_string()),
        ("ratelimit-remaining".into(), d.remaining.to_string()),
        ("ratelimit-reset".into(), d.reset_ms.div_ceil(1000).to_string()),
    ]
}

/// Counts a request under `key` against `limit` requests per rate-limit window.
pub(crate) fn check_limit(key: &str, limit: u32, settings: &Settings) -> Result<ratelimit::Decision> {
    let policy = ratelimit::Policy { limit, window_ms: settings.rate_window_secs.saturating_mul(1000) };
    ratelimit::check(key, policy).map_err(|e| match e {
        ratelimit::Error::InvalidPolicy(m) => ApiError::internal(format!("rate-limit configuration: {m}")),
        ratelimit::Error::Store(m) => ApiError::unavailable(format!("rate limiter: {m}")),
    })
}

/// The 429 for a refused decision `d`, with `Retry-After`; `message` is given the seconds to
/// wait.
pub(crate) fn refused(d: &ratelimit::Decision, code: &'static str, message: impl FnOnce(u64) -> String) -> ApiError {
    let secs = d.retry_after_ms.div_ceil(1000).max(1);
    let mut e = ApiError::new(429, code, message(secs));
    e.headers.push(("retry-after".into(), secs.to_string()));
    e
}

pub(crate) fn rate_limit(caller: &Caller, settings: &Settings) -> Result<ratelimit::Decision> {
    let d = check_limit(&caller.rate_key(), settings.rate_limit, settings)?;
    if !d.allowed {
        let mut e = refused(&d, "rate_limited", |secs| {
            format!(
                "rate limit of {} requests per {} s exceeded; retry in {secs} s",
                settings.rate_limit, settings.rate_window_secs
            )
        });
        e.headers.extend(rate_headers(&d));
        return Err(e);
    }
    Ok(d)
}

/// The header carrying the client's address (`ip:port`), as Spin sets it on incoming requests;
/// the blocklist-edge host sets it too, replacing any value the client sent.
pub(crate) const CLIENT_ADDR_HEADER: &str = "spin-client-addr";

/// The answer to a request whose authentication failed (`error`, a 401): the failure counts
/// against its client address's budget of failures (`auth_failure_limit` per rate-limit
/// window), and past that budget the answer is 429 with `Retry-After`, so that guessing tokens
/// or flooding with bad ones is slowed down per address. Requests without an address (a host
/// that does not set the header) are not counted.
pub(crate) fn refuse_unauthenticated(req: &Request, settings: &Settings, error: ApiError) -> ApiError {
    let Some(addr) = req.header(CLIENT_ADDR_HEADER).and_then(client_ip) else { return error };
    if settings.auth_failure_limit == 0 {
        return error;
    }
    match check_limit(&format!("auth-failures:{addr}"), settings.auth_failure_limit, settings) {
        Ok(d) if !d.allowed => refused(&d, "too_many_auth_failures", |secs| {
            format!(
                "more than {} failed authentications from this address in {} s; retry in {secs} s",
                settings.auth_failure_limit, settings.rate_window_secs
            )
        }),
        // Within the budget, or the limiter is unavailable: the 401 stands.
        _ => error,
    }
}

/// The IP address in a `spin-client-addr` value (`1.2.3.4:5678` or `[::1]:5678`).
pub(crate) fn client_ip(value: &str) -> Option<&str> {
    let ip = match value.strip_prefix('[') {
        Some(rest) => rest.split_once(']')?.0,
        None => value.rsplit_once(':').map_or(value, |(ip, _)| ip),
    };
    (!ip.is_empty() && ip.len() <= 64 && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':'))
        .then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::client_ip;

    #[test]
    fn client_ip_forms() {
        assert_eq!(client_ip("1.2.3.4:5678"), Some("1.2.3.4"));
        assert_eq!(client_ip("[::1]:80"), Some("::1"));
        assert_eq!(client_ip("[2001:db8::2]:443"), Some("2001:db8::2"));
        assert_eq!(client_ip("1.2.3.4"), Some("1.2.3.4"));
        assert_eq!(client_ip(""), None);
        assert_eq!(client_ip("evil key:1"), None);
        assert_eq!(client_ip("[::1"), None);
    }
}
