//! Retention in key-value: finished jobs kept per list, and the collector that deletes what
//! nothing refers to any more (the rules are in [`blocklist_model::retention`]).
//!
//! The collector runs with the sweeper: each sweep reads one page of the `lists` store's keys
//! from where the last one stopped (`retention/state`), and deletes
//!
//! - finished jobs older than the retention time, or (after the grace) of deleted lists, with
//!   their entries in the indexes;
//! - after their grace, keys nothing refers to: chunks of rules, artifacts and renditions that
//!   no record names, records and keys of lists that are deleted (a delete interrupted by a
//!   crash) or that were never indexed (a create interrupted by a crash), subscriptions and
//!   subscription tokens of such lists, tokens of rotated subscriptions, and indexes of deleted
//!   users.
//!
//! A second walk ([`collect_counters`]) deletes the rate limiter's counters of past windows.

use crate::StoreError;
use crate::kv::{JsonUpdate, Kv};
use crate::ledger::{JobRecord, JobStatus};
use crate::model::*;
pub use blocklist_model::retention::Retention;
use blocklist_model::retention::{Candidates, KeyKind, classify, due_for_deletion, keep_newest};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The collector's state: where the walk is, and the keys it found unreferenced.
const STATE_KEY: &str = "retention/state";

/// Reads the retention settings (`job_retention_per_list`, `job_retention_ms`,
/// `retention_grace_ms`).
pub fn load(values: &crate::config::Values) -> Result<Retention, StoreError> {
    let d = Retention::DEFAULT;
    Ok(Retention {
        jobs_per_list: values.get(blocklist_model::variables::JOB_RETENTION_PER_LIST, d.jobs_per_list)?.max(1),
        job_keep_ms: values.get(blocklist_model::variables::JOB_RETENTION_MS, d.job_keep_ms)?,
        grace_ms: values.get(blocklist_model::variables::RETENTION_GRACE_MS, d.grace_ms)?,
    })
}

/// Adds a finished job to its list's index, and deletes the oldest finished jobs beyond
/// `retention.jobs_per_list`. A job pushed out that is no longer finished (it was replayed) or
/// whose webhook event is still to be delivered is left alone (the collector deletes it later).
pub fn job_finished(lists: &Kv, job: &JobRecord, retention: &Retention) -> Result<(), StoreError> {
    let dropped = lists.update_json(&list_jobs_key(&job.list_id), |ids: Option<Vec<String>>| {
        let (kept, dropped) = keep_newest(ids.unwrap_or_default(), &job.id, retention.jobs_per_list);
        JsonUpdate::Write(kept, dropped)
    })?;
    for id in dropped {
        if let Some(old) = crate::job_ledger::get(lists, &id)?
            && old.status.is_final()
            && !old.delivery_pending()
        {
            delete_job(lists, &old)?;
        }
    }
    Ok(())
}

/// Deletes a finished job: out of the dead-letter list, the record, out of its list's index.
fn delete_job(lists: &Kv, job: &JobRecord) -> Result<(), StoreError> {
    if job.status == JobStatus::Dead {
        lists.remove_from_index(&user_dead_jobs_key(&job.user_id), &job.id)?;
    }
    lists.delete(&job_key(&job.id))?;
    lists.remove_from_index(&list_jobs_key(&job.list_id), &job.id)
}

/// Where the walk is and what it found unreferenced.
#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    cursor: Option<String>,
    candidates: Candidates,
}

/// What one step of the collector did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectReport {
    /// Keys looked at.
    pub examined: u32,
    /// Keys deleted (a job counts once).
    pub deleted: u32,
    /// Keys found unreferenced and waiting out their grace.
    pub waiting: u32,
}

/// One step of the collector: one page of keys.
pub fn collect(lists: &Kv, retention: &Retention, now_ms: u64) -> Result<CollectReport, StoreError> {
    let mut state: State = lists.get_json(STATE_KEY)?.unwrap_or_default();
    let (keys, next) = lists.list_keys(state.cursor.as_deref())?;
    let mut report = CollectReport::default();
    let mut seen = Records::default();
    let mut unreferenced = Candidates::new();
    for key in &keys {
        report.examined += 1;
        match check(lists, &mut seen, key, retention, now_ms)? {
            Verdict::Keep => {}
            Verdict::DeleteJob(job) => {
                delete_job(lists, &job)?;
                report.deleted += 1;
            }
            Verdict::Unreferenced(then) => {
                // The first sighting's time carries over; this page's keys are decided now.
                if let Some(&first) = state.candidates.get(key.as_str()) {
                    unreferenced.insert(key.clone(), first);
                }
                if due_for_deletion(&mut unreferenced, key, now_ms, retention.grace_ms) {
                    then.delete(lists, key)?;
                    unreferenced.remove(key.as_str());
                    report.deleted += 1;
                } else {
                    report.waiting += 1;
                }
            }
        }
    }
    // Candidates of this page are replaced by what this page found; the others stay.
    let page: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
    state.candidates.retain(|k, _| !page.contains(k.as_str()));
    state.candidates.extend(unreferenced);
    state.cursor = next;
    lists.put_json(STATE_KEY, &state)?;
    Ok(report)
}

