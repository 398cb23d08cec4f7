//! Accounts (issue 15, part 12): a user lists and revokes its tokens, an admin deletes a user
//! with everything it owns, and interrupted creates and deletes are finished by the next
//! listing. The real host over a socket; the store read directly (as SQLite) where the test
//! must see what is left in it.

mod common;

use common::{ADMIN_TOKEN, Host, error_of};
use serde_json::{Value, json};

#[test]
fn a_user_lists_and_revokes_its_tokens() {
    let h = Host::start(&[]);
    let r = h.post("/v1/users", ADMIN_TOKEN).json(&json!({"name": "alice"})).send().unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().unwrap();
    let (user, first, first_id) = (
        created["user"]["id"].as_str().unwrap().to_owned(),
        created["token"].as_str().unwrap().to_owned(),
        created["tokenId"].as_str().unwrap().to_owned(),
    );
    let r = h.post(&format!("/v1/users/{user}/tokens"), ADMIN_TOKEN).send().unwrap();
    assert_eq!(r.status(), 201);
    let issued: Value = r.json().unwrap();
    let (second, second_id) = (issued["token"].as_str().unwrap().to_owned(), issued["id"].as_str().unwrap().to_owned());
    assert_ne!(first_id, second_id);

    let listed: Value = h.get("/v1/me/tokens", &first).send().unwrap().json().unwrap();
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2, "{listed}");
    assert_eq!((tokens[0]["id"].as_str().unwrap(), tokens[0]["current"].as_bool()), (first_id.as_str(), Some(true)));
    assert_eq!((tokens[1]["id"].as_str().unwrap(), tokens[1]["current"].as_bool()), (second_id.as_str(), Some(false)));
    assert!(!listed.to_string().contains(&second), "a listing never shows a token itself");

    // Revoking the second token with the first: the second stops working at once.
    assert_eq!(h.get("/v1/me", &second).send().unwrap().status(), 200);
    assert_eq!(h.delete(&format!("/v1/me/tokens/{second_id}"), &first).send().unwrap().status(), 204);
    assert_eq!(error_of(h.get("/v1/me", &second).send().unwrap()).0, 401);
    let (status, code, _) = error_of(h.delete(&format!("/v1/me/tokens/{second_id}"), &first).send().unwrap());
    assert_eq!((status, code.as_str()), (404, "not_found"));
    let (status, code, _) = error_of(h.delete("/v1/me/tokens/nope", &first).send().unwrap());
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    let listed: Value = h.get("/v1/me/tokens", &first).send().unwrap().json().unwrap();
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1, "{listed}");

    // Another user cannot revoke alice's token (it is not found among theirs).
    let (_, bob) = h.create_user("bob");
    assert_eq!(error_of(h.delete(&format!("/v1/me/tokens/{first_id}"), &bob).send().unwrap()).0, 404);
    // The admin has no tokens of its own here.
    assert_eq!(error_of(h.get("/v1/me/tokens", ADMIN_TOKEN).send().unwrap()).0, 403);

    // A user may revoke the token it is using.
    assert_eq!(h.delete(&format!("/v1/me/tokens/{first_id}"), &first).send().unwrap().status(), 204);
    assert_eq!(error_of(h.get("/v1/me", &first).send().unwrap()).0, 401);
}

#[test]
fn a_token_issued_before_token_indexes_is_listed_once_used() {
    let dir = tempfile::tempdir().unwrap();
    let (user, token) = {
        let h = Host::start_in(dir.path(), &[]);
        let ids = h.create_user("old");
        h.kill();
        ids
    };
    // As an earlier version stored it: a token record with no `indexed`, and no index.
    let hash = common::sha256_hex(token.as_bytes());
    {
        let store = common::data_store(dir.path());
        let record = json!({"userId": user, "sha256": hash, "createdAt": "2026-11-01T00:00:00.000Z"});
        store.set("lists", &format!("token/{hash}"), record.to_string().as_bytes()).unwrap();
        store.delete("lists", &format!("user-tokens/{user}")).unwrap();
    }
    let h = Host::start_in(dir.path(), &[]);
    let listed: Value = h.get("/v1/me/tokens", &token).send().unwrap().json().unwrap();
    let tokens = listed["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{listed}");
    assert_eq!(tokens[0]["id"], format!("t_{}", &hash[..24]));
    assert_eq!(h.delete(&format!("/v1/me/tokens/t_{}", &hash[..24]), &token).send().unwrap().status(), 204);
    assert_eq!(error_of(h.get("/v1/me", &token).send().unwrap()).0, 401);
}

