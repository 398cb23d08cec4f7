//! Job events to a list's webhook: `POST` of a JSON body, signed with HMAC-SHA256, delivered
//! at least once from the job's outbox (`ledger::outbox`).
//!
//! Headers: `x-blocklist-edge-event` (`job.done` or `job.dead`), `x-blocklist-edge-delivery`
//! (the delivery id, `{job id}.{event}.{replays}`: the same on every attempt of one event, so
//! that a receiver drops the duplicates an at-least-once delivery may bring),
//! `x-blocklist-edge-delivery-attempt` (1, 2, …), and `x-blocklist-edge-signature:
//! sha256=<hex>` — the HMAC-SHA256 of the exact body bytes with the list's webhook secret.
//!
//! The URL and the secret are the list's when the attempt is made (a secret rotated meanwhile
//! signs the next attempt); a list deleted, or whose webhook was removed, is not called, and the
//! delivery fails at once. An attempt that gets no 2xx is retried with backoff (410 Gone is not
//! retried), up to `webhook_max_attempts`; a failing receiver never fails the compile.

use edge_store::StoreError;
use edge_store::job_ledger::{self, JobSettings};
use edge_store::kv::Kv;
use edge_store::ledger::{DeliveryClaim, DeliveryOutcome, DeliveryState, JobRecord};
use edge_store::model::{Webhook, live_list, now_ms, now_rfc3339, rfc3339};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Time the receiver may take to accept the connection, to start answering, and between bytes.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The signature header's value for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The event's JSON body.
pub fn body(event: &str, delivery_id: &str, job: &JobRecord, list_name: &str) -> Vec<u8> {
    // A `Value` always prints.
    serde_json::json!({
        "event": event,
        "deliveryId": delivery_id,
        "sentAt": now_rfc3339(),
        "job": {
            "id": job.id,
            "listId": job.list_id,
            "listRevision": job.list_revision,
            "status": job.status,
            "attempts": job.attempts,
            "lastError": job.last_error,
            "requestedAt": rfc3339(job.requested_at_ms),
            "finishedAt": rfc3339(job.updated_at_ms),
            "artifact": job.artifact,
        },
        "list": {"id": job.list_id, "name": list_name},
    })
    .to_string()
    .into_bytes()
}

/// Attempts job `job_id`'s pending webhook delivery, if it is due and no other consumer holds
/// its attempt: claims the attempt (a lease on the job record), POSTs, records the outcome.
/// Errors are the store's only; the outcome of the attempt is in the ledger.
pub fn deliver(lists: &Kv, settings: &JobSettings, job_id: &str) -> Result<(), StoreError> {
    let token = hex::encode(edge_store::wasi::random::random::get_random_bytes(16));
    let policy = &settings.delivery;
    let claimed = job_ledger::update(lists, job_id, |j| match j.claim_delivery(now_ms(), &token, policy) {
        DeliveryClaim::Claimed(next) | DeliveryClaim::Expired(next) => Some(next),
        DeliveryClaim::Skip => None,
    })?;
    let Some(job) = claimed else { return Ok(()) };
    let Some(n) = job.notification.clone() else { return Ok(()) };
    if !job.holds_delivery(&token) {
        // The last attempt's claim ran out: the delivery failed for good.
        eprintln!("compile: webhook for job {job_id}: {}", n.error.as_deref().unwrap_or("failed"));
        return job_ledger::delivery_settled(lists, &job);
    }
    let outcome = match live_list(lists, &job.list_id) {
        Ok(Some(list)) if list.owner == job.user_id => match &list.webhook {
            Some(webhook) => attempt(webhook, &n.event, &n.delivery_id, n.attempts, &job, &list.name),
            None => DeliveryOutcome::abandoned(format!("list {} no longer has a webhook", job.list_id)),
        },
        Ok(_) => DeliveryOutcome::abandoned(format!("list {} was deleted", job.list_id)),
        Err(e) => DeliveryOutcome::unanswered(format!("reading list {}: {e}", job.list_id)),
    };
    if let Some(e) = &outcome.error {
        eprintln!("compile: webhook for job {job_id} ({}, attempt {}): {e}", n.delivery_id, n.attempts);
    }
    let recorded = job_ledger::update(lists, job_id, |j| j.delivery_attempted(&token, now_ms(), &outcome, policy))?;
    match recorded {
        Some(j) if j.notification.as_ref().is_some_and(|n| n.state != DeliveryState::Pending) => {
            job_ledger::delivery_settled(lists, &j)
        }
        Some(_) => Ok(()),
        None => {
            eprintln!("compile: webhook for job {job_id}: the attempt's claim ran out before its outcome was recorded");
            Ok(())
        }
    }
}

/// POSTs the event once.
fn attempt(
    webhook: &Webhook,
    event: &str,
    delivery_id: &str,
    attempt: u32,
    job: &JobRecord,
    list_name: &str,
) -> DeliveryOutcome {
    let body = body(event, delivery_id, job, list_name);
    let result = post(
        &webhook.url,
        &body,
        &[
            ("content-type", "application/json".to_owned()),
            ("content-length", body.len().to_string()),
            ("user-agent", concat!("blocklist-edge/", env!("CARGO_PKG_VERSION")).to_owned()),
            ("x-blocklist-edge-event", event.to_owned()),
            ("x-blocklist-edge-delivery", delivery_id.to_owned()),
            ("x-blocklist-edge-delivery-attempt", attempt.to_string()),
            ("x-blocklist-edge-signature", signature(&webhook.secret, &body)),
        ],
    );
    match result {
        Ok(status) => DeliveryOutcome::answered(status),
        Err(Post::Invalid(e)) => DeliveryOutcome::abandoned(e),
        Err(Post::Failed(e)) => DeliveryOutcome::unanswered(e),
    }
}

/// Why a POST got no answer.
enum Post {
    /// The URL cannot be requested: no attempt will do better.
    Invalid(String),
    /// The request failed (connection, timeout, refused destination…).
    Failed(String),
}

fn post(url: &str, body: &[u8], headers: &[(&str, String)]) -> Result<u16, Post> {
    let parsed = url::Url::parse(url).map_err(|e| Post::Invalid(format!("invalid webhook URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Post::Invalid(format!("unsupported scheme {:?}", parsed.scheme())));
    }
    let mut request = wstd::http::Request::post(parsed.as_str());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(body.to_vec()).map_err(|e| Post::Invalid(format!("webhook request: {e}")))?;
    let mut client = wstd::http::Client::new();
    client.set_connect_timeout(TIMEOUT);
    client.set_first_byte_timeout(TIMEOUT);
    client.set_between_bytes_timeout(TIMEOUT);
    wstd::runtime::block_on(async {
        let response = client.send(request).await.map_err(|e| Post::Failed(format!("{e:#}")))?;
        Ok(response.status().as_u16())
    })
}
