//! Which hosts components may reach with `wasi:http/outgoing-handler`: none unless allowed
//! (`--allowed-outbound-hosts`), like Spin's `allowed_outbound_hosts`.

use std::sync::Arc;
use wasmtime_wasi_http::{RequestOptions, WasiHttpHooks};

/// An allow-list of `host` or `host:port` entries; `*` allows every host.
#[derive(Clone, Debug, Default)]
pub struct Outbound {
    allowed: Arc<Vec<String>>,
}

impl Outbound {
    /// Parses a comma-separated list.
    pub fn new(list: &str) -> Outbound {
        let allowed = list.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect();
        Outbound { allowed: Arc::new(allowed) }
    }

    /// Every host.
    pub fn any() -> Outbound {
        Outbound { allowed: Arc::new(vec!["*".into()]) }
    }

    /// Whether a request to `host` (and `port`, if given) may go out.
    pub fn allows(&self, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        self.allowed.iter().any(|a| a == "*" || *a == host || port.is_some_and(|p| *a == format!("{host}:{p}")))
    }
}

type Reply = Box<
    dyn std::future::Future<
            Output = Result<
                (
                    http::Response<wasmtime_wasi_http::WasiBody>,
                    Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                ),
                wasmtime_wasi_http::Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for Outbound {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Reply {
        _ = fut;
        let host = request.uri().host().unwrap_or("").to_owned();
        if !self.allows(&host, request.uri().port_u16()) {
            tracing::warn!(%host, "outbound request denied (not in --allowed-outbound-hosts)");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((res.map(BodyExt::boxed_unsync), Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list() {
        let o = Outbound::new("lists.example.org, cdn.example.com:8443");
        assert!(o.allows("lists.example.org", None));
        assert!(o.allows("LISTS.example.org", Some(443)));
        assert!(o.allows("cdn.example.com", Some(8443)));
        assert!(!o.allows("cdn.example.com", Some(443)));
        assert!(!o.allows("evil.example", None));
        assert!(!Outbound::default().allows("a", None));
        assert!(Outbound::any().allows("a", None));
    }
}
