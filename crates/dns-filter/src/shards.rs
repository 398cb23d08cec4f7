//! The sharded, serialized index: for a key-value store where a lookup starts with nothing in
//! memory (a WebAssembly instance per request).
//!
//! Shard `meta`: `DNM3` (format version 3), the shard count (u32 LE), flags (u32 LE; bit 0: some
//! rule is indexed by an inner label, `~label`), the scan-only rules (count, then line, text and
//! prefilter literals each: only rules whose literals occur in `http://name/` are parsed). Shard
//! `s<hex>`: `DNSS`, the entry count, an offset table, then the entries sorted by domain: the
//! domain, its rules (line and text each). A domain's shard is the FNV-1a hash of the domain
//! modulo the shard count (a power of two sized so a shard averages at most 1 KiB: a lookup
//! copies the shards it reads out of a store, so small ones keep it fast). A lookup reads `meta`
//! and the shards of the name and its parent suffixes (and of its labels, if any rule is indexed
//! by one), and parses only the rules it finds there.

use crate::rule::{self, Parsed};
use crate::{Lookup, NameError, StoredRule, decide, fnv1a, index_keys, normalize_name, probe_keys};
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// `meta`'s first bytes: the format and its version (`DNSM` was version 1, without prefilters;
/// `DNM2` version 2, without flags and with 4 KiB shards).
const META_MAGIC: &[u8; 4] = b"DNM3";

/// `meta`'s flag: some rule is indexed by an inner label (`~label` keys exist).
const HAS_LABEL_KEYS: u32 = 1;

/// The version of the shard format. Shards of another version answer [`ShardError::Corrupt`]:
/// a cache of shards should carry it in its keys (and rebuild when it changes).
pub const SHARD_FORMAT_VERSION: u32 = 3;
const SHARD_MAGIC: &[u8; 4] = b"DNSS";
const TARGET_SHARD_BYTES: usize = 1024;

/// One shard of the serialized index: store `bytes` under `key` (under the list's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shard {
    /// `meta`, or `s` and the shard number in hex.
    pub key: String,
    /// The serialized shard.
    pub bytes: Vec<u8>,
}

/// Why a sharded lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardError {
    /// The name is not a DNS name (a caller answers 400).
    Name(NameError),
    /// A shard the lookup needs is not in the store.
    Missing(String),
    /// A shard is not in this format.
    Corrupt(String),
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardError::Name(e) => e.fmt(f),
            ShardError::Missing(k) => write!(f, "index shard {k} is missing"),
            ShardError::Corrupt(k) => write!(f, "index shard {k} is corrupt"),
        }
    }
}

impl std::error::Error for ShardError {}

fn shard_key(domain: &str, count: u32) -> String {
    format!("s{:x}", fnv1a(domain) & u64::from(count - 1))
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// A domain shard's entry: the key and its rules (line, text).
type Entry<'a> = (String, Vec<(u32, &'a str)>);

/// Builds the sharded index of `rules_text`: `meta` and the domain shards (only non-empty ones).
pub fn build_shards(rules_text: &str) -> Vec<Shard> {
    let mut by_domain: HashMap<String, Vec<(u32, &str)>> = HashMap::new();
    let mut scan: Vec<(u32, &str, rule::Prefilter)> = Vec::new();
    let mut total = 0usize;
    for (i, line) in rules_text.lines().enumerate() {
        let parsed = rule::parse(line);
        if matches!(parsed, Parsed::Ignored) {
            continue;
        }
        let text = line.trim();
        match index_keys(&parsed) {
            Some(keys) => {
                for k in keys {
                    total += k.len() + text.len() + 16;
                    by_domain.entry(k).or_default().push((i as u32 + 1, text));
                }
            }
            None => scan.push((i as u32 + 1, text, rule::prefilter(&parsed))),
        }
    }
    let count = (total / TARGET_SHARD_BYTES).max(1).next_power_of_two() as u32;
    let flags = if by_domain.keys().any(|k| k.starts_with('~')) { HAS_LABEL_KEYS } else { 0 };
    let mut meta = META_MAGIC.to_vec();
    put_u32(&mut meta, count);
    put_u32(&mut meta, flags);
    put_u32(&mut meta, scan.len() as u32);
    for (line, text, prefilter) in &scan {
        put_u32(&mut meta, *line);
        put_str(&mut meta, text);
        put_u32(&mut meta, prefilter.literals.len() as u32 | if prefilter.all { 1 << 31 } else { 0 });
        for l in &prefilter.literals {
            put_str(&mut meta, l);
        }
    }
    let mut buckets: BTreeMap<String, Vec<Entry<'_>>> = BTreeMap::new();
    for (domain, rules) in by_domain {
        buckets.entry(shard_key(&domain, count)).or_default().push((domain, rules));
    }
    let mut shards = vec![Shard { key: "meta".into(), bytes: meta }];
    for (key, mut entries) in buckets {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut body = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for (domain, rules) in &entries {
            offsets.push(body.len() as u32);
            put_str(&mut body, domain);
            put_u32(&mut body, rules.len() as u32);
            for (line, text) in rules {
                put_u32(&mut body, *line);
                put_str(&mut body, text);
            }
        }
        let mut bytes = SHARD_MAGIC.to_vec();
        put_u32(&mut bytes, entries.len() as u32);
        for o in offsets {
            put_u32(&mut bytes, o);
        }
        bytes.extend(body);
        shards.push(Shard { key, bytes });
    }
    shards
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.bytes.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
    fn str(&mut self) -> Option<&'a str> {
        let n = self.u32()? as usize;
        let b = self.bytes.get(self.pos..self.pos + n)?;
        self.pos += n;
        std::str::from_utf8(b).ok()
    }
}

