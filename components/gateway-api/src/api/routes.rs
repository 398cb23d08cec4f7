//! The route table: what a method and a path reach, with the path's ids checked. The handlers
//! are chosen from a [`Route`] in `api::route`; the fuzz target resolves routes through the same
//! table (`crate::fuzzing`).

use super::*;

/// A resolved API route: the resource and what to do with it, with ids that passed their check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v1/me`
    Me,
    /// `GET /v1/me/tokens`
    MyTokens,
    /// `DELETE /v1/me/tokens/{token}`
    RevokeToken { token: String },
    /// `POST /v1/users`
    CreateUser,
    /// `DELETE /v1/users/{user}`
    DeleteUser { user: String },
    /// `POST /v1/users/{user}/tokens`
    IssueToken { user: String },
    /// `GET /v1/lists`
    ListLists,
    /// `POST /v1/lists`
    CreateList,
    /// `GET /v1/lists/{list}`
    GetList { list: String },
    /// `PUT /v1/lists/{list}`
    UpdateList { list: String },
    /// `DELETE /v1/lists/{list}`
    DeleteList { list: String },
    /// `POST /v1/lists/{list}/compile`
    RequestCompile { list: String },
    /// `GET` or `HEAD /v1/lists/{list}/compiled`
    GetCompiled { list: String },
    /// `GET /v1/lists/{list}/subscriptions`
    ListSubscriptions { list: String },
    /// `POST /v1/lists/{list}/subscriptions`
    CreateSubscription { list: String },
    /// `GET /v1/lists/{list}/subscriptions/{subscription}`
    GetSubscription { list: String, subscription: String },
    /// `DELETE /v1/lists/{list}/subscriptions/{subscription}`
    DeleteSubscription { list: String, subscription: String },
    /// `POST /v1/lists/{list}/subscriptions/{subscription}/rotate`
    RotateSubscription { list: String, subscription: String },
    /// `POST /v1/preview`
    Preview,
    /// `GET /v1/jobs`
    ListJobs,
    /// `GET /v1/jobs/{job}`
    GetJob { job: String },
    /// `POST /v1/jobs/{job}/replay`
    ReplayJob { job: String },
    /// `POST /v1/admin/refresh`
    RunRefreshes,
    /// `POST /v1/admin/jobs/run`
    RunJobs,
    /// `GET /v1/lists/{list}/jobs`
    ListJobsOfList { list: String },
    /// `GET /v1/lists/{list}/versions`
    ListVersions { list: String },
    /// `GET /v1/lists/{list}/diff`
    DiffVersions { list: String },
    /// `GET /v1/lists/{list}/lookup`
    LookupName { list: String },
    /// `GET /v1/lists/{list}/explain`
    ExplainName { list: String },
    /// `POST /v1/lists/{list}/versions/{version}/rollback`
    Rollback { list: String, version: u64 },
    /// `GET /v1/lists/{list}/held`
    GetHeld { list: String },
    /// `POST /v1/lists/{list}/held/publish`
    PublishHeld { list: String },
    /// `POST /v1/lists/{list}/held/discard`
    DiscardHeld { list: String },
}

impl Route {
    /// Whether answering the route may change the data it is about (everything but reads).
    /// Rate-limit counters and caches change on every route; they do not count.
    pub fn changes_data(&self) -> bool {
        use Route::*;
        !matches!(
            self,
            Me | MyTokens
                | ListLists
                | GetList { .. }
                | GetCompiled { .. }
                | ListSubscriptions { .. }
                | GetSubscription { .. }
                | ListJobs
                | GetJob { .. }
                | ListJobsOfList { .. }
                | ListVersions { .. }
                | DiffVersions { .. }
                | LookupName { .. }
                | ExplainName { .. }
                | GetHeld { .. }
        )
    }

    /// Whether answering the route calls the compiler (`blocklist:compiler/compiler`).
    pub fn needs_compiler(&self) -> bool {
        matches!(self, Route::Preview | Route::ExplainName { .. })
    }

