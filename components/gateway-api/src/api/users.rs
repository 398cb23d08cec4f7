//! Users and their tokens: `GET /v1/me`, `GET /v1/me/tokens`, `DELETE /v1/me/tokens/{id}`,
//! `POST /v1/users`, `DELETE /v1/users/{id}`, `POST /v1/users/{id}/tokens`.

use super::*;

pub(crate) fn me(caller: &Caller, lists: &Kv) -> Result<Response> {
    match caller {
        Caller::Admin => Ok(Response::json(200, &Me { role: "admin", user: None })),
        Caller::User(u) => match lists.get_json::<UserRecord>(&user_key(&u.id))? {
            Some(user) => Ok(Response::json(200, &Me { role: "user", user: Some(user) })),
            None => Err(ApiError::unauthorized("invalid token")),
        },
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    pub(crate) name: String,
}

/// A new token for `user_id`: its place in the user's token index is taken first (within
/// [`MAX_TOKENS_PER_USER`]), then its record written, so that every token that works can be
/// listed and revoked. Returns the token and its id.
pub(crate) fn new_token(lists: &Kv, user_id: &str) -> Result<(String, String)> {
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)));
    let sha256 = sha256_hex(token.as_bytes());
    if !lists.add_to_index(&user_tokens_key(user_id), &sha256, MAX_TOKENS_PER_USER)? {
        return Err(ApiError::new(
            409,
            "quota_exceeded",
            format!("a user may hold at most {MAX_TOKENS_PER_USER} tokens; revoke one first"),
        ));
    }
    let record = TokenRecord { user_id: user_id.to_owned(), sha256, created_at: now_rfc3339(), indexed: true };
    lists.put_json(&token_key(&record.sha256), &record)?;
    Ok((token, record.id()))
}

pub(crate) fn create_user(req: &Request, caller: &Caller, lists: &Kv) -> Result<Response> {
    caller.require_admin()?;
    let input: NewUser = json_body(req)?;
    let name = validate_name(&input.name)?;
    let user = UserRecord { id: new_id(USER_ID_PREFIX), name, created_at: now_rfc3339() };
    lists.put_json(&user_key(&user.id), &user)?;
    // The user's list index exists from the start, so that adding to it is always a
    // compare-and-swap on a present key (Spin 4.0.2's SQLite store swaps an absent key
    // unconditionally: two first creates would both win, and one list would leave the index).
    lists.put_json(&user_lists_key(&user.id), &Vec::<String>::new())?;
    let (token, token_id) = new_token(lists, &user.id)?;
    let location = format!("/v1/users/{}", user.id);
    Ok(Response::json(201, &CreatedUser { user, token, token_id }).with_header("location", location))
}

pub(crate) fn issue_token(caller: &Caller, lists: &Kv, user_id: &str) -> Result<Response> {
    caller.require_admin()?;
    if lists.get_json::<UserRecord>(&user_key(user_id))?.is_none() {
        return Err(ApiError::not_found(format!("user {user_id} not found")));
    }
    let (token, id) = new_token(lists, user_id)?;
    Ok(Response::json(201, &IssuedToken { user_id, token, id }))
}

/// The user's tokens as stored, in the order they were issued; index entries whose record is
/// gone (a revocation or an issue that was interrupted) leave the index.
fn tokens_of(lists: &Kv, user_id: &str) -> Result<Vec<TokenRecord>> {
    let index_key = user_tokens_key(user_id);
    let hashes: Vec<String> = lists.get_json(&index_key)?.unwrap_or_default();
    let mut out = Vec::with_capacity(hashes.len());
    for hash in hashes {
        match lists.get_json::<TokenRecord>(&token_key(&hash))? {
            Some(t) if t.user_id == user_id => out.push(t),
            _ => lists.remove_from_index(&index_key, &hash)?,
        }
    }
    Ok(out)
}

/// `GET /v1/me/tokens`: the caller's tokens (ids and when they were issued, never the tokens).
pub(crate) fn my_tokens(user: &User, lists: &Kv) -> Result<Response> {
    let tokens = tokens_of(lists, &user.id)?
        .into_iter()
        .map(|t| TokenView { current: t.sha256 == user.token_sha256, id: t.id(), created_at: t.created_at })
        .collect();
    Ok(Response::json(200, &TokensPage { tokens }))
}

/// `DELETE /v1/me/tokens/{id}`: the token stops working at once (the caller's own included).
pub(crate) fn revoke_user_token(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    let Some(token) = tokens_of(lists, &user.id)?.into_iter().find(|t| t.id() == id) else {
        return Err(ApiError::not_found(format!("token {id} not found")));
    };
    // The record first: from that moment the token is refused.
    lists.delete(&token_key(&token.sha256))?;
    lists.remove_from_index(&user_tokens_key(&user.id), &token.sha256)?;
    Ok(Response::empty(204))
}

/// `DELETE /v1/users/{id}` (admin): the user's tokens stop working first, then each of its
/// lists is deleted as its owner would delete it, then the user record goes. An interrupted
/// deletion leaves the user record, and deleting again finishes it.
pub(crate) fn delete_user(caller: &Caller, lists: &Kv, user_id: &str) -> Result<Response> {
    caller.require_admin()?;
    if lists.get_json::<UserRecord>(&user_key(user_id))?.is_none() {
        return Err(ApiError::not_found(format!("user {user_id} not found")));
    }
    for token in tokens_of(lists, user_id)? {
        lists.delete(&token_key(&token.sha256))?;
    }
    lists.delete(&user_tokens_key(user_id))?;
    // (Lists whose delete was interrupted are finished by the repair itself.)
    for list in repair_index(lists, user_id)? {
        // `Missing`: deleted meanwhile, by its owner's last request.
        let _ = delete_owned_list(lists, user_id, &list.id, None)?;
    }
    lists.delete(&user_lists_key(user_id))?;
    lists.delete(&user_dead_jobs_key(user_id))?;
    lists.delete(&user_key(user_id))?;
    Ok(Response::empty(204))
}
