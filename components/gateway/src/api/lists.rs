//! Lists: validation of their input, and `/v1/lists` CRUD.

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
    webhook_url: Option<String>,
    publish_guard: Option<blocklist_model::publish::Guard>,
    refresh_interval_secs: Option<u64>,
    name: String,
    description: Option<String>,
    source: ListSource,
    rules: Option<String>,
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

pub(crate) fn owned_list(user: &User, lists: &Kv, id: &str) -> Result<ListRecord> {
    match live_list(lists, id)? {
        Some(list) if list.owner == user.id => Ok(list),
        // Another user's list is indistinguishable from a missing one.
        _ => Err(ApiError::not_found(format!("list {id} not found"))),
    }
}

pub(crate) fn list_lists(user: &User, lists: &Kv) -> Result<Response> {
    let out = repair_index(lists, &user.id)?.iter().map(ListRecord::summary).collect();
    Ok(Response::json(200, &ListsPage { lists: out }))
}

/// The user's lists, read through their index, which is repaired on the way: a list whose
/// delete was interrupted is removed now, and an id whose record is gone (a delete interrupted
/// after removing it, or an index from before creates wrote the record first) leaves the index.
pub(crate) fn repair_index(lists: &Kv, user_id: &str) -> Result<Vec<ListRecord>> {
    let index_key = user_lists_key(user_id);
    let ids: Vec<String> = lists.get_json(&index_key)?.unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match lists.get_json::<ListRecord>(&list_key(&id))? {
            Some(list) if list.owner != user_id => lists.remove_from_index(&index_key, &id)?,
            Some(list) if list.deleted_at.is_some() => remove_deleted_list(lists, &list)?,
            Some(list) => out.push(list),
            None => lists.remove_from_index(&index_key, &id)?,
        }
    }
    Ok(out)
}

/// A list's rules text as stored: where, how long, its hash.
pub(crate) struct StoredRules {
    at: RulesChunks,
    bytes: u64,
    sha256: String,
}

/// Stores a list's rules text in chunks under a fresh nonce prefix (no other write uses it, so
/// concurrent updates never write over each other's chunks); `None` for a configuration list.
pub(crate) fn store_rules(lists: &Kv, list_id: &str, rules: Option<&str>) -> Result<Option<StoredRules>> {
    let Some(text) = rules else { return Ok(None) };
    let nonce = hex::encode(edge_store::wasi::random::random::get_random_bytes(8));
    let prefix = rules_nonce_prefix(list_id, &nonce);
    let chunks = lists.put_chunks(&prefix, text.as_bytes())?;
    Ok(Some(StoredRules {
        at: RulesChunks { prefix, chunks },
        bytes: text.len() as u64,
        sha256: sha256_hex(text.as_bytes()),
    }))
}

/// The record's rules fields for `stored`.
fn rules_fields(stored: &Option<StoredRules>) -> (u64, u32, Option<String>, Option<String>) {
    match stored {
        Some(s) => (s.bytes, s.at.chunks, Some(s.sha256.clone()), Some(s.at.prefix.clone())),
        None => (0, 0, None, None),
    }
}