/// The rules stored under `domain` in a domain shard (binary search of the offset table).
fn find_in_shard<'a>(bytes: &'a [u8], domain: &str) -> Option<Vec<(u32, &'a str)>> {
    if bytes.get(..4)? != SHARD_MAGIC {
        return None;
    }
    let mut r = Reader { bytes, pos: 4 };
    let n = r.u32()? as usize;
    let body = 8 + 4 * n;
    let offset = |i: usize| -> Option<usize> {
        let b = bytes.get(8 + 4 * i..12 + 4 * i)?;
        Some(body + u32::from_le_bytes(b.try_into().ok()?) as usize)
    };
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let mut e = Reader { bytes, pos: offset(mid)? };
        let key = e.str()?;
        match key.cmp(domain) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => {
                let count = e.u32()?;
                let mut out = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    let line = e.u32()?;
                    out.push((line, e.str()?));
                }
                return Some(out);
            }
        }
    }
    Some(Vec::new())
}

/// The shards (besides `meta`) a lookup of `name` reads in an index whose `meta` is given: the
/// shards of the name's suffixes and labels, each once. For fetching them all in one call.
pub fn shards_of_lookup(name: &str, meta: &[u8]) -> Result<Vec<String>, ShardError> {
    let name = normalize_name(name).map_err(ShardError::Name)?;
    let count = shard_count(meta).ok_or_else(|| ShardError::Corrupt("meta".into()))?;
    let labels = meta_flags(meta) & HAS_LABEL_KEYS != 0;
    let mut keys: Vec<String> = Vec::new();
    for s in probe_keys(&name).into_iter().filter(|k| labels || !k.starts_with('~')) {
        let key = shard_key(&s, count);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// The number of domain shards of an index, from its `meta` shard (`None`: not a `meta` shard
/// of this format).
pub fn shard_count(meta: &[u8]) -> Option<u32> {
    if meta.get(..4) != Some(META_MAGIC) {
        return None;
    }
    Reader { bytes: meta, pos: 4 }.u32().filter(|c| c.is_power_of_two())
}

/// `meta`'s flags (0 if it has none).
fn meta_flags(meta: &[u8]) -> u32 {
    Reader { bytes: meta, pos: 8 }.u32().unwrap_or(0)
}

/// Looks `name` up in the sharded index, reading shards with `fetch` (key → bytes): `meta`,
/// then one shard per distinct hash of the name's suffixes.
pub fn lookup_sharded(
    name: &str,
    qtype: Option<&str>,
    mut fetch: impl FnMut(&str) -> Option<Vec<u8>>,
) -> Result<Lookup, ShardError> {
    let name = normalize_name(name).map_err(ShardError::Name)?;
    let meta = fetch("meta").ok_or_else(|| ShardError::Missing("meta".into()))?;
    let corrupt = || ShardError::Corrupt("meta".into());
    if meta.get(..4) != Some(META_MAGIC) {
        return Err(corrupt());
    }
    let mut r = Reader { bytes: &meta, pos: 4 };
    let count = r.u32().filter(|c| c.is_power_of_two()).ok_or_else(corrupt)?;
    let labels = r.u32().ok_or_else(corrupt)? & HAS_LABEL_KEYS != 0;
    let n_scan = r.u32().ok_or_else(corrupt)?;
    let url = format!("http://{name}/");
    let mut found: Vec<(u32, String)> = Vec::new();
    for _ in 0..n_scan {
        let line = r.u32().ok_or_else(corrupt)?;
        let text = r.str().ok_or_else(corrupt)?;
        let n_pre = r.u32().ok_or_else(corrupt)?;
        let (all, n) = (n_pre & (1 << 31) != 0, n_pre & !(1 << 31));
        let (mut any_hit, mut all_hit) = (false, true);
        for _ in 0..n {
            let hit = url.contains(r.str().ok_or_else(corrupt)?);
            any_hit |= hit;
            all_hit &= hit;
        }
        let pass = if all { all_hit } else { n == 0 || any_hit };
        if pass {
            found.push((line, text.to_owned()));
        }
    }
    let mut fetched: HashMap<String, Vec<u8>> = HashMap::new();
    // Without any rule indexed by an inner label, the `~label` keys have no entries.
    for s in probe_keys(&name).into_iter().filter(|k| labels || !k.starts_with('~')) {
        let s = s.as_str();
        let key = shard_key(s, count);
        if !fetched.contains_key(&key) {
            let Some(bytes) = fetch(&key) else {
                // Shards without entries are not stored.
                fetched.insert(key, Vec::new());
                continue;
            };
            fetched.insert(key.clone(), bytes);
        }
        let bytes = &fetched[&key];
        if bytes.is_empty() {
            continue;
        }
        let rules = find_in_shard(bytes, s).ok_or_else(|| ShardError::Corrupt(key.clone()))?;
        found.extend(rules.into_iter().map(|(l, t)| (l, t.to_owned())));
    }
    found.sort_by_key(|(l, _)| *l);
    found.dedup_by_key(|(l, _)| *l);
    let stored: Vec<StoredRule> =
        found.into_iter().map(|(line, text)| StoredRule { parsed: rule::parse(&text), text, line }).collect();
    let candidates: Vec<&StoredRule> = stored.iter().collect();
    Ok(decide(name, qtype, &candidates))
}
