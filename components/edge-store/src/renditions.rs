//! Subscription renditions: a list's compiled artifact in one subscription format
//! ([`list_formats::Format`]), made once per artifact and format — not per request — and stored
//! in chunks twice, as is and gzip-compressed, so that a fetch only reads.
//!
//! A rendition is made from the artifact's chunks a chunk at a time, in three passes (the
//! rules' exceptions, the rendered lines, then the digest and the compressed copy), so its
//! memory stays a few chunks whatever the list's size. Two nodes that make the same rendition
//! at once write the same bytes under the same keys (the chunk prefix is a digest of what it is
//! made from), and one compare-and-swap installs it.

use crate::StoreError;
use crate::kv::{CHUNK, JsonUpdate, Kv};
use crate::model::*;
use flate2::Compression;
use flate2::write::GzEncoder;
use list_formats::{Format, HeaderInfo, LineSplitter};
use sha2::{Digest, Sha256};
use std::io::Write;

/// What a rendition is asked for: the list, the format, and what its header says.
pub struct Wanted<'a> {
    pub list_id: &'a str,
    pub format: Format,
    /// The `Title` of the file: the list's name.
    pub title: &'a str,
    /// The `Expires` of the file, in hours.
    pub expires_hours: u32,
}

impl Wanted<'_> {
    /// Whether `meta` is this rendition of `compiled`.
    pub fn is_made_by(&self, meta: &RenditionMeta, compiled: &CompiledMeta) -> bool {
        meta.artifact_etag == compiled.etag
            && meta.title == self.title
            && meta.expires_hours == self.expires_hours
            && meta.version == compiled.version
    }

    /// The chunk prefix of this rendition of `compiled`: a digest of everything it is made from.
    fn build(&self, compiled: &CompiledMeta) -> String {
        let mut h = Sha256::new();
        for part in [
            self.format.name(),
            &compiled.etag,
            self.title,
            &self.expires_hours.to_string(),
            &compiled.version.to_string(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }
}

/// The current rendition of `compiled` as `wanted`, made and stored first if there is none yet
/// (or only one of an older artifact, title or expiry).
pub fn current(lists: &Kv, compiled: &CompiledMeta, wanted: &Wanted) -> Result<RenditionMeta, StoreError> {
    let key = rendition_key(wanted.list_id, wanted.format.name());
    let existing: Option<RenditionMeta> = lists.get_json(&key)?;
    if let Some(meta) = &existing
        && wanted.is_made_by(meta, compiled)
    {
        return Ok(meta.clone());
    }
    let made = make(lists, compiled, wanted, existing.as_ref())?;
    install(lists, &key, wanted, made)
}

/// `subscription_expires_hours` from the configuration: the `Expires` subscription files
/// announce (default 24).
pub fn expires_hours(values: &crate::config::Values) -> Result<u32, StoreError> {
    Ok(values.get(blocklist_model::variables::SUBSCRIPTION_EXPIRES_HOURS, 24u32)?.max(1))
}

/// After `published` became the current artifact of `list`: makes its subscription files now,
/// off the request path, unless a newer artifact replaced it meanwhile (that one's publisher
/// makes its own). A failure is logged: it only leaves the work to the first fetch.
pub fn prepare_current(lists: &Kv, list: &ListRecord, published: &CompiledMeta, default_expires_hours: u32) {
    let made = match lists.get_json::<CompiledMeta>(&compiled_key(&list.id)) {
        Ok(Some(current)) if current.etag == published.etag && current.version == published.version => {
            prepare_for_subscriptions(lists, list, &current, list.expires_hours(default_expires_hours))
        }
        Ok(_) => Ok(0),
        Err(e) => Err(e),
    };
    if let Err(e) = made {
        eprintln!("preparing the subscription files of list {}: {e}", list.id);
    }
}

/// Makes the renditions of `compiled` that the list's subscriptions fetch (one per format in
/// use), so that the first fetch after a compile only reads; the number made or found.
pub fn prepare_for_subscriptions(
    lists: &Kv,
    list: &ListRecord,
    compiled: &CompiledMeta,
    expires_hours: u32,
) -> Result<usize, StoreError> {
    let ids: Vec<String> = lists.get_json(&list_subscriptions_key(&list.id))?.unwrap_or_default();
    let mut formats: Vec<Format> = Vec::new();
    for id in ids {
        if let Some(sub) = lists.get_json::<SubscriptionRecord>(&subscription_key(&id))?
            && let Some(format) = Format::parse(&sub.format)
            && !formats.contains(&format)
        {
            formats.push(format);
        }
    }
    for &format in &formats {
        current(lists, compiled, &Wanted { list_id: &list.id, format, title: &list.name, expires_hours })?;
    }
    Ok(formats.len())
}

/// The keys of a list's renditions, one per format (in `lists`; the node-local `cache` uses
/// the same keys).
pub fn keys(list_id: &str) -> impl Iterator<Item = String> + '_ {
    Format::ALL.iter().map(move |f| rendition_key(list_id, f.name()))
}