pub(crate) fn create_list(req: &Request, user: &User, settings: &Settings, lists: &Kv) -> Result<Response> {
    let content = validate_list(json_body(req)?, settings.refresh_min_interval_secs)?;
    let id = new_id(LIST_ID_PREFIX);
    let index_key = user_lists_key(&user.id);
    let max = settings.max_lists_per_user;
    let now = now_rfc3339();
    // The list's compile lock exists from the start (holding no lock), so that taking it is
    // always a compare-and-swap on a present key: Spin 4.0.2's SQLite store swaps an absent
    // key unconditionally, and two first compile requests would both win.
    lists.set(&compile_lock_key(&id), NO_COMPILE_LOCK)?;
    let stored = store_rules(lists, &id, content.rules.as_deref())?;
    let (rules_bytes, rules_chunks, rules_sha256, rules_at) = rules_fields(&stored);
    let list = ListRecord {
        id: id.clone(),
        owner: user.id.clone(),
        name: content.name,
        description: content.description,
        source: content.source,
        revision: 1,
        rules_bytes,
        rules_chunks,
        rules_sha256,
        rules_at,
        previous_rules: None,
        webhook: content.webhook_url.map(|url| Webhook { url, secret: new_webhook_secret() }),
        created_at: now.clone(),
        updated_at: now,
        deleted_at: None,
        refresh_interval_secs: content.refresh_interval_secs,
        publish_guard: content.publish_guard,
    };
    // The record first, then its place in the owner's index (atomically, with the quota
    // check): an index id always has a record unless a delete removed it, so a listing may drop
    // ids without records without racing a create. (A crash in between leaves a record no
    // index names: not listed, not counted, never answered 201.)
    lists.put_json(&list_key(&id), &list)?;
    if !lists.add_to_index(&index_key, &id, max)? {
        // Interrupted deletes may hold places in the index: free them, and retry.
        repair_index(lists, &user.id)?;
        if !lists.add_to_index(&index_key, &id, max)? {
            let _ = delete_owned_list(lists, &user.id, &id, None)?;
            return Err(ApiError::new(409, "quota_exceeded", format!("a user may own at most {max} lists")));
        }
    }
    // On the schedule last: a crash before leaves a list without it, which the retention
    // collector puts on it.
    edge_store::schedule::apply(lists, &list, None, now_ms())?;
    // The secret is shown this once.
    Ok(Response::json(201, &with_compile_state(lists, list.view(content.rules.as_deref(), true), &list)?)
        .with_header("location", format!("/v1/lists/{id}"))
        .with_header("etag", list.etag()))
}

/// Reads a list's rules text, checked against its recorded SHA-256, with the record it belongs
/// to: if an update replaced the chunks while they were read, the list is read again (a few
/// times), so a reader sees one whole revision or an error, never a mix.
pub(crate) fn read_rules(lists: &Kv, list: ListRecord) -> Result<(ListRecord, Option<String>)> {
    let mut list = list;
    for _ in 0..4 {
        let Some(at) = list.rules_chunks() else { return Ok((list, None)) };
        if let Some(bytes) = lists.get_chunks(&at.prefix, at.chunks, list.rules_bytes as usize)? {
            if let Some(expected) = &list.rules_sha256
                && sha256_hex(&bytes) != *expected
            {
                return Err(ApiError::internal(format!(
                    "the rules of list {} (revision {}) do not match their recorded SHA-256; not served",
                    list.id, list.revision
                )));
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| ApiError::internal(format!("the rules of list {} are not UTF-8", list.id)))?;
            return Ok((list, Some(text)));
        }
        // Missing chunks: replaced (twice) while being read, or deleted. Read the list again.
        match lists.get_json::<ListRecord>(&list_key(&list.id))? {
            Some(now) if now.owner == list.owner && now.revision != list.revision => list = now,
            Some(_) => return Err(ApiError::internal(format!("the rules of list {} are missing", list.id))),
            None => return Err(ApiError::not_found(format!("list {} not found", list.id))),
        }
    }
    Err(ApiError::unavailable(format!("list {} is being updated too often to be read; try again", list.id)))
}

pub(crate) fn get_list(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let (list, rules) = read_rules(lists, owned_list(user, lists, id)?)?;
    Ok(Response::json(200, &with_compile_state(lists, list.view(rules.as_deref(), false), &list)?)
        .with_header("etag", list.etag()))
}

/// Why an update or a delete did not apply.
pub(crate) enum Refused {
    /// The list is gone (deleted meanwhile) or not the caller's.
    Missing,
    /// `If-Match` names another revision than the current one.
    Stale(String),
}

/// The 412 for an `If-Match` that names another revision than `current` (the list's `ETag`,
/// which the answer carries).
fn precondition_failed(id: &str, current: String) -> ApiError {
    let mut e = ApiError::new(
        412,
        "precondition_failed",
        format!("list {id} was changed meanwhile (now {current}); read it again and retry"),
    );
    e.headers.push(("etag".into(), current));
    e
}