    /// The route `method` and `path` (without its query) reach: 404 for no such path, 400 for
    /// a malformed id in it, 405 (with `allow`) for a method the path does not take.
    pub fn resolve(method: &str, path: &str) -> Result<Route> {
        use Route::*;
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let list = |id: &str| parse_id(id, LIST_ID_PREFIX, "list");
        let subscription = |id: &str| parse_id(id, SUBSCRIPTION_ID_PREFIX, "subscription");
        let job = |id: &str| parse_id(id, JOB_ID_PREFIX, "job");
        Ok(match (segments.as_slice(), method) {
            (["v1", "me"], "GET") => Me,
            (["v1", "me"], _) => return Err(method_not_allowed("GET")),
            (["v1", "me", "tokens"], "GET") => MyTokens,
            (["v1", "me", "tokens"], _) => return Err(method_not_allowed("GET")),
            (["v1", "me", "tokens", id], m) => {
                let token = parse_id(id, TOKEN_ID_PREFIX, "token")?;
                match m {
                    "DELETE" => RevokeToken { token },
                    _ => return Err(method_not_allowed("DELETE")),
                }
            }
            (["v1", "users"], "POST") => CreateUser,
            (["v1", "users"], _) => return Err(method_not_allowed("POST")),
            (["v1", "users", id], m) => {
                let user = parse_id(id, USER_ID_PREFIX, "user")?;
                match m {
                    "DELETE" => DeleteUser { user },
                    _ => return Err(method_not_allowed("DELETE")),
                }
            }
            (["v1", "users", id, "tokens"], m) => {
                let user = parse_id(id, USER_ID_PREFIX, "user")?;
                match m {
                    "POST" => IssueToken { user },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            (["v1", "lists"], "GET") => ListLists,
            (["v1", "lists"], "POST") => CreateList,
            (["v1", "lists"], _) => return Err(method_not_allowed("GET, POST")),
            (["v1", "lists", id], m) => {
                let list = list(id)?;
                match m {
                    "GET" => GetList { list },
                    "PUT" => UpdateList { list },
                    "DELETE" => DeleteList { list },
                    _ => return Err(method_not_allowed("GET, PUT, DELETE")),
                }
            }
            (["v1", "lists", id, "compile"], m) => {
                let list = list(id)?;
                match m {
                    "POST" => RequestCompile { list },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            (["v1", "lists", id, "compiled"], m) => {
                let list = list(id)?;
                match m {
                    "GET" | "HEAD" => GetCompiled { list },
                    _ => return Err(method_not_allowed("GET, HEAD")),
                }
            }
            (["v1", "lists", id, "subscriptions"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => ListSubscriptions { list },
                    "POST" => CreateSubscription { list },
                    _ => return Err(method_not_allowed("GET, POST")),
                }
            }
            (["v1", "lists", id, "subscriptions", sid], m) => {
                let (list, subscription) = (list(id)?, subscription(sid)?);
                match m {
                    "GET" => GetSubscription { list, subscription },
                    "DELETE" => DeleteSubscription { list, subscription },
                    _ => return Err(method_not_allowed("GET, DELETE")),
                }
            }
            (["v1", "lists", id, "subscriptions", sid, "rotate"], m) => {
                let (list, subscription) = (list(id)?, subscription(sid)?);
                match m {
                    "POST" => RotateSubscription { list, subscription },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            (["v1", "lists", id, "jobs"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => ListJobsOfList { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "versions"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => ListVersions { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "versions", v, "rollback"], m) => {
                let list = list(id)?;
                let version = v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!("{v:?} is not a version number (see GET /v1/lists/{list}/versions)"))
                })?;
                match m {
                    "POST" => Rollback { list, version },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            (["v1", "lists", id, "diff"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => DiffVersions { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "lookup"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => LookupName { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "explain"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => ExplainName { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "held"], m) => {
                let list = list(id)?;
                match m {
                    "GET" => GetHeld { list },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "lists", id, "held", action @ ("publish" | "discard")], m) => {
                let list = list(id)?;
                match (m, *action) {
                    ("POST", "publish") => PublishHeld { list },
                    ("POST", _) => DiscardHeld { list },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            (["v1", "preview"], "POST") => Preview,
            (["v1", "preview"], _) => return Err(method_not_allowed("POST")),
            (["v1", "admin", "refresh"], "POST") => RunRefreshes,
            (["v1", "admin", "refresh"], _) => return Err(method_not_allowed("POST")),
            (["v1", "admin", "jobs", "run"], "POST") => RunJobs,
            (["v1", "admin", "jobs", "run"], _) => return Err(method_not_allowed("POST")),
            (["v1", "jobs"], "GET") => ListJobs,
            (["v1", "jobs"], _) => return Err(method_not_allowed("GET")),
            (["v1", "jobs", id], m) => {
                let job = job(id)?;
                match m {
                    "GET" => GetJob { job },
                    _ => return Err(method_not_allowed("GET")),
                }
            }
            (["v1", "jobs", id, "replay"], m) => {
                let job = job(id)?;
                match m {
                    "POST" => ReplayJob { job },
                    _ => return Err(method_not_allowed("POST")),
                }
            }
            _ => return Err(ApiError::not_found(format!("no route for {method} {path}"))),
        })
    }

    /// The ids the route names, with the prefix each was checked against.
    pub fn ids(&self) -> Vec<(&str, &'static str)> {
        use Route::*;
        match self {
            IssueToken { user } | DeleteUser { user } => vec![(user, USER_ID_PREFIX)],
            RevokeToken { token } => vec![(token, TOKEN_ID_PREFIX)],
            GetList { list }
            | UpdateList { list }
            | DeleteList { list }
            | RequestCompile { list }
            | GetCompiled { list }
            | ListSubscriptions { list }
            | CreateSubscription { list }
            | ListJobsOfList { list }
            | ListVersions { list }
            | DiffVersions { list }
            | LookupName { list }
            | ExplainName { list }
            | Rollback { list, .. }
            | GetHeld { list }
            | PublishHeld { list }
            | DiscardHeld { list } => vec![(list, LIST_ID_PREFIX)],
            GetSubscription { list, subscription }
            | DeleteSubscription { list, subscription }
            | RotateSubscription { list, subscription } => {
                vec![(list, LIST_ID_PREFIX), (subscription, SUBSCRIPTION_ID_PREFIX)]
            }
            GetJob { job } | ReplayJob { job } => vec![(job, JOB_ID_PREFIX)],
            Me | MyTokens | CreateUser | ListLists | CreateList | Preview | ListJobs | RunRefreshes | RunJobs => {
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_routes_and_refuses_with_the_right_status() {
        let id = format!("{LIST_ID_PREFIX}{}", "0".repeat(ID_HEX_LEN));
        assert_eq!(Route::resolve("GET", "/v1/lists").unwrap(), Route::ListLists);
        assert_eq!(Route::resolve("PUT", &format!("/v1/lists/{id}")).unwrap(), Route::UpdateList { list: id.clone() });
        assert_eq!(Route::resolve("PATCH", &format!("/v1/lists/{id}")).unwrap_err().status, 405);
        assert_eq!(Route::resolve("GET", "/v1/lists/nope").unwrap_err().status, 400);
        assert_eq!(Route::resolve("GET", "/v2/lists").unwrap_err().status, 404);
        assert_eq!(Route::resolve("GET", "/v1/lists/").unwrap_err().status, 400);
    }
}
