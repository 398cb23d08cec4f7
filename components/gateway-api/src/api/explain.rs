//! `GET /v1/lists/{id}/explain?name=…`: what compiling the list does with a name — the source
//! lines that mention it, what each exclusion, inclusion and transformation did to each, and
//! which lines of the compiled list decide a DNS query for it — through the imported compiler's
//! `explain` (crate `hostlist`, module `explain`).
//!
//! It explains a compile of the list as it is now: its current rules, or its configuration with
//! the last copy the compile consumer kept of each URL source (a source without one is fetched,
//! as `POST /v1/preview` does). Lists whose inputs are larger than [`MAX_EXPLAIN_INPUT_BYTES`]
//! are refused with `413`: the command line (`blocklist-edge explain`) has no such bound.

use super::*;
use blocklist_model::records::{RULES_LOCATION, rules_list_config};
use blocklist_model::sources::{SourceStates, copy_prefix, states_key};

/// The largest rules text, or sum of kept source copies, explained here (a compile's memory is
/// several times its input, within the request's memory cap).
pub(crate) const MAX_EXPLAIN_INPUT_BYTES: u64 = 8 * 1024 * 1024;

/// The `name` of an explain query.
pub(crate) fn parse_explain_query(query: &str) -> Result<String> {
    let (name, qtype) = parse_lookup_query(query)?;
    if qtype.is_some() {
        return Err(ApiError::bad_request("explain takes only name=…; the verdict covers every query type"));
    }
    Ok(name)
}

fn too_large(id: &str, bytes: u64) -> ApiError {
    ApiError::new(
        413,
        "too_large_to_explain",
        format!(
            "list {id}'s inputs are {bytes} bytes, over the {MAX_EXPLAIN_INPUT_BYTES} bytes explained here; \
             run `blocklist-edge explain -c config.json NAME` on its configuration instead"
        ),
    )
}

/// The configuration and the sources given inline that a compile of `list` starts from now.
fn inputs(lists: &Kv, list: ListRecord) -> Result<(String, Vec<compiler::SourceFile>)> {
    let id = list.id.clone();
    match &list.source {
        ListSource::Rules => {
            if list.rules_bytes > MAX_EXPLAIN_INPUT_BYTES {
                return Err(too_large(&id, list.rules_bytes));
            }
            let (list, rules) = read_rules(lists, list)?;
            let files =
                vec![compiler::SourceFile { location: RULES_LOCATION.into(), content: rules.unwrap_or_default() }];
            Ok((rules_list_config(&list.name).to_string(), files))
        }
        ListSource::Config { config } => {
            let states: SourceStates = lists.get_json(&states_key(&id))?.unwrap_or_default();
            let kept: Vec<_> = states.sources.iter().filter_map(|s| Some((s.url.clone(), s.copy.clone()?))).collect();
            let total: u64 = kept.iter().map(|(_, c)| c.bytes).sum();
            if total > MAX_EXPLAIN_INPUT_BYTES {
                return Err(too_large(&id, total));
            }
            let mut files = Vec::with_capacity(kept.len());
            for (url, copy) in kept {
                // A copy replaced meanwhile is gone: the compiler fetches that source instead.
                if let Some(bytes) =
                    lists.get_chunks(&copy_prefix(&id, &copy.sha256), copy.chunks, copy.bytes as usize)?
                {
                    files.push(compiler::SourceFile {
                        location: url,
                        content: String::from_utf8_lossy(&bytes).into_owned(),
                    });
                }
            }
            Ok((config.to_string(), files))
        }
    }
}

/// `GET /v1/lists/{id}/explain`.
pub(crate) fn explain(req: &Request, user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let name = parse_explain_query(&req.query)?;
    let list = owned_list(user, lists, id)?;
    let (config, files) = inputs(lists, list)?;
    let explanation = compiler::explain(&config, &files, &name).map_err(|e| match e {
        compiler::ExplainError::InvalidName(m) => ApiError::new(400, "invalid_name", m),
        compiler::ExplainError::Compile(compiler::CompileError::InvalidConfiguration(m)) => {
            ApiError::new(422, "invalid_configuration", m)
        }
        compiler::ExplainError::Compile(compiler::CompileError::Pattern(m)) => ApiError::new(422, "invalid_pattern", m),
        compiler::ExplainError::Compile(compiler::CompileError::Source(m)) => ApiError::new(422, "source_failed", m),
    })?;
    Ok(Response::json(200, &ExplainView::of(id, &explanation)))
}
