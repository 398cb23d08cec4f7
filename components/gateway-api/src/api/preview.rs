//! `POST /v1/preview`: a configuration compiled now, through the imported compiler.

use super::*;

/// The body of `POST /v1/preview`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewInput {
    /// A HostlistCompiler configuration.
    pub(crate) config: serde_json::Value,
    /// The content of sources named in `config`, by location.
    #[serde(default)]
    sources: std::collections::BTreeMap<String, String>,
}

/// Compiles a configuration synchronously through the imported `blocklist:compiler/compiler` and
/// answers the list, if it is no larger than `max_preview_bytes`.
pub(crate) fn preview(req: &Request, _user: &User, settings: &Settings) -> Result<Response> {
    let input: PreviewInput = json_body(req)?;
    validate_config(&input.config)?;
    let files: Vec<compiler::SourceFile> =
        input.sources.into_iter().map(|(location, content)| compiler::SourceFile { location, content }).collect();
    let compiled = compiler::compile(&input.config.to_string(), &files, &now_rfc3339()).map_err(|e| match e {
        // Checked above already; the compiler's own check is the same.
        compiler::CompileError::InvalidConfiguration(m) => ApiError::new(422, "invalid_configuration", m),
        // A well-formed pattern string that is not a valid pattern.
        compiler::CompileError::Pattern(m) => ApiError::new(422, "invalid_pattern", m),
        compiler::CompileError::Source(m) => ApiError::new(422, "source_failed", m),
    })?;
    if compiled.text.len() > settings.max_preview_bytes {
        return Err(ApiError::new(
            413,
            "preview_too_large",
            format!(
                "the compiled list is {} bytes, over the preview limit of {} bytes: save it as a list and compile it",
                compiled.text.len(),
                settings.max_preview_bytes
            ),
        ));
    }
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: compiled.text.into_bytes(),
        chunked: None,
    }
    .with_header("x-rule-count", compiled.rules.to_string()))
}
