//! `GET`/`HEAD /v1/lists/{id}/compiled`: the compiled list, through this node's cache.

use super::*;

pub(crate) fn get_compiled(req: &Request, user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let cache = Kv::open(STORE_CACHE)?;
    let now = now_ms();
    // A fresh entry of this user's serves without reading the list record. Once older than a
    // second it serves after one read of the compiled record shows it is still the current
    // artifact (another node may have compiled the list; this node's own compiles forget the
    // entry at once), and is then trusted for another second: one read per second, not one per
    // request. Anything else goes through the ownership check below.
    let ttl_ms = settings.cache_ttl_secs * 1000;
    let still_current =
        |etag: &str| lists.get_json::<CompiledMeta>(&compiled_key(id)).ok().flatten().is_some_and(|m| m.etag == etag);
    let cached = cache
        .get(&compiled_key(id))
        .ok()
        .flatten()
        .and_then(|b| CacheEntry::decode(&b))
        .filter(|e| e.expires_at_ms > now && e.owner == user.id)
        .and_then(|mut e| {
            let validated_at = e.expires_at_ms.saturating_sub(ttl_ms);
            if now < validated_at + edge_store::caches::REVALIDATE_MS {
                return Some(e);
            }
            if !still_current(&e.etag) {
                return None;
            }
            e.expires_at_ms = now + ttl_ms;
            edge_store::caches::fill(&cache, &compiled_key(id), &e.encode(), || still_current(&e.etag));
            Some(e)
        });
    let (etag, last_modified_ms, body, chunked) = match cached {
        Some(entry) => (entry.etag, entry.last_modified_ms, entry.body, None),
        None => {
            owned_list(user, lists, id)?;
            let meta: CompiledMeta = lists.get_json(&compiled_key(id))?.ok_or_else(|| {
                ApiError::new(
                    404,
                    "not_compiled",
                    format!("list {id} has no compiled version yet: POST /v1/lists/{id}/compile"),
                )
            })?;
            if meta.length as usize > MAX_CACHE_BODY {
                // Too large for the cache: streamed from the store a chunk at a time.
                let prefix = compiled_prefix(id, &meta.etag);
                let body = ChunkedBody { kv: Kv::open(STORE_LISTS)?, prefix, count: meta.chunks };
                (meta.etag, meta.modified_at_ms, Vec::new(), Some((body, meta.length)))
            } else {
                let body = lists
                    .get_chunks(&compiled_prefix(id, &meta.etag), meta.chunks, meta.length as usize)?
                    .filter(|b| b.len() as u64 == meta.length)
                    .ok_or_else(|| ApiError::unavailable(format!("compiled list {id} is being replaced; try again")))?;
                let entry = CacheEntry {
                    expires_at_ms: now + ttl_ms,
                    last_modified_ms: meta.modified_at_ms,
                    owner: user.id.clone(),
                    etag: meta.etag,
                    body,
                };
                // Kept only if no compile replaced the artifact (and no delete removed it) while
                // it was read.
                edge_store::caches::fill(&cache, &compiled_key(id), &entry.encode(), || still_current(&entry.etag));
                (entry.etag, entry.last_modified_ms, entry.body, None)
            }
        }
    };
    let quoted = format!("\"{etag}\"");
    // Artifacts stored before their content time was recorded have no Last-Modified.
    let last_modified = (last_modified_ms > 0).then(|| conditional::http_date(last_modified_ms));
    let with_validators = |r: Response| {
        let r = r.with_header("etag", quoted.clone()).with_header("cache-control", "private, no-cache");
        match &last_modified {
            Some(lm) => r.with_header("last-modified", lm.clone()),
            None => r,
        }
    };
    let unmodified = match req.header("if-none-match") {
        Some(inm) => conditional::if_none_match(inm, &[&quoted]),
        None => {
            last_modified_ms > 0
                && req
                    .header("if-modified-since")
                    .is_some_and(|ims| conditional::not_modified_since(ims, last_modified_ms))
        }
    };
    if unmodified {
        return Ok(with_validators(Response::empty(304)));
    }
    let length = chunked.as_ref().map_or(body.len() as u64, |(_, len)| *len);
    let head = req.method == "HEAD";
    Ok(with_validators(Response {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: if head { Vec::new() } else { body },
        chunked: if head { None } else { chunked.map(|(c, _)| c) },
    })
    .with_header("content-length", length.to_string()))
}
