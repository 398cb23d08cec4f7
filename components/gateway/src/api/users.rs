//! Users and their tokens: `GET /v1/me`, `POST /v1/users`, `POST /v1/users/{id}/tokens`.

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

pub(crate) fn new_token(lists: &Kv, user_id: &str) -> Result<String> {
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(edge_store::wasi::random::random::get_random_bytes(32)));
    let sha256 = sha256_hex(token.as_bytes());
    lists.put_json(
        &token_key(&sha256),
        &TokenRecord { user_id: user_id.to_owned(), sha256: sha256.clone(), created_at: now_rfc3339() },
    )?;
    Ok(token)
}

pub(crate) fn create_user(req: &Request, caller: &Caller, lists: &Kv) -> Result<Response> {
    caller.require_admin()?;
    let input: NewUser = json_body(req)?;
    let name = validate_name(&input.name)?;
    let user = UserRecord { id: new_id(USER_ID_PREFIX), name, created_at: now_rfc3339() };
    lists.put_json(&user_key(&user.id), &user)?;
    let token = new_token(lists, &user.id)?;
    let location = format!("/v1/users/{}", user.id);
    Ok(Response::json(201, &CreatedUser { user, token }).with_header("location", location))
}

pub(crate) fn issue_token(caller: &Caller, lists: &Kv, user_id: &str) -> Result<Response> {
    caller.require_admin()?;
    if lists.get_json::<UserRecord>(&user_key(user_id))?.is_none() {
        return Err(ApiError::not_found(format!("user {user_id} not found")));
    }
    let token = new_token(lists, user_id)?;
    Ok(Response::json(201, &IssuedToken { user_id, token }))
}