#[test]
fn an_admin_deletes_a_user_with_everything_it_owns() {
    let dir = tempfile::tempdir().unwrap();
    let h = Host::start_in(dir.path(), &[]);
    let (alice, alice_token) = h.create_user("alice");
    let (_, bob_token) = h.create_user("bob");
    let compiled_list = h.create_list(&alice_token, "ads", "||ads.example^\n");
    let other_list = h.create_list(&alice_token, "trackers", "||trackers.example^\n");
    let job = h.request_compile(&alice_token, &compiled_list);
    h.wait_job(&alice_token, &job, "done");
    let subscription = h.subscribe(&alice_token, &compiled_list, "router", "hosts");
    let feed = subscription["path"].as_str().unwrap().to_owned();
    assert_eq!(h.client().get(h.url(&feed)).send().unwrap().status(), 200);
    let bobs = h.create_list(&bob_token, "bob's", "||bob.example^\n");

    assert_eq!(error_of(h.delete(&format!("/v1/users/{alice}"), &bob_token).send().unwrap()).0, 403);
    assert_eq!(h.delete(&format!("/v1/users/{alice}"), ADMIN_TOKEN).send().unwrap().status(), 204);
    assert_eq!(error_of(h.get("/v1/lists", &alice_token).send().unwrap()).0, 401);
    assert_eq!(h.client().get(h.url(&feed)).send().unwrap().status(), 404, "the subscription went with the list");
    let (status, code, _) = error_of(h.delete(&format!("/v1/users/{alice}"), ADMIN_TOKEN).send().unwrap());
    assert_eq!((status, code.as_str()), (404, "not_found"));
    // Bob is untouched.
    assert_eq!(h.get(&format!("/v1/lists/{bobs}"), &bob_token).send().unwrap().status(), 200);
    h.kill();

    // Nothing of alice's is left in the store but her finished job's ledger record (whose
    // retention is the ledger's).
    let keys = common::stored_keys(dir.path(), "lists");
    let left: Vec<&String> = keys
        .iter()
        .filter(|k| [&alice, &compiled_list, &other_list].iter().any(|id| k.contains(id.as_str())))
        .collect();
    assert!(left.is_empty(), "keys left of a deleted user: {left:?}");
    assert!(keys.iter().any(|k| k.contains(&bobs)), "bob's list is still stored");
}

#[test]
fn interrupted_creates_and_deletes_are_finished_by_the_next_listing() {
    let dir = tempfile::tempdir().unwrap();
    let (user, token, kept, deleting) = {
        let h = Host::start_in(dir.path(), &["--max-lists-per-user", "3"]);
        let (user, token) = h.create_user("owner");
        let kept = h.create_list(&token, "kept", "||kept.example^\n");
        let deleting = h.create_list(&token, "deleting", "||deleting.example^\n");
        h.kill();
        (user, token, kept, deleting)
    };
    // As a crash would leave them: a delete that marked its list and stopped, and a create
    // that reserved an id in the index and stopped before writing the record.
    let ghost = "l_0123456789abcdef01234567";
    {
        let store = common::data_store(dir.path());
        let key = format!("list/{deleting}");
        let mut record: Value = serde_json::from_slice(&store.get("lists", &key).unwrap().unwrap()).unwrap();
        record["deletedAt"] = json!("2026-12-01T00:00:00.000Z");
        store.set("lists", &key, record.to_string().as_bytes()).unwrap();
        let index = json!([kept, deleting, ghost]);
        store.set("lists", &format!("user-lists/{user}"), index.to_string().as_bytes()).unwrap();
    }
    let h = Host::start_in(dir.path(), &["--max-lists-per-user", "3"]);
    // A list being deleted is gone for readers and writers.
    assert_eq!(error_of(h.get(&format!("/v1/lists/{deleting}"), &token).send().unwrap()).0, 404);
    let update = json!({"name": "back?", "rules": "||x.example^\n"});
    assert_eq!(error_of(h.put(&format!("/v1/lists/{deleting}"), &token).json(&update).send().unwrap()).0, 404);
    // The index is full (3 ids), but two of them are not lists: creating one more works.
    let created = h.create_list(&token, "new", "||new.example^\n");
    let listed: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    let ids: Vec<&str> = listed["lists"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [kept.as_str(), created.as_str()]);
    h.kill();
    let keys = common::stored_keys(dir.path(), "lists");
    let left: Vec<&String> = keys.iter().filter(|k| k.contains(&deleting) || k.contains(ghost)).collect();
    assert!(left.is_empty(), "what the interrupted delete left was removed: {left:?}");
    let store = common::data_store(dir.path());
    let index: Vec<String> =
        serde_json::from_slice(&store.get("lists", &format!("user-lists/{user}")).unwrap().unwrap()).unwrap();
    assert_eq!(index, [kept, created]);
}
