//! `GET /metrics`, answered by the host itself (admin token required): the host's metrics
//! ([`crate::metrics`]) with the job queue's depth, the instances in use and the edge cache's counts.

use super::Server;
use super::failure::json_response;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

impl Server {
    /// The requests alive and their limit.
    fn instances_in_use(&self) -> crate::metrics::Instances {
        let max = self.limits.max_instances;
        crate::metrics::Instances { live: max.saturating_sub(self.instances.available_permits()), max }
    }

    /// The metrics for the admin token as a bearer token (else 401), to `GET` (else 405).
    pub(super) async fn metrics_response(
        &self,
        req: &hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<HyperOutgoingBody> {
        let token = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let hash = token.map(|t| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(t.as_bytes())));
        let allowed = match (&self.metrics_token_sha256, &hash) {
            (Some(want), Some(got)) => bool::from(subtle::ConstantTimeEq::ct_eq(want.as_bytes(), got.as_bytes())),
            _ => false,
        };
        if !allowed {
            return json_response(401, "unauthorized", "GET /metrics needs the admin token as a bearer token");
        }
        if req.method() != hyper::Method::GET {
            return json_response(405, "method_not_allowed", "method not allowed here; allowed: GET");
        }
        let depth = match &self.queue {
            Some(q) => {
                let q = q.clone();
                tokio::task::spawn_blocking(move || q.depth().ok()).await.ok().flatten()
            }
            None => None,
        };
        hyper::Response::builder()
            .status(200)
            .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
            .body(
                Full::new(Bytes::from(self.metrics.render(
                    depth,
                    self.instances_in_use(),
                    self.cache.as_ref().map(|c| c.stats()),
                )))
                .map_err(|never| match never {})
                .boxed_unsync(),
            )
            .expect("static response parts are valid")
    }
}
