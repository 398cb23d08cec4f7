//! Generators shared by the fuzz targets that build JSON inputs (`config`, `gateway_request`).

use arbitrary::{Result, Unstructured};
use serde_json::{Value, json};

/// One of `from`.
pub fn pick<'a>(u: &mut Unstructured<'_>, from: &[&'a str]) -> Result<&'a str> {
    Ok(from[u.choose_index(from.len())?])
}

/// Mostly one of `from`, sometimes anything.
pub fn word(u: &mut Unstructured<'_>, from: &[&str]) -> Result<String> {
    if u.ratio(7, 8)? { Ok(pick(u, from)?.to_owned()) } else { u.arbitrary() }
}

/// `good`, or now and then a value of another type.
pub fn or_wrong(good: Value, u: &mut Unstructured<'_>) -> Result<Value> {
    if u.ratio(15, 16)? {
        return Ok(good);
    }
    Ok(match u.int_in_range(0..=4)? {
        0 => Value::Null,
        1 => json!(u.arbitrary::<i32>()?),
        2 => json!(u.arbitrary::<bool>()?),
        3 => json!([u.arbitrary::<String>()?]),
        _ => json!({ "k": u.arbitrary::<String>()? }),
    })
}
