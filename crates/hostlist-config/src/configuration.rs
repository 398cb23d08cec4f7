//! The HostlistCompiler configuration file, checked like the reference's JSON schema and
//! cross-checks, with errors that name the problem.

use crate::Transformation;
use serde_json::{Map, Value};

/// A source of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// A path (relative to the working directory) or an `http(s)` URL.
    pub source: String,
    /// Its name, shown in the output's header.
    pub name: Option<String>,
    /// `adblock` (default) or `hosts`; informational, as in the reference.
    pub kind: Option<String>,
    /// What applies to this source's rules alone.
    pub filters: Filters,
}

/// Transformations, exclusions and inclusions: at top level and per source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// The transformations, as listed (they are applied in [`Transformation::ORDER`]).
    pub transformations: Vec<Transformation>,
    /// Patterns of rules to drop.
    pub exclusions: Vec<String>,
    /// Files or URLs holding more exclusion patterns.
    pub exclusions_sources: Vec<String>,
    /// Patterns of rules to keep (the others are dropped).
    pub inclusions: Vec<String>,
    /// Files or URLs holding more inclusion patterns.
    pub inclusions_sources: Vec<String>,
}

impl Filters {
    fn check_one_validation(&self, at: &str) -> Result<(), ConfigError> {
        let validations: Vec<&str> = Transformation::ORDER
            .iter()
            .filter(|t| t.is_validation() && self.transformations.contains(t))
            .map(|t| t.name())
            .collect();
        if validations.len() > 1 {
            return err(format!(
                "{at}transformations: validation transformations cannot be combined: {}",
                validations.join(", ")
            ));
        }
        Ok(())
    }
}

/// A compiler configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Configuration {
    /// The list's name (required, not empty).
    pub name: String,
    /// The list's description.
    pub description: Option<String>,
    /// The list's homepage.
    pub homepage: Option<String>,
    /// The list's license.
    pub license: Option<String>,
    /// The list's version.
    pub version: Option<String>,
    /// The sources, at least one.
    pub sources: Vec<Source>,
    /// What applies to the whole list, after each source's own.
    pub filters: Filters,
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(
    /// What is wrong, naming the property (`sources[0].type must be …`).
    pub String,
);

fn err<T>(m: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(m.into()))
}

fn string(obj: &Map<String, Value>, key: &str, at: &str, min_len: usize) -> Result<Option<String>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.chars().count() >= min_len => Ok(Some(s.clone())),
        Some(Value::String(_)) => err(format!("{at}{key} must not be empty")),
        Some(_) => err(format!("{at}{key} must be a string")),
    }
}

fn strings(obj: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>, ConfigError> {
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => err(format!("{at}{key}[{i}] must be a string")),
            })
            .collect(),
        Some(_) => err(format!("{at}{key} must be an array of strings")),
    }
}

fn filters(obj: &Map<String, Value>, at: &str) -> Result<Filters, ConfigError> {
    let names = strings(obj, "transformations", at)?;
    let mut transformations = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        match Transformation::from_name(n) {
            Some(t) => transformations.push(t),
            None => {
                let known: Vec<&str> = Transformation::ORDER.iter().map(|t| t.name()).collect();
                return err(format!(
                    "{at}transformations[{i}]: unknown transformation {n:?} (known: {})",
                    known.join(", ")
                ));
            }
        }
    }
    Ok(Filters {
        transformations,
        exclusions: strings(obj, "exclusions", at)?,
        exclusions_sources: strings(obj, "exclusions_sources", at)?,
        inclusions: strings(obj, "inclusions", at)?,
        inclusions_sources: strings(obj, "inclusions_sources", at)?,
    })
}

fn no_unknown_keys(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), ConfigError> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return err(format!("{at}unknown property {k:?} (allowed: {})", allowed.join(", ")));
        }
    }
    Ok(())
}

const FILTER_KEYS: [&str; 5] =
    ["transformations", "exclusions", "exclusions_sources", "inclusions", "inclusions_sources"];

impl Configuration {
    /// Every `http(s)` location the configuration names (sources, and exclusion and inclusion
    /// sources at the top level and per source), each once, in order of appearance; files they
    /// `!#include` are not among them.
    pub fn url_locations(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let filters =
            |f: &Filters| f.exclusions_sources.iter().chain(&f.inclusions_sources).cloned().collect::<Vec<_>>();
        let mut all = Vec::new();
        for s in &self.sources {
            all.push(s.source.clone());
            all.extend(filters(&s.filters));
        }
        all.extend(filters(&self.filters));
        for l in all {
            let lower = l.to_ascii_lowercase();
            if (lower.starts_with("http://") || lower.starts_with("https://")) && !out.contains(&l) {
                out.push(l);
            }
        }
        out
    }

