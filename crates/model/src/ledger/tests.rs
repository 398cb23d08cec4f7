//! The ledger's state machine, step by step.

use super::*;

const P: Policy = Policy { max_attempts: 3, base_backoff_ms: 100, max_backoff_ms: 10_000, lease_ms: 1_000 };

fn job() -> JobRecord {
    JobRecord::new("j_1", "l_1", "u_1", 1, 0, &P)
}

#[test]
fn status_names_are_the_serialized_ones() {
    use JobStatus::*;
    for s in [Queued, Running, Done, Failed, Dead] {
        assert_eq!(serde_json::to_value(s).unwrap(), s.name());
    }
}

fn claimed(c: Claim) -> JobRecord {
    match c {
        Claim::Claimed(j) => j,
        other => panic!("expected a claim, got {other:?}"),
    }
}

fn art() -> Artifact {
    Artifact { etag: "e".into(), length: 1, rules: 1 }
}

#[test]
fn claim_then_succeed() {
    let j = claimed(job().claim(10, "t1", &P));
    assert_eq!((j.status, j.attempts, j.lease_until_ms), (JobStatus::Running, 1, Some(1_010)));
    assert_eq!(j.claim(20, "t2", &P), Claim::Skip(Skip::Leased { until_ms: 1_010 }), "a duplicate waits");
    assert_eq!(j.succeed("t2", 30, art()), None, "only the lease holder finishes");
    let d = j.succeed("t1", 30, art()).unwrap();
    assert_eq!((d.status, d.lease_token.as_deref()), (JobStatus::Done, None));
    assert_eq!(d.history, vec![Attempt { attempt: 1, started_at_ms: 10, ended_at_ms: Some(30), error: None }]);
    assert_eq!(d.claim(40, "t3", &P), Claim::Skip(Skip::Final(JobStatus::Done)), "a late message does nothing");
}

#[test]
fn failures_back_off_then_die_and_replay() {
    let mut j = job();
    let mut now = 0;
    let mut delays = Vec::new();
    for n in 1..=3 {
        let c = claimed(j.claim(now, &format!("t{n}"), &P));
        j = c.fail(&format!("t{n}"), now + 5, "boom", &P).unwrap();
        if let Some(at) = j.next_attempt_at_ms {
            assert!(!j.sweep_due(at - 1, 0), "not due before its backoff");
            assert!(j.sweep_due(at, 0));
            delays.push(at - (now + 5));
            now = at;
        }
    }
    assert_eq!(delays, vec![100, 200], "growing delays");
    assert_eq!((j.status, j.attempts, j.last_error.as_deref()), (JobStatus::Dead, 3, Some("boom")));
    assert!(!j.sweep_due(u64::MAX, 0), "the dead are left alone");
    assert_eq!(j.history.len(), 3);
    let r = j.replay(1_000, &P).unwrap();
    assert_eq!((r.status, r.attempts, r.replays), (JobStatus::Queued, 0, 1));
    assert_eq!(claimed(r.claim(1_000, "t4", &P)).attempts, 1);
    assert_eq!(job().replay(0, &P), None, "only dead jobs are replayed");
}

#[test]
fn a_failed_job_is_not_claimed_before_its_backoff() {
    let j = claimed(job().claim(0, "t1", &P)).fail("t1", 5, "transient", &P).unwrap();
    assert_eq!((j.status, j.next_attempt_at_ms), (JobStatus::Failed, Some(105)));
    // Duplicate deliveries before the next attempt is due (every Spin instance gets every
    // message) do nothing: the attempts are not burnt in a burst.
    for now in [5, 50, 104] {
        assert_eq!(j.claim(now, "t2", &P), Claim::Skip(Skip::NotDue { at_ms: 105 }), "at {now}");
    }
    let next = claimed(j.claim(105, "t2", &P));
    assert_eq!((next.status, next.attempts, next.next_attempt_at_ms), (JobStatus::Running, 2, None));
}

#[test]
fn an_expired_lease_is_reclaimed_and_the_old_holder_cannot_finish() {
    let first = claimed(job().claim(0, "t1", &P));
    assert!(first.sweep_due(1_000, 60_000), "a run-out lease is swept whatever requeue_after is");
    let second = claimed(first.claim(1_000, "t2", &P));
    assert_eq!(second.attempts, 2);
    assert!(second.history[0].error.as_deref().unwrap().contains("did not finish"));
    assert_eq!(second.fail("t1", 1_001, "late", &P), None);
    assert_eq!(second.succeed("t1", 1_001, art()), None);
    assert!(second.succeed("t2", 1_002, art()).is_some());
}