/// `PUT /v1/lists/{id}`: the record is swapped by compare-and-swap, so concurrent updates each
/// apply whole (the last one wins) and an update racing a delete cannot bring the list back;
/// with `If-Match`, an update of a revision that is no longer current is refused (412).
pub(crate) fn update_list(req: &Request, user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let content = validate_list(json_body(req)?, settings.refresh_min_interval_secs)?;
    let if_match = req.header("if-match").map(str::to_owned);
    // The new rules go under their own nonce first; the record then flips to them.
    let stored = store_rules(lists, id, content.rules.as_deref())?;
    let (rules_bytes, rules_chunks, rules_sha256, rules_at) = rules_fields(&stored);
    let now = now_rfc3339();
    let mut replaced = None;
    let outcome = lists.update_json(&list_key(id), |cur: Option<ListRecord>| {
        let Some(cur) = cur.filter(|c| c.owner == user.id) else { return JsonUpdate::Keep(Err(Refused::Missing)) };
        if let Some(h) = &if_match
            && !conditional::if_match(h, &cur.etag())
        {
            return JsonUpdate::Keep(Err(Refused::Stale(cur.etag())));
        }
        let next = ListRecord {
            name: content.name.clone(),
            description: content.description.clone(),
            source: content.source.clone(),
            revision: cur.revision + 1,
            rules_bytes,
            rules_chunks,
            rules_sha256: rules_sha256.clone(),
            rules_at: rules_at.clone(),
            previous_rules: cur.rules_chunks(),
            // A list keeps its signing secret while it has a webhook.
            webhook: content.webhook_url.clone().map(|url| Webhook {
                url,
                secret: cur.webhook.as_ref().map_or_else(new_webhook_secret, |w| w.secret.clone()),
            }),
            refresh_interval_secs: content.refresh_interval_secs,
            publish_guard: content.publish_guard,
            updated_at: now.clone(),
            ..cur.clone()
        };
        replaced = Some(cur);
        JsonUpdate::Write(next.clone(), Ok(next))
    })?;
    let list = match outcome {
        Ok(list) => list,
        Err(refused) => {
            // Nobody else names this write's chunks.
            if let Some(s) = &stored {
                let _ = lists.delete_chunks(&s.at.prefix, s.at.chunks);
            }
            return Err(match refused {
                Refused::Missing => ApiError::not_found(format!("list {id} not found")),
                Refused::Stale(current) => precondition_failed(id, current),
            });
        }
    };
    // Subscription files carry the list's name: this node's copies are remade on next fetch.
    edge_store::caches::forget_list(id);
    let had_webhook = replaced.as_ref().is_some_and(|r| r.webhook.is_some());
    let had_interval = replaced.as_ref().and_then(|r| r.refresh_interval_secs);
    // The rules before the ones just replaced go now (the replaced ones stay for readers that
    // began before this update).
    if let Some(old) = replaced.and_then(|r| r.previous_rules)
        && Some(&old.prefix) != list.rules_at.as_ref()
    {
        lists.delete_chunks(&old.prefix, old.chunks)?;
    }
    edge_store::schedule::apply(lists, &list, had_interval, now_ms())?;
    // A secret made by this update (the list had no webhook) is shown this once.
    let new_secret = list.webhook.is_some() && !had_webhook;
    Ok(Response::json(200, &with_compile_state(lists, list.view(content.rules.as_deref(), new_secret), &list)?)
        .with_header("etag", list.etag()))
}

/// `view` of `list` with what its compiles left: `nextRefreshAt` (when the list is on the
/// refresh schedule), the health of its URL `sources`, its current `version` and its `held`
/// compile, if any.
pub(crate) fn with_compile_state(
    lists: &Kv,
    mut view: serde_json::Value,
    list: &ListRecord,
) -> Result<serde_json::Value> {
    if list.refresh_interval_secs.is_some()
        && let Some(due) = edge_store::schedule::next_due_of(lists, &list.id)?
    {
        view["nextRefreshAt"] = serde_json::Value::String(rfc3339(due));
    }
    if matches!(list.source, ListSource::Config { .. }) {
        let states: blocklist_model::sources::SourceStates =
            lists.get_json(&blocklist_model::sources::states_key(&list.id))?.unwrap_or_default();
        view["sources"] = states.view();
    }
    if let Some(meta) = lists.get_json::<CompiledMeta>(&compiled_key(&list.id))? {
        view["version"] = meta.version.into();
        if let Some(held) = &meta.held {
            view["held"] = held_view(held);
        }
    }
    Ok(view)
}

