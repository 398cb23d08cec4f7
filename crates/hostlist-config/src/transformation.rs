//! The 13 transformations a configuration may name (what each does is the compiler's, in
//! `hostlist::transform`).

use serde::{Deserialize, Serialize};

/// A transformation, by its configuration name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Transformation {
    /// Drops comment lines (`! …`, `# …`).
    RemoveComments,
    /// Turns hosts-file and bare-domain lines into `||domain^` rules, and drops the rules a
    /// parent domain's rule covers.
    Compress,
    /// Drops the `third-party`, `3p`, `all`, `document`, `doc`, `popup` and `network` modifiers.
    RemoveModifiers,
    /// Keeps only rules a DNS-level blocker can apply; no IP addresses, no bare public suffixes.
    Validate,
    /// [`Transformation::Validate`], but IP addresses are allowed.
    ValidateAllowIp,
    /// [`Transformation::Validate`], but bare public suffixes are allowed.
    ValidateAllowPublicSuffix,
    /// [`Transformation::Validate`], but IP addresses and bare public suffixes are allowed.
    ValidateAllowIpAndPublicSuffix,
    /// Drops repeated rules (the last occurrence stays), and the comments and empty lines right
    /// above a dropped one.
    Deduplicate,
    /// Makes blocking rules allowlist (`@@`) rules; hosts-file lines and comments stay.
    InvertAllow,
    /// Drops empty and blank lines.
    RemoveEmptyLines,
    /// Trims spaces and tabs at both ends of each line.
    TrimLines,
    /// Appends an empty line unless the last line is already blank.
    InsertFinalNewLine,
    /// Converts non-ASCII domain names to punycode.
    ConvertToAscii,
}

impl Transformation {
    /// Every transformation, in the order they are applied.
    pub const ORDER: [Transformation; 13] = [
        Transformation::ConvertToAscii,
        Transformation::TrimLines,
        Transformation::RemoveComments,
        Transformation::Compress,
        Transformation::RemoveModifiers,
        Transformation::InvertAllow,
        Transformation::Validate,
        Transformation::ValidateAllowIp,
        Transformation::ValidateAllowPublicSuffix,
        Transformation::ValidateAllowIpAndPublicSuffix,
        Transformation::Deduplicate,
        Transformation::RemoveEmptyLines,
        Transformation::InsertFinalNewLine,
    ];

    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            Transformation::RemoveComments => "RemoveComments",
            Transformation::Compress => "Compress",
            Transformation::RemoveModifiers => "RemoveModifiers",
            Transformation::Validate => "Validate",
            Transformation::ValidateAllowIp => "ValidateAllowIp",
            Transformation::ValidateAllowPublicSuffix => "ValidateAllowPublicSuffix",
            Transformation::ValidateAllowIpAndPublicSuffix => "ValidateAllowIpAndPublicSuffix",
            Transformation::Deduplicate => "Deduplicate",
            Transformation::InvertAllow => "InvertAllow",
            Transformation::RemoveEmptyLines => "RemoveEmptyLines",
            Transformation::TrimLines => "TrimLines",
            Transformation::InsertFinalNewLine => "InsertFinalNewLine",
            Transformation::ConvertToAscii => "ConvertToAscii",
        }
    }

    /// The transformation called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Transformation> {
        Transformation::ORDER.into_iter().find(|t| t.name() == name)
    }

    /// Whether this is one of the four validations (at most one may be chosen).
    pub fn is_validation(self) -> bool {
        matches!(
            self,
            Transformation::Validate
                | Transformation::ValidateAllowIp
                | Transformation::ValidateAllowPublicSuffix
                | Transformation::ValidateAllowIpAndPublicSuffix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Transformation::ORDER {
            assert_eq!(Transformation::from_name(t.name()), Some(t));
        }
        assert_eq!(Transformation::from_name("Nope"), None);
    }
}
