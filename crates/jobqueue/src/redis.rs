// Lua-scripted leases, not Streams consumer groups: Streams have no per-message retry delay (backoff), dead-letter set or one-message-per-job-id rule, which SqliteQueue's semantics need, atomically.
//! The Redis/Valkey backend: [`RedisQueue`], a queue store on a Redis (or Valkey) server that any
//! number of hosts share. Its semantics are exactly those of [`SqliteQueue`](crate::SqliteQueue).
//!
//! # Key layout
//!
//! Every key of the named queue `q` starts with `{prefix}:q:{q}:` and ends with one of these
//! fixed, colon-free suffixes (so two queues can never share a key, whatever their names):
//!
//! | key          | type       | contents                                                              |
//! |--------------|------------|-----------------------------------------------------------------------|
//! | `ids`        | hash       | job id → the message's *member* (below); present ⇔ the job is queued  |
//! | `payload`    | hash       | job id → payload bytes                                                |
//! | `attempts`   | hash       | job id → deliveries so far                                            |
//! | `lease`      | hash       | job id → lease token, only while the message is leased                |
//! | `error`      | hash       | job id → last error (kept when the message dies or is replayed)       |
//! | `ready`      | sorted set | members of queued and delayed messages, scored by visible-at (ms)     |
//! | `leased`     | sorted set | members of leased messages, scored by lease expiry (ms)               |
//! | `dead`       | sorted set | members of dead messages, scored by enqueue sequence (oldest first)   |
//! | `next-id`    | string     | counter: enqueue sequence                                             |
//! | `next-lease` | string     | counter: lease tokens                                                 |
//!
//! A message's *member* is its enqueue sequence as 16 lower-case hex digits followed by the job
//! id. Equal scores in a sorted set are ordered by member, so messages due at the same millisecond
//! are delivered in enqueue order, like SQLite's `ORDER BY visible_at, id`.
//!
//! Every message is in exactly one of `ready`, `leased` and `dead`. A leased message whose lease
//! has run out stays in `leased` (with a score in the past) until the next claim, and is counted as
//! ready by [`Queue::depth`], as in SQLite.
//!
//! # Atomicity
//!
//! Each operation is one Lua script (sent with `EVALSHA`, falling back to loading the script when
//! the server does not have it, e.g. after a restart). Redis runs a script to completion before
//! any other command, so every operation is atomic with respect to all clients of the server,
//! in any process: two consumers can never claim the same message, an `ack` with a stale lease
//! cannot remove a message someone else has re-claimed, and so on. All the keys a script touches
//! are passed as `KEYS`; to run on Redis Cluster, give a prefix with a hash tag (`{edge}`) so
//! all keys share a slot.
//!
//! Times are the caller's `now_ms`, never the server's clock, so the behaviour is the same as
//! SQLite's (and testable). Lease tokens come from `INCR` on `next-lease`, raised to at least
//! `now_ms · 1024`: they are unique, and stay larger than tokens handed out before a server lost
//! its recent writes (e.g. restored from an older snapshot).
//!
//! # Connections
//!
//! A [`RedisQueue`] holds at most one connection, behind a mutex. [`RedisQueue::open`] only
//! validates the URL: it does not connect, so a host can start while the server is down. Each
//! operation connects if there is no connection; any error drops the connection (after a timeout
//! it may be out of step with the server) and is returned as [`Error::Redis`]; the next operation
//! connects again, so a restarted server is picked up without restarting the process. Connecting,
//! reading and writing time out after [`RedisQueue::TIMEOUT`], so a dead server never blocks a
//! caller for long.
//!
//! An error does not say whether the server ran the script: an `enqueue` may have happened, a
//! `claim` may have leased a message (which comes back when the lease runs out: at-least-once
//! still holds).

use crate::{Dead, Depth, Error, Failed, Message, Policy, Queue};
use ::redis::{Client, Connection, ConnectionLike, FromRedisValue, RedisError, Script, ScriptInvocation};
use std::sync::Mutex;
use std::time::Duration;

/// The keys of one queue, in the order the scripts declare them (see [`HEADER`]).
const SUFFIXES: [&str; 10] =
    ["ids", "payload", "attempts", "lease", "error", "ready", "leased", "dead", "next-id", "next-lease"];

