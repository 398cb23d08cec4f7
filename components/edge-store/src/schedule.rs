//! Scheduled refreshes in key-value (the timing rules are in [`blocklist_model::schedule`]):
//! the `refresh-schedule/{h}` shards, kept in step with the lists' `refreshIntervalSecs`, and
//! [`run_due`], which the sweeper (and `POST /v1/admin/refresh`) calls to request the compiles
//! that are due through the job pipeline.

use crate::StoreError;
use crate::job_ledger::{self, JobSettings, Requested};
use crate::kv::{JsonUpdate, Kv};
use crate::ledger::JobCause;
use crate::model::*;
pub use blocklist_model::schedule::*;

/// Puts `list` on the schedule, or takes it off if it has no refresh interval. A list already
/// on it keeps its due time when its interval is unchanged (`previous_interval_secs`).
pub fn apply(
    lists: &Kv,
    list: &ListRecord,
    previous_interval_secs: Option<u64>,
    now_ms: u64,
) -> Result<(), StoreError> {
    match list.refresh_interval_secs {
        None => remove(lists, &list.id),
        Some(secs) => {
            let interval_ms = secs.saturating_mul(1000);
            let unchanged = previous_interval_secs == Some(secs);
            lists.update_json(&shard_key(&list.id), |shard: Option<Shard>| {
                let mut shard = shard.unwrap_or_default();
                if unchanged && shard.contains_key(&list.id) {
                    return JsonUpdate::Keep(());
                }
                shard.insert(list.id.clone(), first_due(&list.id, interval_ms, now_ms));
                JsonUpdate::Write(shard, ())
            })
        }
    }
}

/// Takes list `id` off the schedule.
pub fn remove(lists: &Kv, id: &str) -> Result<(), StoreError> {
    lists.update_json(&shard_key(id), |shard: Option<Shard>| match shard {
        Some(mut shard) if shard.contains_key(id) => {
            shard.remove(id);
            JsonUpdate::Write(shard, ())
        }
        _ => JsonUpdate::Keep(()),
    })
}

/// When list `id` is refreshed next, if it is on the schedule.
pub fn next_due_of(lists: &Kv, id: &str) -> Result<Option<u64>, StoreError> {
    Ok(lists.get_json::<Shard>(&shard_key(id))?.and_then(|s| s.get(id).copied()))
}

/// What [`run_due`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RefreshReport {
    /// Lists on the schedule.
    pub scheduled: u32,
    /// Jobs requested (their ids).
    pub queued: Vec<String>,
    /// Due lists whose previous refresh has not run yet.
    pub already_queued: u32,
}

/// Requests a compile of every list whose refresh is due at `now_ms`, moving its due time on by
/// one interval first (by compare-and-swap: one sweeper wins each due time). Lists deleted or
/// without an interval any more leave the schedule.
pub fn run_due(lists: &Kv, settings: &JobSettings, now_ms: u64) -> Result<RefreshReport, StoreError> {
    let mut report = RefreshReport::default();
    for key in shard_keys() {
        let Some(shard) = lists.get_json::<Shard>(&key)? else { continue };
        report.scheduled += shard.len() as u32;
        for (id, due) in shard.into_iter().filter(|(_, due)| *due <= now_ms) {
            let list = lists.get_json::<ListRecord>(&list_key(&id))?.filter(|l| l.deleted_at.is_none());
            let Some((list, secs)) = list.and_then(|l| l.refresh_interval_secs.map(|s| (l, s))) else {
                remove(lists, &id)?;
                continue;
            };
            let won = lists.update_json(&key, |cur: Option<Shard>| {
                let mut cur = cur.unwrap_or_default();
                match cur.get(&id) {
                    Some(&d) if d == due => {
                        cur.insert(id.clone(), next_due(due, secs.saturating_mul(1000), now_ms));
                        JsonUpdate::Write(cur, true)
                    }
                    _ => JsonUpdate::Keep(false),
                }
            })?;
            if !won {
                continue;
            }
            match job_ledger::request_compile(lists, settings, &list, JobCause::Schedule, 0, now_ms)? {
                Requested::Queued(job) => report.queued.push(job),
                Requested::AlreadyQueued(_) => report.already_queued += 1,
            }
        }
    }
    Ok(report)
}