/// Where the walk over the rate limiter's counters is (in the `lists` store: the limiter's
/// store holds only counters).
const COUNTERS_CURSOR_KEY: &str = "retention/counters-cursor";

/// One step over the rate limiter's store (`default`): one page of keys, deleting counters of
/// windows no check reads any more (those of keys whose requests stopped).
pub fn collect_counters(lists: &Kv, counters: &Kv, now_ms: u64) -> Result<CollectReport, StoreError> {
    let cursor: Option<String> = lists.get_json(COUNTERS_CURSOR_KEY)?.flatten();
    let (keys, next) = counters.list_keys(cursor.as_deref())?;
    let mut report = CollectReport::default();
    for key in keys {
        report.examined += 1;
        if sliding_window::is_retired_counter(&key, now_ms) {
            counters.delete(&key)?;
            report.deleted += 1;
        }
    }
    lists.put_json(COUNTERS_CURSOR_KEY, &next)?;
    Ok(report)
}

/// What to do with a key.
enum Verdict {
    Keep,
    /// A finished job past its retention time.
    DeleteJob(Box<JobRecord>),
    /// Nothing refers to the key: deleted once its grace is over, as this says.
    Unreferenced(Removal),
}

/// How an unreferenced key is deleted.
enum Removal {
    /// Just the key.
    Key,
    /// A list record: out of its owner's index first.
    ListRecord { owner: String, list: String },
    /// A finished job, with its index entries.
    Job(Box<JobRecord>),
}

impl Removal {
    fn delete(&self, lists: &Kv, key: &str) -> Result<(), StoreError> {
        match self {
            Removal::Key => lists.delete(key),
            Removal::ListRecord { owner, list } => {
                lists.remove_from_index(&user_lists_key(owner), list)?;
                lists.delete(key)
            }
            Removal::Job(job) => delete_job(lists, job),
        }
    }
}

/// Writes `value` at `key` unless the key exists. Keys that must exist for compare-and-swap to
/// work under Spin (see [`NO_COMPILE_LOCK`]) are made by their creators; this makes them for
/// records written before that.
pub fn ensure_exists(lists: &Kv, key: &str, value: &[u8]) -> Result<(), StoreError> {
    lists.update(key, |cur| match cur {
        Some(_) => crate::kv::Update::Keep(()),
        None => crate::kv::Update::Write(value.to_vec(), ()),
    })
}

/// Records read during one page, so that a list's hundred chunks cost one read of its record.
#[derive(Default)]
struct Records {
    lists: HashMap<String, Option<ListRecord>>,
    compiled: HashMap<String, Option<CompiledMeta>>,
    sources: HashMap<String, blocklist_model::sources::SourceStates>,
    renditions: HashMap<(String, String), Option<RenditionMeta>>,
    owner_lists: HashMap<String, Vec<String>>,
}

impl Records {
    /// The list's record, unless it is missing or marked deleted.
    fn live_list(&mut self, lists: &Kv, id: &str) -> Result<Option<&ListRecord>, StoreError> {
        if !self.lists.contains_key(id) {
            let record: Option<ListRecord> = lists.get_json(&list_key(id))?;
            self.lists.insert(id.to_owned(), record);
        }
        Ok(self.lists[id].as_ref().filter(|l| l.deleted_at.is_none()))
    }

    fn compiled(&mut self, lists: &Kv, id: &str) -> Result<Option<&CompiledMeta>, StoreError> {
        if !self.compiled.contains_key(id) {
            let meta = lists.get_json(&compiled_key(id))?;
            self.compiled.insert(id.to_owned(), meta);
        }
        Ok(self.compiled[id].as_ref())
    }

    fn sources(&mut self, lists: &Kv, id: &str) -> Result<&blocklist_model::sources::SourceStates, StoreError> {
        if !self.sources.contains_key(id) {
            let states = lists.get_json(&blocklist_model::sources::states_key(id))?.unwrap_or_default();
            self.sources.insert(id.to_owned(), states);
        }
        Ok(&self.sources[id])
    }