/// Names the keys for every script.
const HEADER: &str = "
local ids, payloads, attempts, leases, errors, ready, leased, dead, next_id, next_lease =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local function seq(member) return tonumber(string.sub(member, 1, 16), 16) end
";

/// ARGV: job id, payload, now. Returns 1 if enqueued, 0 if the job was already there.
const ENQUEUE: &str = "
local job = ARGV[1]
if redis.call('HEXISTS', ids, job) == 1 then return 0 end
local member = string.format('%016x', redis.call('INCR', next_id)) .. job
redis.call('HSET', ids, job, member)
redis.call('HSET', payloads, job, ARGV[2])
redis.call('HSET', attempts, job, 0)
redis.call('ZADD', ready, ARGV[3], member)
return 1
";

/// ARGV: now, lease expiry, lowest token. Returns nil or {job id, payload, attempts, token}.
const CLAIM: &str = "
local function first(key)
    local r = redis.call('ZRANGEBYSCORE', key, '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, 1)
    if r[1] then return r[1], tonumber(r[2]) end
    return nil, nil
end
local r_member, r_score = first(ready)
local l_member, l_score = first(leased)
local member, from
if r_member and (not l_member or r_score < l_score or (r_score == l_score and seq(r_member) < seq(l_member))) then
    member, from = r_member, ready
elseif l_member then
    member, from = l_member, leased
else
    return nil
end
local job = string.sub(member, 17)
local n = redis.call('HINCRBY', attempts, job, 1)
local token = redis.call('INCR', next_lease)
if token < tonumber(ARGV[3]) then
    token = tonumber(ARGV[3])
    redis.call('SET', next_lease, ARGV[3])
end
token = string.format('%.0f', token)
redis.call('ZREM', from, member)
redis.call('ZADD', leased, ARGV[2], member)
redis.call('HSET', leases, job, token)
return {job, redis.call('HGET', payloads, job), n, token}
";

/// ARGV: job id, token. Returns 1 if removed, 0 if the lease was not held.
const ACK: &str = "
local job = ARGV[1]
if redis.call('HGET', leases, job) ~= ARGV[2] then return 0 end
redis.call('ZREM', leased, redis.call('HGET', ids, job))
for _, key in ipairs({ids, payloads, attempts, leases, errors}) do redis.call('HDEL', key, job) end
return 1
";

/// ARGV: job id, token, new lease expiry. Returns 1 if renewed, 0 if the lease was not held.
const EXTEND: &str = "
local job = ARGV[1]
if redis.call('HGET', leases, job) ~= ARGV[2] then return 0 end
redis.call('ZADD', leased, ARGV[3], redis.call('HGET', ids, job))
return 1
";

/// ARGV: job id, token, error, max attempts, retry at. Returns 0 (lease lost), 1 (dead) or
/// 2 (retry).
const FAIL: &str = "
local job = ARGV[1]
if redis.call('HGET', leases, job) ~= ARGV[2] then return 0 end
local member = redis.call('HGET', ids, job)
redis.call('HDEL', leases, job)
redis.call('HSET', errors, job, ARGV[3])
redis.call('ZREM', leased, member)
if tonumber(redis.call('HGET', attempts, job)) >= tonumber(ARGV[4]) then
    redis.call('ZADD', dead, string.format('%.0f', seq(member)), member)
    return 1
end
redis.call('ZADD', ready, ARGV[5], member)
return 2
";

/// No ARGV. Returns {{job id, attempts, {last error} or {}}, ...}, oldest first.
const DEAD: &str = "
local out = {}
for _, member in ipairs(redis.call('ZRANGE', dead, 0, -1)) do
    local job = string.sub(member, 17)
    local e = redis.call('HGET', errors, job)
    out[#out + 1] = {job, tonumber(redis.call('HGET', attempts, job)), e and {e} or {}}
end
return out
";

/// ARGV: how many to keep. Deletes the oldest dead messages beyond those; returns how many.
const PRUNE_DEAD: &str = "
local excess = redis.call('ZCARD', dead) - tonumber(ARGV[1])
if excess <= 0 then return 0 end
local members = redis.call('ZRANGE', dead, 0, excess - 1)
for _, member in ipairs(members) do
    local job = string.sub(member, 17)
    redis.call('ZREM', dead, member)
    for _, key in ipairs({ids, payloads, attempts, leases, errors}) do redis.call('HDEL', key, job) end
end
return #members
";

/// ARGV: job id, now. Returns 1 if replayed, 0 if the job was not dead.
const REPLAY: &str = "
local job = ARGV[1]
local member = redis.call('HGET', ids, job)
if not member or redis.call('ZREM', dead, member) == 0 then return 0 end
redis.call('HSET', attempts, job, 0)
redis.call('HDEL', leases, job)
redis.call('ZADD', ready, ARGV[2], member)
return 1
";

/// ARGV: now. Returns {ready, delayed, leased, dead}.
const DEPTH: &str = "
local now = ARGV[1]
return {
    redis.call('ZCOUNT', ready, '-inf', now) + redis.call('ZCOUNT', leased, '-inf', now),
    redis.call('ZCOUNT', ready, '(' .. now, '+inf'),
    redis.call('ZCOUNT', leased, '(' .. now, '+inf'),
    redis.call('ZCARD', dead),
}
";

/// The shared backend: a Redis or Valkey server (any number of named queues, any number of
/// processes and hosts), with the same behaviour as [`SqliteQueue`](crate::SqliteQueue).
///
/// Every operation is one Lua script, so it is atomic with respect to every client of the server.
/// A handle holds one connection, made on first use; after any error it is dropped and the next
/// operation reconnects, so a restarted server is picked up. Connecting, reads and writes time
/// out after [`RedisQueue::TIMEOUT`]. An [`Error::Redis`] does not tell whether the operation
/// took effect; retrying is harmless (enqueue is idempotent, a claim whose reply was lost is
/// redelivered after its lease, a repeated ack or fail reports the lease as no longer held).
///
/// The key layout (all keys start with the prefix given to [`RedisQueue::open`]) is described in
/// the documentation of the module, `src/redis.rs`.
pub struct RedisQueue {
    client: Client,
    prefix: String,
    conn: Mutex<Option<Connection>>,
    scripts: Scripts,
}

struct Scripts {
    enqueue: Script,
    claim: Script,
    extend: Script,
    ack: Script,
    fail: Script,
    dead: Script,
    prune_dead: Script,
    replay: Script,
    depth: Script,
}

impl RedisQueue {
    /// How long connecting, and each read or write, may take before the operation fails with
    /// [`Error::Redis`].
    pub const TIMEOUT: Duration = Duration::from_secs(5);

    /// A queue store on the server at `url` (`redis://[user:password@]host[:port][/db]`), its
    /// keys starting with `prefix` (e.g. `blocklist-edge`), so several applications can share
    /// a server.
    ///
    /// This only checks the URL; it does not connect (the first operation does), so it succeeds
    /// while the server is down.
    pub fn open(url: &str, prefix: &str) -> Result<RedisQueue, Error> {
        let client = Client::open(url).map_err(|e| Error::Redis(format!("invalid URL: {e}")))?;
        let script = |body: &str| Script::new(&format!("{HEADER}{body}"));
        Ok(RedisQueue {
            client,
            prefix: prefix.to_owned(),
            conn: Mutex::new(None),
            scripts: Scripts {
                enqueue: script(ENQUEUE),
                claim: script(CLAIM),
                extend: script(EXTEND),
                ack: script(ACK),
                fail: script(FAIL),
                dead: script(DEAD),
                prune_dead: script(PRUNE_DEAD),
                replay: script(REPLAY),
                depth: script(DEPTH),
            },
        })
    }

    /// Runs `script` on the keys of `queue` with `args`, connecting first if needed; any error
    /// drops the connection.
    fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        queue: &str,
        args: impl FnOnce(&mut ScriptInvocation<'_>),
    ) -> Result<T, Error> {
        let mut invocation = script.prepare_invoke();
        for suffix in SUFFIXES {
            invocation.key(format!("{}:q:{}:{}", self.prefix, queue, suffix));
        }
        args(&mut invocation);

        let mut slot = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let mut conn = match slot.take() {
            Some(conn) if conn.is_open() => conn,
            _ => self.connect()?,
        };
        let result = invocation.invoke(&mut conn).map_err(|e| Error::Redis(e.to_string()))?;
        // Kept only after a success: after an error (a timeout, say) a reply may still be coming.
        *slot = Some(conn);
        Ok(result)
    }

    fn connect(&self) -> Result<Connection, Error> {
        let fail =
            |e: RedisError| Error::Redis(format!("connecting to {}: {e}", self.client.get_connection_info().addr()));
        let conn = self.client.get_connection_with_timeout(Self::TIMEOUT).map_err(fail)?;
        conn.set_read_timeout(Some(Self::TIMEOUT)).map_err(fail)?;
        conn.set_write_timeout(Some(Self::TIMEOUT)).map_err(fail)?;
        Ok(conn)
    }
}

/// The lowest lease token for a claim at `now_ms` (kept below 2^53, exact in Lua's doubles).
fn token_floor(now_ms: u64) -> u64 {
    now_ms.saturating_mul(1024).min(1 << 52)
}

impl Queue for RedisQueue {
    fn enqueue(&self, queue: &str, job_id: &str, payload: &[u8], now_ms: u64) -> Result<bool, Error> {
        self.run(&self.scripts.enqueue, queue, |i| {
            i.arg(job_id).arg(payload).arg(now_ms);
        })
    }

    fn claim(&self, queue: &str, now_ms: u64, lease_ms: u64) -> Result<Option<Message>, Error> {
        let claimed: Option<(String, Vec<u8>, u32, i64)> = self.run(&self.scripts.claim, queue, |i| {
            i.arg(now_ms).arg(now_ms.saturating_add(lease_ms)).arg(token_floor(now_ms));
        })?;
        Ok(claimed.map(|(job_id, payload, attempts, lease)| Message {
            queue: queue.to_owned(),
            job_id,
            payload,
            attempts,
            lease,
        }))
    }

    fn extend(&self, msg: &Message, now_ms: u64, lease_ms: u64) -> Result<bool, Error> {
        self.run(&self.scripts.extend, &msg.queue, |i| {
            i.arg(&msg.job_id).arg(msg.lease).arg(now_ms.saturating_add(lease_ms));
        })
    }

    fn ack(&self, msg: &Message) -> Result<bool, Error> {
        self.run(&self.scripts.ack, &msg.queue, |i| {
            i.arg(&msg.job_id).arg(msg.lease);
        })
    }

    fn fail(&self, msg: &Message, error: &str, now_ms: u64, policy: &Policy) -> Result<Failed, Error> {
        // The lease token is unique, so while it is held the stored attempts are `msg.attempts`.
        let at = now_ms.saturating_add(policy.backoff_ms(msg.attempts));
        let outcome: u8 = self.run(&self.scripts.fail, &msg.queue, |i| {
            i.arg(&msg.job_id).arg(msg.lease).arg(error).arg(policy.max_attempts).arg(at);
        })?;
        Ok(match outcome {
            0 => Failed::LeaseLost,
            1 => Failed::Dead,
            _ => Failed::RetryAt(at),
        })
    }

    fn dead(&self, queue: &str) -> Result<Vec<Dead>, Error> {
        let dead: Vec<(String, u32, Vec<String>)> = self.run(&self.scripts.dead, queue, |_| {})?;
        Ok(dead
            .into_iter()
            .map(|(job_id, attempts, error)| Dead { job_id, attempts, last_error: error.into_iter().next() })
            .collect())
    }

    fn prune_dead(&self, queue: &str, keep: usize) -> Result<u64, Error> {
        self.run(&self.scripts.prune_dead, queue, |i| {
            i.arg(keep);
        })
    }

    fn replay(&self, queue: &str, job_id: &str, now_ms: u64) -> Result<bool, Error> {
        self.run(&self.scripts.replay, queue, |i| {
            i.arg(job_id).arg(now_ms);
        })
    }

    fn depth(&self, queue: &str, now_ms: u64) -> Result<Depth, Error> {
        let (ready, delayed, leased, dead) = self.run(&self.scripts.depth, queue, |i| {
            i.arg(now_ms);
        })?;
        Ok(Depth { ready, delayed, leased, dead })
    }
}
