//! `GET /v1/lists/{id}/lookup?name=…&type=…`: whether a DNS query for a name is blocked by the
//! list's published artifact, by which rule, and every other rule that matches it (exceptions,
//! `$important`, `$badfilter`), with AdGuard's DNS-level semantics (crate `dns-filter`).
//!
//! The answer comes from an index of the artifact, never from a scan of the list: the sharded
//! form of `dns_filter::build_shards`, stored with the artifact by the compile consumer
//! (`edge_store::lookup_index`), read a few shards at a time through this node's `cache` store.
//! The etag is the artifact's content hash, so nothing cached is ever stale. An artifact stored
//! before the index existed is indexed by its first lookup, which stores the index the same way.
//! The answer's `Server-Timing: lookup;dur=…, store;dur=…` is the time the index lookup took
//! inside the component, and the part of it spent in calls to the stores, in milliseconds
//! (`cargo bench --bench lookups`).

use super::*;
use dns_filter::{ShardError, build_shards, lookup_sharded};
use edge_store::lookup_index;
use std::collections::HashMap;

/// The largest artifact a lookup indexes itself when it finds no stored index (larger ones are
/// indexed by their compile).
const MAX_INDEX_IN_REQUEST_BYTES: u64 = 8 * 1024 * 1024;

/// The longest query type accepted (`type=HTTPS`, `type=CNAME`, …).
const MAX_QTYPE: usize = 10;

/// The `name` and `type` of the query.
pub(crate) fn parse_lookup_query(query: &str) -> Result<(String, Option<String>)> {
    let (mut name, mut qtype) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("name", v)) => name = Some(percent_decode(v)?),
            Some(("type", v)) => {
                let v = v.to_ascii_uppercase();
                if v.is_empty() || v.len() > MAX_QTYPE || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(ApiError::bad_request(format!(
                        "type must be a DNS query type such as A or AAAA, not {v:?}"
                    )));
                }
                qtype = Some(v);
            }
            _ => return Err(ApiError::bad_request(format!("unknown query parameter {pair:?}; use name=…&type=…"))),
        }
    }
    let name = name.ok_or_else(|| ApiError::bad_request("name is required: GET …/lookup?name=ads.example.com"))?;
    Ok((name, qtype))
}

/// `%XX` and `+` decoded, as a query value (a name may be an internationalised one).
fn percent_decode(v: &str) -> Result<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let b = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(b.ok_or_else(|| ApiError::bad_request("name has a malformed %-escape"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("name is not UTF-8"))
}

/// `GET /v1/lists/{id}/lookup`.
pub(crate) fn lookup(req: &Request, user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let (name, qtype) = parse_lookup_query(&req.query)?;
    owned_list(user, lists, id)?;
    look_up(lists, id, &name, qtype.as_deref())
}

/// The answer to a lookup of `name` (with query type `qtype`) in list `id`'s published
/// artifact, once the caller may see it (its owner, or a subscription token that allows it).
pub(crate) fn look_up(lists: &Kv, id: &str, name: &str, qtype: Option<&str>) -> Result<Response> {
    let meta = compiled_meta(lists, id)?;
    let node = Kv::open(STORE_CACHE).ok();
    let started = std::time::Instant::now();
    let mut reader = lookup_index::Reader::new(lists, node.as_ref(), id, &meta.etag);
    reader.prefetch(name);
    let mut answer = lookup_sharded(name, qtype, |key| reader.get(key));
    if let Some(e) = reader.error.take() {
        return Err(e.into());
    }
    if reader.has_no_index() || matches!(answer, Err(ShardError::Corrupt(_))) {
        // Stored before the index existed (or in another format): index it now, once for
        // every node, and answer from what was built — if that fits in a request.
        if meta.length > MAX_INDEX_IN_REQUEST_BYTES {
            return Err(ApiError::new(
                503,
                "index_not_built",
                format!(
                    "version {} of list {id} has no usable lookup index (it was compiled before lookups existed, or \
                     its index is damaged), and at {} bytes it is too large to index here: compile the list again \
                     (POST /v1/lists/{id}/compile)",
                    meta.version, meta.length
                ),
            ));
        }
        let text = lists
            .get_chunks(&compiled_prefix(id, &meta.etag), meta.chunks, meta.length as usize)?
            .ok_or_else(|| ApiError::unavailable("this list is being replaced; try again"))?;
        let shards = build_shards(&String::from_utf8_lossy(&text));
        lookup_index::store_shards(lists, id, &meta.etag, &shards)?;
        let built: HashMap<&str, &[u8]> = shards.iter().map(|s| (s.key.as_str(), s.bytes.as_slice())).collect();
        answer = lookup_sharded(name, qtype, |k| built.get(k).map(|b| b.to_vec()));
    }
    let (took, store_time) = (started.elapsed(), reader.store_time);
    let found = match answer {
        Ok(found) => found,
        Err(ShardError::Name(e)) => return Err(ApiError::new(400, "invalid_name", e.to_string())),
        Err(e) => return Err(ApiError::internal(format!("the lookup index of list {id}: {e}"))),
    };
    Ok(Response::json(200, &LookupView { found: &found, list: id, version: meta.version, etag: &meta.etag })
        .with_header(
            "server-timing",
            format!(
                "lookup;dur={:.3}, store;dur={:.3}",
                took.as_secs_f64() * 1000.0,
                store_time.as_secs_f64() * 1000.0
            ),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_needs_a_name_and_takes_a_type() {
        assert_eq!(parse_lookup_query("name=ads.example.com").unwrap(), ("ads.example.com".into(), None));
        assert_eq!(
            parse_lookup_query("name=b%C3%BCcher.example&type=aaaa").unwrap(),
            ("bücher.example".into(), Some("AAAA".into()))
        );
        for bad in ["", "type=A", "name=x&type=", "name=x&type=A%20", "name=x&q=1", "name=%zz"] {
            assert_eq!(parse_lookup_query(bad).unwrap_err().status, 400, "{bad}");
        }
    }
}
