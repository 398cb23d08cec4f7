//! The leases a running delivery keeps alive: its message's in the queue, and its compile
//! job's claim in the ledger ([`Trigger::with_ledger`]); and the claim handed back on a drain.

use super::*;

impl Trigger {
    /// Ends the ledger claim of the job `msg` delivers, if it is still running (see
    /// [`JobRecord::released`]); on the blocking pool (a compare-and-swap in SQLite).
    pub(super) async fn release_claim(&self, msg: &jobqueue::Message) {
        if let (Some((ledger, _)), Some(job)) = (self.ledger.clone(), compile_job_of(&msg.payload)) {
            let key = job_key(&job);
            let released =
                tokio::task::spawn_blocking(move || ledger.update_json(&key, |j: JobRecord| j.released(now_ms())))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
            if let Err(e) = released {
                tracing::warn!(%job, error = %e, "could not release a job's claim");
            }
        }
    }

    /// Renews `msg`'s lease every third of the lease until aborted (or the lease is lost),
    /// and the ledger claim of its job (see [`Trigger::with_ledger`]).
    pub(super) async fn renew(self: Arc<Self>, worker: usize, msg: jobqueue::Message) {
        // Both renewals stop when this task is aborted (the delivery ended).
        let claim = async {
            if let (Some((ledger, lease)), Some(job)) = (self.ledger.clone(), compile_job_of(&msg.payload)) {
                renew_claim(ledger, lease, job).await;
            }
        };
        tokio::join!(claim, self.renew_message(worker, &msg));
    }

    /// Renews `msg`'s lease in the queue every third of the lease until the lease is lost.
    async fn renew_message(&self, worker: usize, msg: &jobqueue::Message) {
        let lease_ms = self.config.lease.as_millis() as u64;
        loop {
            tokio::time::sleep(self.config.lease / 3).await;
            let (queue, m) = (self.queue.clone(), msg.clone());
            match tokio::task::spawn_blocking(move || queue.backend.extend(&m, now_ms(), lease_ms)).await {
                Ok(Ok(true)) => {}
                Ok(Ok(false)) => {
                    tracing::warn!(worker, msg = %msg.job_id, "lease lost while the message was being handled");
                    return;
                }
                // The next renewal may get through; if none does, the message is delivered again.
                Ok(Err(e)) => tracing::warn!(worker, msg = %msg.job_id, error = %e, "could not renew a lease"),
                Err(e) => tracing::warn!(worker, error = %e, "lease renewal task failed"),
            }
        }
    }
}

/// The job a queue message asks to compile, if it is a compile message.
fn compile_job_of(payload: &[u8]) -> Option<String> {
    match serde_json::from_slice(payload).ok()? {
        Message::Compile { job_id } => Some(job_id),
        Message::Deliver { .. } | Message::Sweep => None,
    }
}

/// Keeps job `job`'s ledger claim `lease` ahead of now, renewing every third of it, until the
/// job is no longer running (or the task is dropped with the runtime). The claim the guest
/// takes is renewed from the first renewal on; a guest that finishes ends the claim, and the
/// next renewal finds nothing to do and stops.
async fn renew_claim(ledger: Bucket, lease: Duration, job: String) {
    let key = job_key(&job);
    let lease_ms = lease.as_millis() as u64;
    let mut seen_running = false;
    loop {
        tokio::time::sleep(lease / 3).await;
        let (l, k) = (ledger.clone(), key.clone());
        let now = now_ms();
        let renewed = tokio::task::spawn_blocking(move || {
            let running = std::cell::Cell::new(false);
            let wrote = l.update_json(&k, |j: JobRecord| {
                running.set(j.status == blocklist_model::ledger::JobStatus::Running);
                j.renewed(now, lease_ms)
            });
            wrote.map(|_| running.get())
        })
        .await;
        match renewed {
            Ok(Ok(true)) => seen_running = true,
            // Not (or no longer) running: finished, or not yet claimed.
            Ok(Ok(false)) if seen_running => return,
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(%job, error = %e, "could not renew a job's claim"),
            Err(e) => tracing::warn!(%job, error = %e, "claim renewal task failed"),
        }
    }
}