    /// Parses and checks a configuration file's text.
    pub fn from_json(text: &str) -> Result<Configuration, ConfigError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ConfigError(format!("not valid JSON: {e}")))?;
        Configuration::from_value(&value)
    }

    /// Checks a parsed configuration: [`Configuration::parse`], then
    /// [`Configuration::cross_check`].
    pub fn from_value(value: &Value) -> Result<Configuration, ConfigError> {
        let config = Configuration::parse(value)?;
        config.cross_check()?;
        Ok(config)
    }

    /// Reads a configuration, checking each property on its own: known properties only, of the
    /// right types, required ones present, known transformation names. What the rules between
    /// properties say is [`Configuration::cross_check`]'s.
    pub fn parse(value: &Value) -> Result<Configuration, ConfigError> {
        let Value::Object(obj) = value else { return err("the configuration must be a JSON object") };
        let mut top: Vec<&str> = vec!["name", "description", "homepage", "license", "version", "sources"];
        top.extend(FILTER_KEYS);
        no_unknown_keys(obj, &top, "")?;
        let Some(name) = string(obj, "name", "", 1)? else { return err("name is required") };
        let sources = match obj.get("sources") {
            None => return err("sources is required"),
            Some(Value::Array(s)) if s.is_empty() => return err("sources must have at least one source"),
            Some(Value::Array(s)) => s,
            Some(_) => return err("sources must be an array"),
        };
        let mut parsed = Vec::with_capacity(sources.len());
        for (i, s) in sources.iter().enumerate() {
            let at = format!("sources[{i}].");
            let Value::Object(so) = s else { return err(format!("sources[{i}] must be an object")) };
            let mut keys: Vec<&str> = vec!["name", "source", "type"];
            keys.extend(FILTER_KEYS);
            no_unknown_keys(so, &keys, &at)?;
            let Some(source) = string(so, "source", &at, 1)? else { return err(format!("{at}source is required")) };
            let kind = string(so, "type", &at, 0)?;
            if let Some(k) = &kind
                && k != "adblock"
                && k != "hosts"
            {
                return err(format!("{at}type must be \"adblock\" or \"hosts\", not {k:?}"));
            }
            parsed.push(Source { source, name: string(so, "name", &at, 1)?, kind, filters: filters(so, &at)? });
        }
        let config = Configuration {
            name,
            description: string(obj, "description", "", 0)?,
            homepage: string(obj, "homepage", "", 0)?,
            license: string(obj, "license", "", 0)?,
            version: string(obj, "version", "", 0)?,
            sources: parsed,
            filters: filters(obj, "")?,
        };
        Ok(config)
    }

    /// The rules between properties: at most one validation transformation in any
    /// `transformations` list, and validation at the top level or in sources, not both.
    pub fn cross_check(&self) -> Result<(), ConfigError> {
        self.filters.check_one_validation("")?;
        for (i, s) in self.sources.iter().enumerate() {
            s.filters.check_one_validation(&format!("sources[{i}]."))?;
        }
        let top: Vec<&str> =
            self.filters.transformations.iter().filter(|t| t.is_validation()).map(|t| t.name()).collect();
        if top.is_empty() {
            return Ok(());
        }
        for s in &self.sources {
            let at_source: Vec<&str> =
                s.filters.transformations.iter().filter(|t| t.is_validation()).map(|t| t.name()).collect();
            if !at_source.is_empty() {
                return err(format!(
                    "validation transformations cannot be used at both source and top level: source {:?} uses [{}], the top level uses [{}]",
                    s.source,
                    at_source.join(", "),
                    top.join(", ")
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_locations_are_every_fetched_url_once() {
        let c = Configuration::from_json(
            r#"{"name":"n","sources":[
                {"source":"https://a.example/x.txt","exclusions_sources":["local.txt","https://a.example/ex.txt"]},
                {"source":"rules.txt","inclusions_sources":["HTTP://b.example/in.txt"]},
                {"source":"https://a.example/x.txt"}],
              "exclusions_sources":["https://a.example/ex.txt"]}"#,
        )
        .unwrap();
        assert_eq!(
            c.url_locations(),
            ["https://a.example/x.txt", "https://a.example/ex.txt", "HTTP://b.example/in.txt"]
        );
    }

    fn e(json: &str) -> String {
        Configuration::from_json(json).unwrap_err().0
    }

    #[test]
    fn parses_a_full_configuration() {
        let c = Configuration::from_json(
            r#"{"name":"L","description":"d","sources":[{"name":"s","source":"a.txt","type":"hosts","transformations":["Compress"],"exclusions":["x"]}],
                "transformations":["Deduplicate","Validate"],"inclusions":["*"],"exclusions_sources":["ex.txt"]}"#,
        )
        .unwrap();
        assert_eq!(c.name, "L");
        assert_eq!(c.sources[0].filters.transformations, vec![Transformation::Compress]);
        assert_eq!(c.filters.transformations, vec![Transformation::Deduplicate, Transformation::Validate]);
        assert_eq!(c.filters.exclusions_sources, vec!["ex.txt"]);
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(e("{").contains("not valid JSON"));
        assert!(e(r#"{"sources":[{"source":"a"}]}"#).contains("name is required"));
        assert!(e(r#"{"name":"x"}"#).contains("sources is required"));
        assert!(e(r#"{"name":"x","sources":[]}"#).contains("at least one"));
        assert!(
            e(r#"{"name":"x","sources":[{"source":"a"}],"transformations":["Nope"]}"#)
                .contains("unknown transformation \"Nope\"")
        );
        assert!(
            e(r#"{"name":"x","sources":[{"source":"a"}],"transformations":["Validate","ValidateAllowIp"]}"#)
                .contains("cannot be combined")
        );
        assert!(e(r#"{"name":"x","sources":[{"source":"a","transformations":["Validate"]}],"transformations":["ValidateAllowIp"]}"#)
            .contains("both source and top level"));
        assert!(
            e(r#"{"name":"x","sources":[{"source":"a","typo":1}]}"#).contains("sources[0].unknown property \"typo\"")
        );
        assert!(e(r#"{"name":"x","sources":[{"source":"a","type":"json"}]}"#).contains("type must be"));
        assert!(e(r#"{"name":"","sources":[{"source":"a"}]}"#).contains("name must not be empty"));
    }
}
