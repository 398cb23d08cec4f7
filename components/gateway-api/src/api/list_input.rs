//! What a request may set on a list (name, rules or configuration, refresh, publish guard,
//! webhook), and the checks that turn it into a [`ListContent`] or a 4xx naming the field.

use super::*;

/// A name as given (at most [`MAX_NAME_CHARS`], no control characters anywhere, not blank),
/// trimmed of surrounding whitespace: what `openapi.yaml`'s `Name` schema says.
pub(crate) fn validate_name(name: &str) -> Result<String> {
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!("name is longer than {MAX_NAME_CHARS} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("name must not contain control characters"));
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("name must not be empty"));
    }
    Ok(name.to_owned())
}

/// The body of `POST /v1/lists` and `PUT /v1/lists/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListInput {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    /// Where finished compile jobs are POSTed (http or https).
    #[serde(default, rename = "webhookUrl")]
    webhook_url: Option<String>,
    /// Compile again every this many seconds (a list with a configuration); 0 or absent: only
    /// when asked.
    #[serde(default, rename = "refreshIntervalSecs")]
    refresh_interval_secs: Option<u64>,
    /// The list's own publish guard (absent: the service's default).
    #[serde(default, rename = "publishGuard")]
    publish_guard: Option<serde_json::Value>,
}

/// `publishGuard` of a list body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GuardInput {
    max_shrink_percent: Option<u32>,
    min_rules: Option<u32>,
}

/// The most rules a publish guard may require.
pub(crate) const MAX_GUARD_MIN_RULES: u32 = 100_000_000;

/// The longest refresh interval, in seconds (30 days).
pub(crate) const MAX_REFRESH_INTERVAL_SECS: u64 = 30 * 86_400;

/// Longest webhook URL accepted.
pub(crate) const MAX_WEBHOOK_URL: usize = 2048;

/// A checked [`ListInput`].
pub(crate) struct ListContent {
    pub(crate) webhook_url: Option<String>,
    pub(crate) publish_guard: Option<blocklist_model::publish::Guard>,
    pub(crate) refresh_interval_secs: Option<u64>,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) source: ListSource,
    pub(crate) rules: Option<String>,
}

