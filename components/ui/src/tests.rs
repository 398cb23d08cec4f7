use super::*;

fn get(path: &str) -> Answer {
    answer("GET", path, &Conditions::default())
}

/// The hashed asset paths `index.html` refers to.
fn referenced_assets() -> Vec<String> {
    let html = String::from_utf8(get(ROOT).body).unwrap();
    html.split('"').filter(|s| s.starts_with("assets/")).map(|s| format!("{ROOT}{s}")).collect()
}

#[test]
fn the_page_refers_to_hashed_assets_that_are_served_for_a_year() {
    let index = get(ROOT);
    assert_eq!(index.status, 200);
    assert_eq!(index.get("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(index.get("cache-control"), Some("no-cache"));
    let assets = referenced_assets();
    assert!(assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")), "{assets:?}");
    for path in assets {
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(name.split('.').count(), 3, "{name}: stem, hash, extension");
        let a = get(&path);
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.get("cache-control"), Some("public, max-age=31536000, immutable"));
        assert!(!a.body.is_empty());
    }
}

#[test]
fn every_answer_carries_the_security_policy() {
    for a in [get(ROOT), get("/ui/nothing"), answer("POST", ROOT, &Conditions::default()), get("/")] {
        assert_eq!(a.get("content-security-policy"), Some(CONTENT_SECURITY_POLICY));
        assert_eq!(a.get("x-content-type-options"), Some("nosniff"));
    }
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe"), "no inline script or style");
    let html = String::from_utf8(get(ROOT).body).unwrap();
    assert!(!html.contains("<script>") && !html.contains(" style=") && !html.contains("<style"), "no inline code");
}

#[test]
fn revalidation_and_compression() {
    let index = get(ROOT);
    let etag = index.get("etag").unwrap().to_owned();
    let again = answer("GET", ROOT, &Conditions { if_none_match: Some(&etag), accept_encoding: None });
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = answer("GET", ROOT, &Conditions { if_none_match: Some("\"other\""), accept_encoding: None });
    assert_eq!(stale.status, 200);
    let script = referenced_assets().into_iter().find(|a| a.ends_with(".js")).unwrap();
    let plain = get(&script);
    let zipped = answer("GET", &script, &Conditions { if_none_match: None, accept_encoding: Some("gzip, br") });
    assert_eq!(zipped.get("content-encoding"), Some("gzip"));
    assert_eq!(zipped.get("vary"), Some("Accept-Encoding"));
    assert!(zipped.body.len() < plain.body.len());
    assert_eq!(zipped.get("content-length"), Some(zipped.body.len().to_string().as_str()));
    let head = answer("HEAD", &script, &Conditions::default());
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(head.get("content-length"), plain.get("content-length"));
}

#[test]
fn other_paths_and_methods_get_clear_errors() {
    let missing = get("/ui/assets/app.js");
    assert_eq!(missing.status, 404, "only hashed names are served");
    assert!(String::from_utf8(missing.body).unwrap().contains("\"code\":\"not_found\""));
    let post = answer("POST", ROOT, &Conditions::default());
    assert_eq!((post.status, post.get("allow")), (405, Some("GET, HEAD")));
    for root in ["/", "/ui"] {
        let a = get(root);
        assert_eq!((a.status, a.get("location")), (302, Some(ROOT)));
    }
}

#[test]
fn every_module_a_script_imports_is_served_under_its_hashed_name() {
    let scripts: Vec<String> =
        site::FILES.iter().filter(|f| f.path.ends_with(".js")).map(|f| f.path.to_owned()).collect();
    assert!(scripts.len() > 1, "{scripts:?}");
    let mut imported = 0;
    for script in &scripts {
        let text = String::from_utf8(get(script).body).unwrap();
        for (at, from) in text.match_indices("from './") {
            let rest = &text[at + from.len()..];
            let module = &rest[..rest.find('\'').unwrap()];
            assert_eq!(module.split('.').count(), 3, "{script} imports {module}, not a hashed name");
            assert_eq!(get(&format!("{ROOT}assets/{module}")).status, 200, "{script} imports {module}");
            imported += 1;
        }
    }
    assert!(imported >= scripts.len() - 1, "the entry script and its modules import each other");
}

#[test]
fn an_error_naming_any_path_is_valid_json() {
    let path = "/ui/a\"b\\c\u{1}d\u{7f}é";
    let body: serde_json::Value = serde_json::from_slice(&get(path).body).unwrap();
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains(path));
}
