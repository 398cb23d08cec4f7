//! Job events to a list's webhook: `POST` of a JSON body, signed with HMAC-SHA256.
//!
//! Headers: `x-blocklist-edge-event` (`job.done` or `job.dead`), `x-blocklist-edge-delivery`
//! (job id and attempt), and `x-blocklist-edge-signature: sha256=<hex>` — the HMAC-SHA256 of
//! the exact body bytes with the list's webhook secret. Delivery is best-effort and at most once
//! per finished job: a failing receiver is recorded in the job's ledger entry, never fails the
//! compile.

use edge_store::ledger::{JobRecord, Notification};
use edge_store::model::{Webhook, now_ms, now_rfc3339, rfc3339};
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
pub fn body(event: &str, job: &JobRecord, list_name: &str) -> Vec<u8> {
    // A `Value` always prints.
    serde_json::json!({
        "event": event,
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

/// POSTs the event; returns what happened, for the ledger.
pub fn notify(webhook: &Webhook, event: &str, job: &JobRecord, list_name: &str) -> Notification {
    let body = body(event, job, list_name);
    let result = post(
        &webhook.url,
        &body,
        &[
            ("content-type", "application/json".to_owned()),
            ("content-length", body.len().to_string()),
            ("user-agent", concat!("blocklist-edge/", env!("CARGO_PKG_VERSION")).to_owned()),
            ("x-blocklist-edge-event", event.to_owned()),
            ("x-blocklist-edge-delivery", format!("{}.{}", job.id, job.attempts)),
            ("x-blocklist-edge-signature", signature(&webhook.secret, &body)),
        ],
    );
    let (status, error) = match result {
        Ok(s) if (200..300).contains(&s) => (Some(s), None),
        Ok(s) => (Some(s), Some(format!("the receiver answered {s}"))),
        Err(e) => (None, Some(e)),
    };
    if let Some(e) = &error {
        eprintln!("compile: webhook for job {} ({event}): {e}", job.id);
    }
    Notification { event: event.to_owned(), at_ms: now_ms(), status, error }
}

fn post(url: &str, body: &[u8], headers: &[(&str, String)]) -> Result<u16, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid webhook URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("unsupported scheme {:?}", parsed.scheme()));
    }
    let mut request = wstd::http::Request::post(parsed.as_str());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request.body(body.to_vec()).map_err(|e| format!("webhook request: {e}"))?;
    let mut client = wstd::http::Client::new();
    client.set_connect_timeout(TIMEOUT);
    client.set_first_byte_timeout(TIMEOUT);
    client.set_between_bytes_timeout(TIMEOUT);
    wstd::runtime::block_on(async {
        let response = client.send(request).await.map_err(|e| format!("{e:#}"))?;
        Ok(response.status().as_u16())
    })
}