#[test]
fn a_lease_run_out_on_the_last_attempt_is_death() {
    let mut j = job();
    for n in 1..=3 {
        j = claimed(j.claim(n * 10_000, &format!("t{n}"), &P));
    }
    match j.claim(40_000, "t4", &P) {
        Claim::Expired(d) => assert_eq!((d.status, d.attempts), (JobStatus::Dead, 3)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn queued_jobs_are_requeued_only_after_a_while() {
    let j = job();
    assert!(!j.sweep_due(29_999, 30_000));
    assert!(j.sweep_due(30_000, 30_000));
    assert!(!j.enqueued(30_000).sweep_due(59_999, 30_000));
    let failed = claimed(j.claim(0, "t", &P)).fail("t", 0, "x", &P).unwrap();
    assert!(failed.sweep_due(100, 30_000), "due once its retry is");
    assert!(!failed.enqueued(100).sweep_due(200, 30_000), "then not again at once");
    assert!(failed.enqueued(100).sweep_due(30_100, 30_000));
}

#[test]
fn abandon_is_immediate_death() {
    let j = claimed(job().claim(0, "t1", &P));
    let d = j.abandon("t1", 5, "list deleted").unwrap();
    assert_eq!((d.status, d.attempts), (JobStatus::Dead, 1));
}

#[test]
fn backoff_is_capped() {
    assert_eq!(P.backoff_ms(1), 100);
    assert_eq!(P.backoff_ms(60), 10_000);
}

// The webhook outbox.

const D: DeliveryPolicy =
    DeliveryPolicy { max_attempts: 3, base_backoff_ms: 100, max_backoff_ms: 150, lease_ms: 1_000 };

fn done() -> JobRecord {
    claimed(job().claim(0, "t1", &P)).succeed("t1", 10, art()).unwrap()
}

fn delivery_claimed(c: DeliveryClaim) -> JobRecord {
    match c {
        DeliveryClaim::Claimed(j) => j,
        other => panic!("expected a delivery claim, got {other:?}"),
    }
}

fn state(j: &JobRecord) -> (DeliveryState, u32, Option<u64>) {
    let n = j.notification.as_ref().unwrap();
    (n.state, n.attempts, n.next_attempt_at_ms)
}

#[test]
fn a_final_transition_writes_a_pending_event_with_a_stable_id() {
    assert_eq!(job().with_delivery(0, &D).notification, None, "only a finished job announces an event");
    let j = done().with_delivery(10, &D);
    let n = j.notification.clone().unwrap();
    assert_eq!((n.event.as_str(), n.delivery_id.as_str()), ("job.done", "j_1.job.done.0"));
    assert_eq!((n.state, n.attempts, n.max_attempts, n.next_attempt_at_ms), (DeliveryState::Pending, 0, 3, Some(10)));
    assert!(j.delivery_pending());
    assert!(!done().delivery_pending(), "no webhook, nothing pending");
    // The same transition applied again (a compare-and-swap retried) keeps the entry.
    let attempted = delivery_claimed(j.claim_delivery(10, "d1", &D));
    assert_eq!(attempted.clone().with_delivery(20, &D), attempted);
}

#[test]
fn failed_attempts_back_off_and_keep_the_delivery_id_then_deliver() {
    let mut j = done().with_delivery(10, &D);
    let id = j.notification.as_ref().unwrap().delivery_id.clone();
    let mut now = 10;
    let mut delays = Vec::new();
    for n in 1..=2 {
        j = delivery_claimed(j.claim_delivery(now, &format!("d{n}"), &D));
        assert_eq!(j.claim_delivery(now, "other", &D), DeliveryClaim::Skip, "a claimed attempt is not sent twice");
        assert!(!j.delivery_due(now + 999, 0), "not swept while its lease runs");
        let failed = DeliveryOutcome::answered(500);
        assert_eq!(j.delivery_attempted("other", now + 1, &failed, &D), None, "only the lease holder records");
        j = j.delivery_attempted(&format!("d{n}"), now + 1, &failed, &D).unwrap();
        let at = j.notification.as_ref().unwrap().next_attempt_at_ms.unwrap();
        assert_eq!(j.claim_delivery(at - 1, "early", &D), DeliveryClaim::Skip, "not before its backoff");
        assert!(!j.delivery_due(at - 1, 0) && j.delivery_due(at, 0));
        delays.push(at - (now + 1));
        now = at;
    }
    assert_eq!(delays, vec![100, 150], "doubling, capped");
    j = delivery_claimed(j.claim_delivery(now, "d3", &D));
    j = j.delivery_attempted("d3", now + 1, &DeliveryOutcome::answered(204), &D).unwrap();
    let n = j.notification.as_ref().unwrap();
    assert_eq!((n.state, n.attempts, n.status, n.error.as_deref()), (DeliveryState::Delivered, 3, Some(204), None));
    assert_eq!(n.delivery_id, id, "every attempt carries the same id");
    assert!(!j.delivery_pending() && !j.delivery_due(u64::MAX, 0));
    assert_eq!(j.status, JobStatus::Done, "the job itself is untouched");
}

#[test]
fn the_last_failed_attempt_fails_the_delivery_for_good() {
    let mut j = done().with_delivery(0, &D);
    for n in 1..=3 {
        let at = j.notification.as_ref().unwrap().next_attempt_at_ms.unwrap();
        j = delivery_claimed(j.claim_delivery(at, "d", &D));
        j = j.delivery_attempted("d", at, &DeliveryOutcome::unanswered("connection refused"), &D).unwrap();
        assert_eq!(state(&j).1, n);
    }
    assert_eq!(state(&j), (DeliveryState::Failed, 3, None));
    assert_eq!(j.notification.as_ref().unwrap().error.as_deref(), Some("connection refused"));
    assert_eq!(j.claim_delivery(u64::MAX, "d", &D), DeliveryClaim::Skip);
    assert_eq!((j.status, j.delivery_pending()), (JobStatus::Done, false));
}

#[test]
fn gone_and_abandoned_deliveries_are_not_retried() {
    let j = delivery_claimed(done().with_delivery(0, &D).claim_delivery(0, "d", &D));
    let gone = j.delivery_attempted("d", 1, &DeliveryOutcome::answered(410), &D).unwrap();
    assert_eq!(state(&gone), (DeliveryState::Failed, 1, None));
    let abandoned = j.delivery_attempted("d", 1, &DeliveryOutcome::abandoned("list deleted"), &D).unwrap();
    assert_eq!(state(&abandoned), (DeliveryState::Failed, 1, None));
    let retried = j.delivery_attempted("d", 1, &DeliveryOutcome::answered(404), &D).unwrap();
    assert_eq!(state(&retried), (DeliveryState::Pending, 1, Some(101)), "other 4xx are retried");
}

#[test]
fn an_attempt_whose_lease_ran_out_is_claimed_again_or_fails_on_the_last() {
    let j = delivery_claimed(done().with_delivery(0, &D).claim_delivery(0, "d1", &D));
    assert!(j.delivery_due(1_000, 60_000), "swept once its lease ran out");
    let again = delivery_claimed(j.claim_delivery(1_000, "d2", &D));
    assert_eq!(state(&again).1, 2);
    assert!(again.notification.as_ref().unwrap().error.as_deref().unwrap().contains("did not finish"));
    assert_eq!(again.delivery_attempted("d1", 1_001, &DeliveryOutcome::answered(200), &D), None, "too late");
    let mut last = again;
    last = delivery_claimed(last.claim_delivery(2_000, "d3", &D));
    match last.claim_delivery(3_000, "d4", &D) {
        DeliveryClaim::Expired(f) => assert_eq!(state(&f), (DeliveryState::Failed, 3, None)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_sweeper_publishes_a_due_delivery_once_then_after_requeue_after() {
    let j = done().with_delivery(100, &D);
    assert!(!j.delivery_due(99, 30_000) && j.delivery_due(100, 30_000));
    let e = j.delivery_enqueued(100);
    assert!(!e.delivery_due(200, 30_000), "not again at once");
    assert!(e.delivery_due(30_100, 30_000), "again if nothing claimed it");
}

#[test]
fn a_replayed_job_announces_a_new_event() {
    let mut dead = claimed(job().claim(0, "t1", &P)).abandon("t1", 5, "x").unwrap().with_delivery(5, &D);
    assert_eq!(dead.notification.as_ref().unwrap().delivery_id, "j_1.job.dead.0");
    dead = delivery_claimed(dead.claim_delivery(5, "d", &D));
    dead = dead.delivery_attempted("d", 6, &DeliveryOutcome::answered(200), &D).unwrap();
    let replayed = dead.replay(10, &P).unwrap();
    assert_eq!(replayed.clone().with_delivery(10, &D), replayed, "a queued job announces nothing");
    let done = claimed(replayed.claim(10, "t2", &P)).succeed("t2", 20, art()).unwrap().with_delivery(20, &D);
    let n = done.notification.as_ref().unwrap();
    assert_eq!((n.delivery_id.as_str(), n.state, n.attempts), ("j_1.job.done.1", DeliveryState::Pending, 0));
}

#[test]
fn records_from_before_the_outbox_read_as_settled() {
    let old = |status: Option<u16>| {
        let mut v = serde_json::to_value(done()).unwrap();
        v["notification"] = serde_json::json!({"event": "job.done", "atMs": 5, "status": status, "error": null});
        serde_json::from_value::<JobRecord>(v).unwrap()
    };
    assert_eq!(state(&old(Some(204))), (DeliveryState::Delivered, 1, None));
    assert_eq!(state(&old(Some(503))), (DeliveryState::Failed, 1, None));
    assert_eq!(state(&old(None)), (DeliveryState::Failed, 1, None));
    assert!(!old(None).delivery_pending());
    // And a new record reads back as written.
    let j = done().with_delivery(10, &D);
    assert_eq!(serde_json::from_value::<JobRecord>(serde_json::to_value(&j).unwrap()).unwrap(), j);
}

#[test]
fn deliver_message_format() {
    let m = Message::Deliver { job_id: "j_1".into() };
    assert_eq!(serde_json::to_string(&m).unwrap(), r#"{"type":"deliver","jobId":"j_1"}"#);
}