/// Deletes every rendition of a list (its list was deleted).
pub fn delete_all(lists: &Kv, list_id: &str) -> Result<(), StoreError> {
    for format in Format::ALL {
        let key = rendition_key(list_id, format.name());
        if let Some(meta) = lists.get_json::<RenditionMeta>(&key)? {
            lists.delete(&key)?;
            delete_chunks(lists, list_id, format, &meta.chunks())?;
            if let Some(prev) = &meta.previous {
                delete_chunks(lists, list_id, format, prev)?;
            }
        }
    }
    Ok(())
}

fn delete_chunks(lists: &Kv, list_id: &str, format: Format, chunks: &RenditionChunks) -> Result<(), StoreError> {
    lists.delete_chunks(&rendition_prefix(list_id, format.name(), &chunks.build, false), chunks.chunks)?;
    lists.delete_chunks(&rendition_prefix(list_id, format.name(), &chunks.build, true), chunks.gzip_chunks)
}

/// Points `key` at `made` unless a rendition of the same build is there already; keeps the one
/// it replaces for downloads under way and deletes the one before it.
fn install(lists: &Kv, key: &str, wanted: &Wanted, made: RenditionMeta) -> Result<RenditionMeta, StoreError> {
    let mut superseded = None;
    let installed = lists.update_json(key, |cur: Option<RenditionMeta>| {
        if let Some(c) = &cur
            && c.build == made.build
        {
            return JsonUpdate::Keep(c.clone());
        }
        superseded = cur.as_ref().and_then(|c| c.previous.clone());
        let mut next = made.clone();
        next.previous = cur.map(|c| c.chunks());
        JsonUpdate::Write(next.clone(), next)
    })?;
    if let Some(old) = superseded.filter(|o| o.build != installed.build) {
        // Best effort: a leftover costs space, not correctness.
        let _ = delete_chunks(lists, wanted.list_id, wanted.format, &old);
    }
    Ok(installed)
}

/// Writes a stream of bytes as chunks `{prefix}/{first}`, `{prefix}/{first + 1}`, …
struct ChunkWriter<'a> {
    lists: &'a Kv,
    prefix: String,
    buf: Vec<u8>,
    next: u32,
    written: u64,
}

impl<'a> ChunkWriter<'a> {
    fn new(lists: &'a Kv, prefix: String, first: u32) -> Self {
        ChunkWriter { lists, prefix, buf: Vec::with_capacity(CHUNK + 4096), next: first, written: 0 }
    }