/// Checks a list body; `min_refresh_secs` is the shortest refresh interval allowed.
pub(crate) fn validate_list(input: ListInput, min_refresh_secs: u64) -> Result<ListContent> {
    let name = validate_name(&input.name)?;
    let description = match input.description {
        Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
            return Err(ApiError::bad_request(format!(
                "description is longer than {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
        d => d,
    };
    let (source, rules) = match (input.rules, input.config) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give either `rules` or `config`, not both")),
        (None, None) => {
            return Err(ApiError::bad_request(
                "give the list's `rules` (text) or a HostlistCompiler `config` (object)",
            ));
        }
        (Some(rules), None) => (ListSource::Rules, Some(rules)),
        (None, Some(config)) => {
            validate_config(&config)?;
            (ListSource::Config { config }, None)
        }
    };
    let webhook_url = input.webhook_url.map(|u| validate_webhook_url(&u)).transpose()?;
    let refresh_interval_secs = match input.refresh_interval_secs.filter(|&s| s > 0) {
        None => None,
        Some(_) if matches!(source, ListSource::Rules) => {
            return Err(ApiError::bad_request(
                "`refreshIntervalSecs` needs a list with a `config` (its sources are fetched again); \
                 a list of `rules` changes only when it is updated",
            ));
        }
        Some(s) if s < min_refresh_secs || s > MAX_REFRESH_INTERVAL_SECS => {
            return Err(ApiError::bad_request(format!(
                "`refreshIntervalSecs` must be between {min_refresh_secs} and {MAX_REFRESH_INTERVAL_SECS} seconds (or 0: no schedule)"
            )));
        }
        s => s,
    };
    let publish_guard = match input.publish_guard {
        None | Some(serde_json::Value::Null) => None,
        Some(g) => {
            if !g.is_object() {
                return Err(ApiError::bad_request(
                    "`publishGuard` must be an object: {\"maxShrinkPercent\": 0-100, \"minRules\": n}",
                ));
            }
            let g: GuardInput =
                serde_json::from_value(g).map_err(|e| ApiError::bad_request(format!("`publishGuard`: {e}")))?;
            let default = blocklist_model::publish::Guard::default();
            let guard = blocklist_model::publish::Guard {
                max_shrink_percent: g.max_shrink_percent.unwrap_or(default.max_shrink_percent),
                min_rules: g.min_rules.unwrap_or(default.min_rules),
            };
            if guard.max_shrink_percent > 100 {
                return Err(ApiError::bad_request(
                    "`publishGuard.maxShrinkPercent` must be between 0 and 100 (100: never hold a list for shrinking)",
                ));
            }
            if guard.min_rules > MAX_GUARD_MIN_RULES {
                return Err(ApiError::bad_request(format!(
                    "`publishGuard.minRules` must be at most {MAX_GUARD_MIN_RULES}"
                )));
            }
            Some(guard)
        }
    };
    Ok(ListContent { name, description, source, rules, webhook_url, refresh_interval_secs, publish_guard })
}

/// A webhook URL as `openapi.yaml`'s `ListInput.webhookUrl` says: http or https, no
/// credentials, and a host name, never an IP address in any spelling (`127.0.0.1`,
/// `2130706433`, `0x7f.1`, `[::1]`, `[::ffff:7f00:1]`: the URL parser reads them all as the
/// address they mean, as browsers do). Answers the URL normalised.
pub(crate) fn validate_webhook_url(raw: &str) -> Result<String> {
    let bad = |why: &str| ApiError::bad_request(format!("`webhookUrl` {why}"));
    if raw.len() > MAX_WEBHOOK_URL {
        return Err(bad(&format!("is longer than {MAX_WEBHOOK_URL} bytes")));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    match url.host() {
        Some(url::Host::Domain(name)) if !name.is_empty() => {}
        Some(url::Host::Ipv4(ip)) => {
            return Err(bad(&format!("must name its host, not an IP address ({ip}): IP addresses are refused")));
        }
        Some(url::Host::Ipv6(ip)) => {
            return Err(bad(&format!("must name its host, not an IP address ([{ip}]): IP addresses are refused")));
        }
        _ => return Err(bad("has no host")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(url.to_string())
}

/// A fresh webhook signing secret.
pub(crate) fn new_webhook_secret() -> String {
    format!("whsec_{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)))
}

/// Sources, exclusion sources or inclusion sources one configuration may name, in each list.
pub(crate) const MAX_CONFIG_SOURCES: usize = 100;

/// Checks a HostlistCompiler configuration as the compiler will (`hostlist-config`: the
/// compiler's own checks, without the compiler): a property that is unknown, of the wrong type
/// or missing is malformed input (400, as `openapi.yaml`'s `HostlistConfig` schema says);
/// breaking a rule between properties (two validation transformations, validation at both
/// levels) is well-formed input that cannot be processed (422).
pub(crate) fn validate_config(config: &serde_json::Value) -> Result<()> {
    let parsed = hostlist_config::Configuration::parse(config)
        .map_err(|e| ApiError::new(400, "invalid_configuration", format!("`config`: {}", e.0)))?;
    // Each source is a fetch: a configuration names at most MAX_CONFIG_SOURCES in each list.
    let too_many = |what: String, n: usize| {
        (n > MAX_CONFIG_SOURCES).then(|| {
            ApiError::new(
                400,
                "invalid_configuration",
                format!("`config`: {what} has {n} entries; at most {MAX_CONFIG_SOURCES} are allowed"),
            )
        })
    };
    let filter_lists = |at: &str, f: &hostlist_config::Filters| {
        [("exclusions_sources", f.exclusions_sources.len()), ("inclusions_sources", f.inclusions_sources.len())]
            .into_iter()
            .find_map(|(name, n)| too_many(format!("{at}{name}"), n))
    };
    if let Some(e) =
        too_many("sources".into(), parsed.sources.len()).or_else(|| filter_lists("", &parsed.filters)).or_else(|| {
            parsed.sources.iter().enumerate().find_map(|(i, s)| filter_lists(&format!("sources[{i}]."), &s.filters))
        })
    {
        return Err(e);
    }
    parsed.cross_check().map_err(|e| ApiError::new(422, "invalid_configuration", format!("`config`: {}", e.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_with_an_ip_address_as_host_are_refused_in_any_spelling() {
        for raw in [
            "http://169.254.169.254/latest/meta-data/",
            "http://127.0.0.1:6379/",
            "http://[::1]:6379/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "https://10.0.0.1/hook",
            "http://8.8.8.8/",
            "http://%31%32%37.0.0.1/",
            "http://１２７.０.０.１/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[fe80::1]/",
        ] {
            let e = validate_webhook_url(raw).err().unwrap_or_else(|| panic!("{raw} was accepted"));
            assert_eq!((e.status, e.code), (400, "bad_request"), "{raw}");
            assert!(e.message.contains("IP address"), "{raw}: {}", e.message);
        }
    }

    #[test]
    fn webhook_urls_need_http_a_host_name_and_no_credentials() {
        for (raw, why) in [
            ("ftp://hooks.example/x", "http or https"),
            ("file:///etc/passwd", "http or https"),
            ("gopher://hooks.example/", "http or https"),
            ("https://user:pw@hooks.example/x", "credentials"),
            ("https://user@hooks.example/x", "credentials"),
            // A host ending in a number is read as an IPv4 address, and this one is none.
            ("http://example.0x7f/", "not a valid URL"),
            ("http://localhost.127.0.0.1/", "not a valid URL"),
            ("not a url", "not a valid URL"),
        ] {
            let e = validate_webhook_url(raw).err().unwrap_or_else(|| panic!("{raw} was accepted"));
            assert_eq!(e.status, 400, "{raw}");
            assert!(e.message.contains(why), "{raw}: {}", e.message);
        }
        for (raw, normalised) in [
            ("https://hooks.example/x", "https://hooks.example/x"),
            ("HTTP://Hooks.Example:8080/a?b#c", "http://hooks.example:8080/a?b#c"),
            ("http://localhost:65535/hook", "http://localhost:65535/hook"),
            ("http://1.2.3.example/", "http://1.2.3.example/"),
        ] {
            assert_eq!(validate_webhook_url(raw).ok().as_deref(), Some(normalised), "{raw}");
        }
    }

    /// `openapi.yaml`'s `webhookUrl` pattern: what it accepts, the check accepts; what it refuses
    /// for its host, scheme or credentials, the check refuses. (The check also takes spellings
    /// the pattern leaves out and normalises them: `HTTP://`, `Hooks.Example`, a trailing dot.)
    #[test]
    fn openapi_pattern_and_the_check_agree() {
        let spec = include_str!("../../../../openapi.yaml");
        let at = spec.find("webhookUrl:\n").expect("openapi.yaml has webhookUrl");
        let line = spec[at..].lines().find(|l| l.trim_start().starts_with("pattern:")).unwrap();
        let pattern = line.trim_start().strip_prefix("pattern: \"").unwrap().strip_suffix('"').unwrap();
        let pattern = regex::Regex::new(&pattern.replace("\\\\", "\\")).unwrap();
        for raw in [
            "https://hooks.example/x",
            "http://localhost:65535/hook",
            "http://localhost:8/",
            "http://a-b.c-d.example:443/p?q=1#f",
            "http://1.2.3.example/",
            "http://x1/%zz",
        ] {
            assert!(pattern.is_match(raw), "the pattern refuses {raw}");
            assert!(validate_webhook_url(raw).is_ok(), "the check refuses {raw}");
        }
        for raw in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://[::1]:6379/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "https://user:pw@hooks.example/",
            "ftp://hooks.example/",
            "http://localhost:65536/",
            "http://localhost:99999/",
        ] {
            assert!(!pattern.is_match(raw), "the pattern accepts {raw}");
            assert!(validate_webhook_url(raw).is_err(), "the check accepts {raw}");
        }
    }
}
