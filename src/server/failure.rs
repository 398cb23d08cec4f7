//! The host's own answers, for requests the component could not answer: why ([`Failure`]), and
//! the JSON error response.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::{PoolConcurrencyLimitError, Trap};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The `Retry-After` (seconds) of a 503 answered because every instance is taken.
pub const RETRY_AFTER_SECS: u32 = 1;

/// Why the host answers instead of the component.
#[derive(Debug)]
pub(super) enum Failure {
    /// The guest ran past its CPU or wall-clock deadline.
    Deadline,
    /// The guest trapped (a bug, an exhausted memory cap).
    Trap(String),
    /// No instance to run the request in: every place, or the pool, is taken (503 with
    /// `Retry-After`).
    Busy(String),
    Unavailable(String),
    Internal(String),
}

impl Failure {
    /// What a failed instantiation or call of the guest means for the client: the pool out of
    /// slots is the server's capacity (503), an interrupt is the deadline (503), any other
    /// trap is the component's failure (500).
    pub(super) fn from_guest_error(e: wasmtime::Error) -> Failure {
        if let Some(limit) = e.downcast_ref::<PoolConcurrencyLimitError>() {
            // The places (`--max-instances`) should run out first: a store took more of the
            // pool than `per_request` allows for.
            tracing::warn!(%limit, "the instance pool is exhausted");
            return Failure::Busy("the server is at capacity; try again shortly".into());
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => Failure::Deadline,
            Some(t) => Failure::Trap(t.to_string()),
            None => Failure::Trap(format!("{e:#}")),
        }
    }

    pub(super) fn into_response(self) -> hyper::Response<HyperOutgoingBody> {
        let retry_after = matches!(self, Failure::Busy(_));
        let (status, code, message) = match self {
            Failure::Deadline => {
                (503, "deadline_exceeded", "the request ran past its deadline and was stopped".to_string())
            }
            Failure::Trap(detail) => {
                tracing::error!(%detail, "guest trapped");
                (500, "guest_trap", "the request failed inside the component".to_string())
            }
            Failure::Busy(m) | Failure::Unavailable(m) => (503, "unavailable", m),
            Failure::Internal(detail) => {
                tracing::error!(%detail, "host error");
                (500, "internal", "internal error".to_string())
            }
        };
        let mut response = json_response(status, code, &message);
        if retry_after {
            response.headers_mut().insert(hyper::header::RETRY_AFTER, RETRY_AFTER_SECS.into());
        }
        response
    }
}

/// A JSON error response answered by the host.
pub(super) fn json_response(status: u16, code: &str, message: &str) -> hyper::Response<HyperOutgoingBody> {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-content-type-options", "nosniff")
        .body(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed_unsync())
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::component::Linker;
    use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

    #[test]
    fn an_exhausted_pool_is_busy_and_a_trap_is_not() {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(1);
        let mut config = Config::new();
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).unwrap();
        // The empty component: magic, version 0x0d, layer 1.
        let component = wasmtime::component::Component::new(&engine, b"\0asm\x0d\0\x01\0").unwrap();
        let linker = Linker::<()>::new(&engine);
        let mut first = Store::new(&engine, ());
        linker.instantiate(&mut first, &component).unwrap();
        let mut second = Store::new(&engine, ());
        let e = linker.instantiate(&mut second, &component).map(|_| ()).unwrap_err();
        let failure = Failure::from_guest_error(e);
        assert!(matches!(failure, Failure::Busy(_)), "{failure:?}");
        let response = failure.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[hyper::header::RETRY_AFTER], RETRY_AFTER_SECS.to_string().as_str());

        assert!(matches!(Failure::from_guest_error(Trap::UnreachableCodeReached.into()), Failure::Trap(_)));
        assert!(matches!(Failure::from_guest_error(Trap::Interrupt.into()), Failure::Deadline));
        let trap = Failure::from_guest_error(Trap::UnreachableCodeReached.into()).into_response();
        assert_eq!(trap.status(), 500);
        assert!(!trap.headers().contains_key(hyper::header::RETRY_AFTER));
    }
}
