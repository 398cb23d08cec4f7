//! `/v1/lists` CRUD: create, read, update (with `If-Match`), delete, and the owner's index.

use super::*;

pub(crate) fn owned_list(user: &User, lists: &Kv, id: &str) -> Result<ListRecord> {
    match live_list(lists, id)? {
        Some(list) if list.owner == user.id => Ok(list),
        // Another user's list is indistinguishable from a missing one.
        _ => Err(ApiError::not_found(format!("list {id} not found"))),
    }
}

pub(crate) fn list_lists(user: &User, lists: &Kv) -> Result<Response> {
    let records = repair_index(lists, &user.id)?;
    Ok(Response::json(200, &ListsPage { lists: records.iter().map(ListSummary::of).collect() }))
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
    let state = compile_state(lists, &list)?;
    Ok(Response::json(201, &list_view(&list, content.rules.as_deref(), true, &state))
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
    let state = compile_state(lists, &list)?;
    Ok(Response::json(200, &list_view(&list, rules.as_deref(), false, &state)).with_header("etag", list.etag()))
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
    let state = compile_state(lists, &list)?;
    Ok(Response::json(200, &list_view(&list, content.rules.as_deref(), new_secret, &state))
        .with_header("etag", list.etag()))
}

/// What a list's compiles left, for its view: when its next refresh is due (a list on the
/// refresh schedule), the health of its URL sources (a configuration list), and its compiled
/// record (its current version and held compile), if any.
pub(crate) struct CompileState {
    next_refresh_at_ms: Option<u64>,
    sources: Option<blocklist_model::sources::SourceStates>,
    meta: Option<CompiledMeta>,
}

/// Reads `list`'s [`CompileState`].
pub(crate) fn compile_state(lists: &Kv, list: &ListRecord) -> Result<CompileState> {
    let next_refresh_at_ms = match list.refresh_interval_secs {
        Some(_) => edge_store::schedule::next_due_of(lists, &list.id)?,
        None => None,
    };
    let sources = match list.source {
        ListSource::Config { .. } => {
            Some(lists.get_json(&blocklist_model::sources::states_key(&list.id))?.unwrap_or_default())
        }
        ListSource::Rules => None,
    };
    Ok(CompileState { next_refresh_at_ms, sources, meta: lists.get_json(&compiled_key(&list.id))? })
}

/// `list` as the API shows it, with its `rules` text if given, its webhook's secret only with
/// `show_secret` (the answer that made the secret, never a later read), and what its compiles
/// left.
pub(crate) fn list_view<'a>(
    list: &'a ListRecord,
    rules: Option<&'a str>,
    show_secret: bool,
    state: &'a CompileState,
) -> ListView<'a> {
    ListView {
        summary: ListSummary::of(list),
        webhook: list
            .webhook
            .as_ref()
            .map(|w| WebhookView { url: &w.url, secret: show_secret.then_some(w.secret.as_str()) }),
        rules,
        next_refresh_at: state.next_refresh_at_ms.map(rfc3339),
        sources: state.sources.as_ref().map(|s| s.sources.iter().map(SourceView::of).collect()),
        version: state.meta.as_ref().map(|m| m.version),
        held: state.meta.as_ref().and_then(|m| m.held.as_ref()).map(HeldView::of),
    }
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
            edge_store::lookup_index::delete(lists, id, &artifact.etag)?;
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
