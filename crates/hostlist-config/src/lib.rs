//! The HostlistCompiler configuration file: its model ([`Configuration`], [`Source`],
//! [`Filters`], [`Transformation`]), its parsing and its checks ([`ConfigError`]), as AdGuard's
//! HostlistCompiler 2.1.1 checks it (its JSON schema, then the rules between properties).
//!
//! The `hostlist` compiler re-exports these at `hostlist::config` and
//! `hostlist::transform::Transformation`; this crate holds them apart so that a program that
//! only reads or vets a configuration (the gateway) does not carry the compiler's weight.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod configuration;
mod transformation;

pub use configuration::{ConfigError, Configuration, Filters, Source};
pub use transformation::Transformation;