    fn write(&mut self, data: &[u8]) -> Result<(), StoreError> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if !self.buf.is_empty() {
            self.lists.set(&format!("{}/{}", self.prefix, self.next), &self.buf)?;
            self.written += self.buf.len() as u64;
            self.next += 1;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes the rest; the number of the chunk after the last one written.
    fn finish(mut self) -> Result<(u32, u64), StoreError> {
        self.flush()?;
        Ok((self.next, self.written))
    }
}

/// Calls `each` with the chunks of a stored value, in order.
fn for_each_chunk(
    lists: &Kv,
    prefix: &str,
    count: u32,
    mut each: impl FnMut(&[u8]) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for i in 0..count {
        match lists.get(&format!("{prefix}/{i}"))? {
            Some(chunk) => each(&chunk)?,
            None => return Err(StoreError::unavailable(format!("{prefix} is being replaced; try again"))),
        }
    }
    Ok(())
}

/// Calls `each` with every line of the artifact `compiled`.
fn for_each_line(
    lists: &Kv,
    list_id: &str,
    compiled: &CompiledMeta,
    mut each: impl FnMut(&str),
) -> Result<(), StoreError> {
    let mut lines = LineSplitter::new();
    for_each_chunk(lists, &compiled_prefix(list_id, &compiled.etag), compiled.chunks, |chunk| {
        lines.feed(chunk, &mut each);
        Ok(())
    })?;
    lines.finish(&mut each);
    Ok(())
}

/// Makes and stores the rendition (not yet installed): chunk 0 is the header, the rendered
/// lines follow; then the gzip copy of the whole.
fn make(
    lists: &Kv,
    compiled: &CompiledMeta,
    wanted: &Wanted,
    existing: Option<&RenditionMeta>,
) -> Result<RenditionMeta, StoreError> {
    let format = wanted.format;
    let build = wanted.build(compiled);
    let prefix = rendition_prefix(wanted.list_id, format.name(), &build, false);

    let mut analyzer = list_formats::Analyzer::new();
    for_each_line(lists, wanted.list_id, compiled, |line| analyzer.line(line))?;
    let analysis = analyzer.finish();

    let mut renderer = list_formats::Renderer::new(format, &analysis);
    let mut body = ChunkWriter::new(lists, prefix.clone(), 1);
    let mut out = Vec::new();
    let mut failed = None;
    for_each_line(lists, wanted.list_id, compiled, |line| {
        renderer.line(line, &mut out);
        if out.len() >= 64 * 1024 {
            if failed.is_none()
                && let Err(e) = body.write(&out)
            {
                failed = Some(e);
            }
            out.clear();
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    let stats = renderer.finish(&mut out);
    body.write(&out)?;
    let (chunks, body_len) = body.finish()?;

    // Artifacts made before their content time was recorded count as new.
    let content_ms = if compiled.modified_at_ms > 0 { compiled.modified_at_ms } else { now_ms() };
    let last_modified = rfc3339(content_ms);
    let header = list_formats::header(
        format,
        &HeaderInfo {
            title: wanted.title,
            version: compiled.version,
            last_modified: &last_modified,
            expires_hours: wanted.expires_hours,
        },
        &stats,
    );
    lists.set(&format!("{prefix}/0"), header.as_bytes())?;

    // The digest and the compressed copy of header and lines, read back a chunk at a time.
    let mut digest = Sha256::new();
    let mut gzip = ChunkWriter::new(lists, rendition_prefix(wanted.list_id, format.name(), &build, true), 0);
    let mut encoder = GzEncoder::new(Vec::with_capacity(CHUNK), Compression::default());
    for_each_chunk(lists, &prefix, chunks, |chunk| {
        digest.update(chunk);
        encoder.write_all(chunk).map_err(|e| StoreError::internal(format!("compressing: {e}")))?;
        if encoder.get_ref().len() >= CHUNK {
            gzip.write(encoder.get_ref())?;
            encoder.get_mut().clear();
        }
        Ok(())
    })?;
    let tail = encoder.finish().map_err(|e| StoreError::internal(format!("compressing: {e}")))?;
    gzip.write(&tail)?;
    let (gzip_chunks, gzip_length) = gzip.finish()?;

    let etag = hex::encode(digest.finalize());
    let last_modified_ms = match existing {
        // The same bytes as before (say, the same artifact under another build): they are as
        // old as they were.
        Some(e) if e.etag == etag => e.last_modified_ms,
        _ => now_ms().max(content_ms),
    };
    Ok(RenditionMeta {
        artifact_etag: compiled.etag.clone(),
        title: wanted.title.to_owned(),
        expires_hours: wanted.expires_hours,
        etag,
        build,
        length: header.len() as u64 + body_len,
        chunks,
        gzip_length,
        gzip_chunks,
        last_modified_ms,
        version: compiled.version,
        stats: RenditionStats {
            rules: stats.rules,
            entries: stats.lines,
            omitted: stats.omitted,
            omitted_sample: stats.omitted_sample.clone(),
            narrowed: stats.narrowed,
            widened: stats.widened,
            unneeded: stats.unneeded,
        },
        previous: None,
    })
}
