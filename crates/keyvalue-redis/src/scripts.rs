//! The Lua scripts that make each write one atomic step on the server (see the crate's
//! documentation for the entry layout they keep).

use redis::Script;

/// The `kind` of an entry holding a value.
pub(crate) const VALUE: &[u8] = b"v";
/// The `kind` of an entry holding a counter.
pub(crate) const COUNTER: &[u8] = b"c";

/// KEYS: entry, index. ARGV: key, value, version.
const SET: &str = "
redis.call('HSET', KEYS[1], 'kind', 'v', 'value', ARGV[2], 'version', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
";

/// KEYS: entry, index. ARGV: key.
const DELETE: &str = "
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
";

/// KEYS: entry, index. ARGV: key, delta (decimal), version. Returns the counter (decimal, as a
/// string: a Lua number would lose bits), 1 if the key holds a value, 2 if it would overflow.
/// `HINCRBY` adds exactly in 64 bits and refuses (changing nothing) to overflow.
const INCREMENT: &str = "
local kind = redis.call('HGET', KEYS[1], 'kind')
if kind and kind ~= 'c' then return 1 end
if ARGV[2] == '0' then
    if kind then return redis.call('HGET', KEYS[1], 'value') end
    return '0'
end
local r = redis.pcall('HINCRBY', KEYS[1], 'value', ARGV[2])
if type(r) == 'table' and r.err then
    if string.find(r.err, 'overflow', 1, true) then return 2 end
    return r
end
redis.call('HSET', KEYS[1], 'kind', 'c', 'version', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return redis.call('HGET', KEYS[1], 'value')
";

/// KEYS: entry, index. ARGV: key, expected version (decimal, or empty: expected absent), value,
/// new version. Returns 1 if swapped, 0 if not.
const COMPARE_AND_SWAP: &str = "
local current = redis.call('HGET', KEYS[1], 'version')
if ARGV[2] == '' then
    if current then return 0 end
elseif current ~= ARGV[2] then
    return 0
end
redis.call('HSET', KEYS[1], 'kind', 'v', 'value', ARGV[3], 'version', ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
";

/// KEYS: index, then the entry of each pair. ARGV: key, value, version of each pair, in order.
const SET_MANY: &str = "
for i = 2, #KEYS do
    local a = (i - 2) * 3
    redis.call('HSET', KEYS[i], 'kind', 'v', 'value', ARGV[a + 2], 'version', ARGV[a + 3])
    redis.call('ZADD', KEYS[1], 0, ARGV[a + 1])
end
return #KEYS - 1
";

/// KEYS: index, then the entry of each key. ARGV: the keys, in order.
const DELETE_MANY: &str = "
for i = 2, #KEYS do
    redis.call('DEL', KEYS[i])
    redis.call('ZREM', KEYS[1], ARGV[i - 1])
end
return #KEYS - 1
";

/// The scripts, each loaded on a server the first time it is run there.
pub(crate) struct Scripts {
    pub(crate) set: Script,
    pub(crate) delete: Script,
    pub(crate) increment: Script,
    pub(crate) compare_and_swap: Script,
    pub(crate) set_many: Script,
    pub(crate) delete_many: Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        Scripts {
            set: Script::new(SET),
            delete: Script::new(DELETE),
            increment: Script::new(INCREMENT),
            compare_and_swap: Script::new(COMPARE_AND_SWAP),
            set_many: Script::new(SET_MANY),
            delete_many: Script::new(DELETE_MANY),
        }
    }
}
