//! The sharded index packed for a durable store: the thousands of small shards of a large list
//! ([`build_shards`](crate::build_shards)) grouped into a few values, [`SHARDS_PER_CHUNK`]
//! consecutive shard numbers each, plus one header value that holds `meta`. A writer stores the
//! chunks, then the header; a reader reads the header, then only the chunks holding the shards a
//! lookup needs ([`chunk_of`]: computed from the shard's number, no table to read), and may keep
//! every shard of a chunk it read in a faster cache, with the numbers of the chunk that have no
//! shard ([`chunk_shard_keys`]) kept as empty.
//!
//! Header: `DNP2`, [`SHARD_FORMAT_VERSION`](crate::SHARD_FORMAT_VERSION) (u32 LE), the chunk
//! count, then `meta`'s bytes. Chunk: `DNPC`, the shard count, then each shard: its key and
//! bytes (length-prefixed). Every chunk is stored, also an empty one.

use crate::shards::{Shard, ShardError};

const HEADER_MAGIC: &[u8; 4] = b"DNP2";
const CHUNK_MAGIC: &[u8; 4] = b"DNPC";

/// Consecutive shard numbers per chunk (about 256 KiB at the shards' average 1 KiB).
pub const SHARDS_PER_CHUNK: u32 = 256;

/// A packed index: store `header`, and each of `chunks` under its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packed {
    /// The header value.
    pub header: Vec<u8>,
    /// The chunks, numbered from 0 in this order.
    pub chunks: Vec<Vec<u8>>,
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The number of a domain shard's key (`s` and hex), if it is one.
fn shard_number(key: &str) -> Option<u32> {
    u32::from_str_radix(key.strip_prefix('s')?, 16).ok()
}

/// The chunk that holds shard `key` (a domain shard: `s` and its number in hex).
pub fn chunk_of(key: &str) -> Option<u32> {
    Some(shard_number(key)? / SHARDS_PER_CHUNK)
}

/// The keys of every shard number chunk `chunk` covers, in an index of `shard_count` shards.
pub fn chunk_shard_keys(chunk: u32, shard_count: u32) -> impl Iterator<Item = String> {
    let first = chunk.saturating_mul(SHARDS_PER_CHUNK);
    (first..first.saturating_add(SHARDS_PER_CHUNK).min(shard_count)).map(|n| format!("s{n:x}"))
}

/// Packs `shards` (as [`build_shards`](crate::build_shards) made them).
pub fn pack_shards(shards: &[Shard]) -> Packed {
    let meta = shards.iter().find(|s| s.key == "meta").map_or(&[][..], |s| s.bytes.as_slice());
    let count = crate::shards::shard_count(meta).unwrap_or(1);
    let chunk_count = count.div_ceil(SHARDS_PER_CHUNK);
    let mut bodies: Vec<(u32, Vec<u8>)> = vec![(0, Vec::new()); chunk_count as usize];
    for s in shards {
        if let Some(n) = chunk_of(&s.key).filter(|&n| n < chunk_count) {
            let (shards_in, body) = &mut bodies[n as usize];
            put_bytes(body, s.key.as_bytes());
            put_bytes(body, &s.bytes);
            *shards_in += 1;
        }
    }
    let chunks = bodies
        .into_iter()
        .map(|(shards_in, body)| {
            let mut c = Vec::with_capacity(8 + body.len());
            c.extend_from_slice(CHUNK_MAGIC);
            c.extend_from_slice(&shards_in.to_le_bytes());
            c.extend_from_slice(&body);
            c
        })
        .collect();
    let mut header = Vec::with_capacity(12 + meta.len());
    header.extend_from_slice(HEADER_MAGIC);
    header.extend_from_slice(&crate::SHARD_FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&chunk_count.to_le_bytes());
    header.extend_from_slice(meta);
    Packed { header, chunks }
}

/// The `meta` shard of a header value; [`ShardError::Corrupt`] for anything else, or another
/// format version (the caller builds the index again).
pub fn header_meta(header: &[u8]) -> Result<&[u8], ShardError> {
    let corrupt = || ShardError::Corrupt("header".into());
    if header.len() < 12 || &header[..4] != HEADER_MAGIC {
        return Err(corrupt());
    }
    if u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) != crate::SHARD_FORMAT_VERSION {
        return Err(corrupt());
    }
    Ok(&header[12..])
}

