//! What the platform running the gateway offers, as its shell declares it.

use super::*;

/// Calls the application's own job-runner route (`job_runner = http`): a `POST` of the path and
/// query given, with the bearer secret given; the answer's status and body.
pub type RunnerCall =
    fn(
        String,
        String,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::result::Result<(u16, Vec<u8>), String>>>>;

/// What the platform running the gateway offers beyond the gateway's imports.
#[derive(Clone, Copy)]
pub struct Platform {
    /// The platform's name, in the errors about what it cannot do ("Fastly Compute").
    pub name: &'static str,
    /// Whether the API may change data here. A read-only edge serves a store that is written
    /// (lists changed, compiled, published) by hosts that can compile; it answers every change
    /// with a 501.
    pub writable: bool,
    /// Whether the `blocklist:compiler/compiler` import works here (explain and preview).
    pub compiler: bool,
    /// How to reach the job runner route, where the platform makes outbound requests.
    pub call_runner: Option<RunnerCall>,
}

impl Platform {
    /// Refuses `route` if this platform cannot answer it.
    pub(crate) fn check(&self, route: &Route) -> Result<()> {
        if !self.writable && route.changes_data() {
            return Err(ApiError::new(
                501,
                "read_only",
                format!(
                    "{} serves this API read-only: lists, users, tokens and subscriptions are changed, and lists \
                     compiled, on a blocklist-edge host or on Spin, whose store this edge reads",
                    self.name
                ),
            ));
        }
        if !self.compiler && route.needs_compiler() {
            return Err(ApiError::new(
                501,
                "no_compiler",
                format!(
                    "{} runs no compiler: explain and preview are answered by a blocklist-edge host or Spin",
                    self.name
                ),
            ));
        }
        Ok(())
    }
}