    fn rendition(&mut self, lists: &Kv, id: &str, format: &str) -> Result<Option<&RenditionMeta>, StoreError> {
        let k = (id.to_owned(), format.to_owned());
        if !self.renditions.contains_key(&k) {
            let meta = lists.get_json(&rendition_key(id, format))?;
            self.renditions.insert(k.clone(), meta);
        }
        Ok(self.renditions[&k].as_ref())
    }

    fn owner_lists(&mut self, lists: &Kv, owner: &str) -> Result<&[String], StoreError> {
        if !self.owner_lists.contains_key(owner) {
            let ids: Vec<String> = lists.get_json(&user_lists_key(owner))?.unwrap_or_default();
            self.owner_lists.insert(owner.to_owned(), ids);
        }
        Ok(&self.owner_lists[owner])
    }
}

fn check(lists: &Kv, seen: &mut Records, key: &str, retention: &Retention, now_ms: u64) -> Result<Verdict, StoreError> {
    let unreferenced = |yes: bool| if yes { Verdict::Unreferenced(Removal::Key) } else { Verdict::Keep };
    Ok(match classify(key) {
        KeyKind::Kept => Verdict::Keep,
        KeyKind::Job => match lists.get_json::<JobRecord>(key)? {
            Some(job) if job.status.is_final() && !job.delivery_pending() => {
                if now_ms.saturating_sub(job.updated_at_ms) >= retention.job_keep_ms {
                    Verdict::DeleteJob(Box::new(job))
                } else if seen.live_list(lists, &job.list_id)?.is_none() {
                    // Its list is deleted: nothing can replay it or ask for it by list.
                    Verdict::Unreferenced(Removal::Job(Box::new(job)))
                } else {
                    Verdict::Keep
                }
            }
            _ => Verdict::Keep,
        },
        KeyKind::List { list } => {
            // Read afresh: the record decides, not a copy from earlier in the page.
            let Some(record) = lists.get_json::<ListRecord>(key)? else { return Ok(Verdict::Keep) };
            let indexed = seen.owner_lists(lists, &record.owner)?.iter().any(|x| x == list);
            if record.deleted_at.is_some() || !indexed {
                Verdict::Unreferenced(Removal::ListRecord { owner: record.owner, list: list.to_owned() })
            } else {
                // Lists created before their compile lock was made with them get it here.
                ensure_exists(lists, &compile_lock_key(list), NO_COMPILE_LOCK)?;
                // A list whose create or update crashed before it was put on the refresh
                // schedule is put on it here.
                if record.refresh_interval_secs.is_some() && crate::schedule::next_due_of(lists, list)?.is_none() {
                    crate::schedule::apply(lists, &record, None, now_ms)?;
                }
                Verdict::Keep
            }
        }
        KeyKind::User { user } => {
            // Users created before their list index was made with them get it here.
            ensure_exists(lists, &user_lists_key(user), b"[]")?;
            Verdict::Keep
        }
        KeyKind::RulesChunk { list, prefix } => unreferenced(match seen.live_list(lists, list)? {
            None => true,
            Some(l) => {
                let current = l.rules_chunks().is_some_and(|r| r.prefix == prefix);
                let previous = l.previous_rules.as_ref().is_some_and(|r| r.prefix == prefix);
                !current && !previous
            }
        }),
        KeyKind::OfList { list } => unreferenced(seen.live_list(lists, list)?.is_none()),
        KeyKind::OfUser { user } => unreferenced(lists.get(&user_key(user))?.is_none()),
        KeyKind::CompiledChunk { list, etag } => unreferenced(
            seen.live_list(lists, list)?.is_none() || !seen.compiled(lists, list)?.is_some_and(|m| m.keeps(etag)),
        ),
        KeyKind::SourceChunk { list, sha256 } => {
            unreferenced(seen.live_list(lists, list)?.is_none() || !seen.sources(lists, list)?.keeps(sha256))
        }
        KeyKind::RenditionChunk { list, format, build } => unreferenced(
            seen.live_list(lists, list)?.is_none()
                || !seen
                    .rendition(lists, list, format)?
                    .is_some_and(|m| m.build == build || m.previous.as_ref().is_some_and(|p| p.build == build)),
        ),
        KeyKind::Subscription => match lists.get_json::<SubscriptionRecord>(key)? {
            Some(s) => unreferenced(seen.live_list(lists, &s.list_id)?.is_none()),
            None => Verdict::Keep,
        },
        KeyKind::SubscriptionToken { sha256 } => match lists.get_json::<SubscriptionToken>(key)? {
            Some(t) => {
                let subscription: Option<SubscriptionRecord> = lists.get_json(&subscription_key(&t.subscription_id))?;
                let current = subscription.is_some_and(|s| s.token_sha256 == sha256);
                unreferenced(!current || seen.live_list(lists, &t.list_id)?.is_none())
            }
            None => Verdict::Keep,
        },
    })
}