/// The number of chunks a header names (whatever its format version), for deleting a packed
/// index; `None` for anything but a header.
pub fn header_chunk_count(header: &[u8]) -> Option<u32> {
    if header.len() < 12 || &header[..4] != HEADER_MAGIC {
        return None;
    }
    Some(u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")))
}

/// Reads length-prefixed pieces and integers off a byte slice.
struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ShardError> {
        if self.bytes.len() < n {
            return Err(ShardError::Corrupt("chunk".into()));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, ShardError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn piece(&mut self) -> Result<&'a [u8], ShardError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// The shards of a chunk value.
pub fn unpack_chunk(bytes: &[u8]) -> Result<Vec<Shard>, ShardError> {
    let mut c = Cursor { bytes };
    if c.take(4)? != CHUNK_MAGIC {
        return Err(ShardError::Corrupt("chunk".into()));
    }
    let count = c.u32()? as usize;
    let mut shards = Vec::with_capacity(count.min(bytes.len() / 8));
    for _ in 0..count {
        let key = String::from_utf8(c.piece()?.to_vec()).map_err(|_| ShardError::Corrupt("chunk".into()))?;
        let bytes = c.piece()?.to_vec();
        shards.push(Shard { key, bytes });
    }
    Ok(shards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, build_shards, lookup_sharded};
    use std::collections::HashMap;

    #[test]
    fn a_packed_index_answers_as_the_shards_do_and_refuses_damage() {
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("||d{i}.example^\n0.0.0.0 h{i}.example.org\n"));
        }
        text.push_str("@@||d7.example^\n/^ads[0-9]+\\./\n");
        let shards = build_shards(&text);
        let packed = pack_shards(&shards);
        assert!(packed.chunks.len() > 2, "{} chunks", packed.chunks.len());
        let meta = header_meta(&packed.header).unwrap();
        let count = crate::shards::shard_count(meta).unwrap();
        assert_eq!(packed.chunks.len() as u32, count.div_ceil(SHARDS_PER_CHUNK));
        // As a reader fills a cache: every shard of each chunk, and the chunk's empty numbers.
        let mut cache: HashMap<String, Vec<u8>> = HashMap::new();
        for (n, chunk) in packed.chunks.iter().enumerate() {
            let found = unpack_chunk(chunk).unwrap();
            for s in &found {
                assert_eq!(chunk_of(&s.key), Some(n as u32));
            }
            for key in chunk_shard_keys(n as u32, count) {
                let bytes = found.iter().find(|s| s.key == key).map(|s| s.bytes.clone()).unwrap_or_default();
                cache.insert(key, bytes);
            }
        }
        assert_eq!(cache.len() as u32, count);
        cache.insert("meta".into(), meta.to_vec());
        let built: HashMap<&str, &[u8]> = shards.iter().map(|s| (s.key.as_str(), s.bytes.as_slice())).collect();
        for (key, bytes) in &cache {
            assert_eq!(built.get(key.as_str()).copied().unwrap_or_default(), bytes.as_slice(), "{key}");
        }
        let engine = Engine::new(&text);
        for name in ["d7.example", "x.d9.example", "h3.example.org", "ads12.example", "none.example"] {
            let from_pack = lookup_sharded(name, None, |k| cache.get(k).filter(|b| !b.is_empty()).cloned()).unwrap();
            assert_eq!(from_pack, engine.lookup(name, None).unwrap(), "{name}");
        }
        assert_eq!(header_chunk_count(&packed.header), Some(packed.chunks.len() as u32));
        assert_eq!(header_chunk_count(b"nope, not a header"), None);
        assert!(header_meta(&packed.header[..8]).is_err());
        let mut other = packed.header.clone();
        other[4] ^= 0xff;
        assert!(header_meta(&other).is_err(), "another format version");
        assert!(unpack_chunk(b"DNPC\x05\x00\x00\x00").is_err());
        assert!(unpack_chunk(b"nope").is_err());
        assert_eq!(chunk_of("meta"), None);
        assert_eq!(chunk_of("s141"), Some(1));
    }
}
