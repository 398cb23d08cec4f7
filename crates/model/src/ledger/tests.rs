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