/// `DELETE /v1/lists/{id}`, with `If-Match` honoured ([`delete_owned_list`]).
pub(crate) fn delete_list(req: &Request, user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    match delete_owned_list(lists, &user.id, id, req.header("if-match"))? {
        Ok(()) => Ok(Response::empty(204)),
        Err(Refused::Missing) => Err(ApiError::not_found(format!("list {id} not found"))),
        Err(Refused::Stale(current)) => Err(precondition_failed(id, current)),
    }
}

/// Deletes list `id` of `owner`: the record is first marked deleted by compare-and-swap (with
/// `if_match`, only if the revision it names is still current), which makes the list gone for
/// every reader and writer at once; then what belongs to it is removed ([`remove_deleted_list`]).
pub(crate) fn delete_owned_list(
    lists: &Kv,
    owner: &str,
    id: &str,
    if_match: Option<&str>,
) -> Result<std::result::Result<(), Refused>> {
    let now = now_rfc3339();
    let outcome = lists.update_json(&list_key(id), |cur: Option<ListRecord>| {
        let Some(cur) = cur.filter(|c| c.owner == owner && c.deleted_at.is_none()) else {
            return JsonUpdate::Keep(Err(Refused::Missing));
        };
        if let Some(h) = if_match
            && !conditional::if_match(h, &cur.etag())
        {
            return JsonUpdate::Keep(Err(Refused::Stale(cur.etag())));
        }
        let marked = ListRecord { deleted_at: Some(now.clone()), ..cur };
        JsonUpdate::Write(marked.clone(), Ok(marked))
    })?;
    match outcome {
        Ok(marked) => Ok(Ok(remove_deleted_list(lists, &marked)?)),
        Err(refused) => Ok(Err(refused)),
    }
}

/// Removes what is left of a list marked deleted: its rules, compiled artifact, renditions
/// and subscriptions, then the record, then its place in its owner's index. In that order,
/// an interrupted removal leaves the marked record naming what is left, and the next removal
/// (the owner's next listing, [`repair_index`]) finishes it.
pub(crate) fn remove_deleted_list(lists: &Kv, list: &ListRecord) -> Result<()> {
    let id = &list.id;
    for rules in [list.rules_chunks(), list.previous_rules.clone()].into_iter().flatten() {
        lists.delete_chunks(&rules.prefix, rules.chunks)?;
    }
    if let Some(meta) = lists.get_json::<CompiledMeta>(&compiled_key(id))? {
        for artifact in meta.artifact_chunks() {
            lists.delete_chunks(&compiled_prefix(id, &artifact.etag), artifact.chunks)?;
        }
        lists.delete(&compiled_key(id))?;
    }
    let sources_key = blocklist_model::sources::states_key(id);
    if let Some(states) = lists.get_json::<blocklist_model::sources::SourceStates>(&sources_key)? {
        for copy in states.sources.iter().filter_map(|s| s.copy.as_ref()) {
            lists.delete_chunks(&blocklist_model::sources::copy_prefix(id, &copy.sha256), copy.chunks)?;
        }
        lists.delete(&sources_key)?;
    }
    subscriptions::delete_all_of_list(lists, id)?;
    lists.delete(&compile_lock_key(id))?;
    // Its finished jobs stay readable by id until the retention collector takes them.
    lists.delete(&list_jobs_key(id))?;
    edge_store::schedule::remove(lists, id)?;
    lists.delete(&list_key(id))?;
    lists.remove_from_index(&user_lists_key(&list.owner), id)?;
    // This node's copies go too (other nodes' expire with their TTL).
    edge_store::caches::forget_list(id);
    Ok(())
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
