//! The HostlistCompiler configuration file, checked like the reference's JSON schema and
//! cross-checks, with errors that name the problem: the `hostlist-config` crate's, here at
//! their usual paths (that crate keeps them apart from the compiler, for the gateway).

pub use hostlist_config::{ConfigError, Configuration, Filters, Source};
