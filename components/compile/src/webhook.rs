//! Job events to a list's webhook: `POST` of a JSON body, signed with HMAC-SHA256.
//!
//! Headers: `x-blocklist-edge-event` (`job.done` or `job.dead`), `x-blocklist-edge-delivery`
//! (job id and attempt), and `x-blocklist-edge-signature: sha256=<hex>` — the HMAC-SHA256 of
//! the exact body bytes with the list's webhook secret. Delivery is best-effort and at most once
//! per finished job: a failing receiver is recorded in the job's ledger entry, never fails the
//! compile.

use crate::wasi::http::outgoing_handler;
use crate::wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};
use edge_store::ledger::{JobRecord, Notification};
use edge_store::model::{Webhook, now_ms, now_rfc3339, rfc3339};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a receiver gets to connect and to answer (ns).
const TIMEOUT_NS: u64 = 10_000_000_000;

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
    let scheme = match parsed.scheme() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => return Err(format!("unsupported scheme {other:?}")),
    };
    let host = parsed.host_str().ok_or("the webhook URL has no host")?;
    let authority = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let path = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let fields: Vec<(String, Vec<u8>)> =
        headers.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into_bytes())).collect();
    let fields = Fields::from_list(&fields).map_err(|e| format!("webhook headers: {e:?}"))?;
    let req = OutgoingRequest::new(fields);
    req.set_method(&Method::Post).map_err(|()| "method")?;
    req.set_scheme(Some(&scheme)).map_err(|()| "scheme")?;
    req.set_authority(Some(&authority)).map_err(|()| "authority")?;
    req.set_path_with_query(Some(&path)).map_err(|()| "path")?;
    let out = req.body().map_err(|()| "request body")?;
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(TIMEOUT_NS));
    let _ = options.set_first_byte_timeout(Some(TIMEOUT_NS));
    let _ = options.set_between_bytes_timeout(Some(TIMEOUT_NS));
    let pending = outgoing_handler::handle(req, Some(options)).map_err(|e| format!("{e:?}"))?;
    {
        let stream = out.write().map_err(|()| "request body stream")?;
        for piece in body.chunks(4096) {
            stream.blocking_write_and_flush(piece).map_err(|e| format!("sending the body: {e:?}"))?;
        }
    }
    OutgoingBody::finish(out, None).map_err(|e| format!("finishing the body: {e:?}"))?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(Ok(resp))) => Ok(resp.status()),
        Some(Ok(Err(e))) => Err(format!("{e:?}")),
        _ => Err("no response".into()),
    }
}
