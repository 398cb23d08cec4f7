//! A HostlistCompiler-compatible blocklist compiler.
//!
//! Given the same configuration and sources, [`compile()`] produces the same list as AdGuard's
//! HostlistCompiler 2.1.1 (`@adguard/hostlist-compiler`), apart from the `! Last modified:` and
//! `! Compiled by` header lines: the same 13 transformations in the same fixed order, the same
//! exclusions and inclusions, the same source directives, the same header. Sources are read
//! through [`Fetch`] (`download::read_file_lines` helps implementations that have files).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compile;
pub mod config;
pub mod download;
pub mod explain;
pub mod ip;
pub mod js;
pub mod rule;
pub mod tld;
pub mod transform;
pub mod validate;
pub mod wildcard;

pub use compile::{CompileError, Stamp, compile};
pub use config::{ConfigError, Configuration, Source};
pub use download::{DownloadError, Fetch};
pub use transform::Transformation;
