//! The deployment files under `deploy/`: Kubernetes manifests for the host, a Valkey
//! StatefulSet, a SpinKube `SpinApp`, and the host's Dockerfile.
//!
//! - Every manifest is validated offline against the Kubernetes schemas (strict: unknown fields
//!   are errors) and the SpinApp against the vendored Spin Operator CRD, by
//!   `deploy/validate.py` (kubernetes-validate and jsonschema from PyPI, pinned, installed on
//!   first use into the project's virtual environment under
//!   `${XDG_CACHE_HOME:-~/.cache}/blocklist-edge/venv`; run without network where `unshare`
//!   can take it away).
//! - What the schemas cannot see: the Deployment's settings are `up` flags' environment
//!   variables (`up --help`), its ports, probes, volumes, user and termination grace agree with
//!   each other, with the Dockerfile and with the Valkey manifest; the host started with the
//!   Deployment's environment (Valkey replaced by a local `redis-server`) refuses the Secret's
//!   placeholder, answers the probes' paths, shares its store with a second replica and stops
//!   on SIGTERM within the grace; the SpinApp binds `spin.toml`'s variables and stores as
//!   `runtime-config/redis.toml` does.

mod common;

use common::{ADMIN_TOKEN, Api, sha256_hex};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The validators, pinned (deploy/validate.py names the same).
const PACKAGES: &[(&str, &str)] = &[("kubernetes-validate", "1.37.0"), ("jsonschema", "4.26.0")];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's virtual environment's Python, with the pinned validators installed.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
        let venv = cache.join("blocklist-edge/venv");
        let python = venv.join("bin/python");
        if !python.exists() {
            let ok = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().is_ok_and(|s| s.success());
            assert!(
                ok,
                "cannot create {}: python3 with venv is needed (scripts/test installs python3-venv)",
                venv.display()
            );
        }
        let wanted: Vec<String> = PACKAGES.iter().map(|(p, v)| format!("{p}=={v}")).collect();
        let probe =
            "import importlib.metadata as m, sys\nprint(' '.join(f'{p}=={m.version(p)}' for p in sys.argv[1:]))";
        let installed = Command::new(&python)
            .args(["-c", probe])
            .args(PACKAGES.iter().map(|(p, _)| *p))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if installed.as_deref() != Some(wanted.join(" ").as_str()) {
            let out = Command::new(&python)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(&wanted)
                .output()
                .expect("running pip");
            assert!(
                out.status.success(),
                "pip install {} failed:\n{}",
                wanted.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        python
    })
}

/// Every document of every manifest under deploy/ (by file), spin.toml and
/// runtime-config/redis.toml, as JSON (`deploy/validate.py dump`).
fn files() -> &'static Value {
    static DUMP: OnceLock<Value> = OnceLock::new();
    DUMP.get_or_init(|| {
        let out = Command::new(python()).arg(root().join("deploy/validate.py")).arg("dump").output().unwrap();
        assert!(out.status.success(), "validate.py dump failed:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    })
}

fn manifests() -> Vec<(&'static str, &'static Value)> {
    let mut docs = Vec::new();
    for (file, list) in files()["manifests"].as_object().unwrap() {
        for doc in list.as_array().unwrap() {
            docs.push((file.as_str(), doc));
        }
    }
    docs
}

/// The one document of `kind` named `name` under `dir` (deploy/kubernetes or deploy/spinkube).
fn object(dir: &str, kind: &str, name: &str) -> &'static Value {
    let found: Vec<_> = manifests()
        .into_iter()
        .filter(|(f, d)| f.starts_with(dir) && d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "{kind}/{name} in {dir}: found {}", found.len());
    found[0].1
}

fn up_help() -> &'static str {
    static HELP: OnceLock<String> = OnceLock::new();
    HELP.get_or_init(|| {
        let out = Command::new(env!("CARGO_BIN_EXE_blocklist-edge")).args(["up", "--help"]).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    })
}

/// The environment variables `up` reads that are no flag's: each with the source file that
/// reads it.
const NON_FLAG_ENV: &[(&str, &str)] = &[("BLOCKLIST_EDGE_CACHE_DIR", "src/wasm_cache.rs")];

fn assert_up_reads(name: &str, whose: &str) {
    if let Some((_, source)) = NON_FLAG_ENV.iter().find(|(n, _)| *n == name) {
        let text = std::fs::read_to_string(root().join(source)).unwrap();
        assert!(text.contains(&format!("\"{name}\"")), "{whose}: {name} is not read by {source}");
        return;
    }
    assert!(
        up_help().contains(&format!("[env: {name}=")),
        "{whose}: {name} is no environment variable of `blocklist-edge up` (see `up --help`)"
    );
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The host container of the Deployment.
fn host_container() -> &'static Value {
    let deployment = object("deploy/kubernetes", "Deployment", "blocklist-edge");
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

/// The host container's environment: the ConfigMaps it takes whole, then its own entries
/// (a Secret's value as the Secret manifest gives it).
fn host_env() -> BTreeMap<String, String> {
    let c = host_container();
    let mut env = BTreeMap::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let name = str_of(&from["configMapRef"]["name"]);
        let map = object("deploy/kubernetes", "ConfigMap", name);
        for (k, v) in map["data"].as_object().unwrap() {
            assert!(env.insert(k.clone(), str_of(v).to_owned()).is_none(), "{k} set twice");
        }
    }
    for e in c["env"].as_array().into_iter().flatten() {
        let name = str_of(&e["name"]).to_owned();
        let value = if let Some(v) = e.get("value") {
            str_of(v).to_owned()
        } else {
            let r = &e["valueFrom"]["secretKeyRef"];
            let secret = object("deploy/kubernetes", "Secret", str_of(&r["name"]));
            let v = &secret["stringData"][str_of(&r["key"])];
            assert!(v.is_string(), "Secret {} has no key {}", r["name"], r["key"]);
            str_of(v).to_owned()
        };
        assert!(env.insert(name.clone(), value).is_none(), "{name} set twice");
    }
    env
}

/// Runs `cmd`; with `unshare -n` (no network at all) where this machine allows it.
fn offline(cmd: &[&Path]) -> (std::process::Output, bool) {
    let unshare = Command::new("unshare").args(["-n", "true"]).output().is_ok_and(|o| o.status.success());
    let mut c = if unshare {
        let mut c = Command::new("unshare");
        c.arg("-n").args(cmd);
        c
    } else {
        let mut c = Command::new(cmd[0]);
        c.args(&cmd[1..]);
        c
    };
    // Without unshare: any HTTP(S) request would go to a closed port.
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"] {
        c.env(var, "http://127.0.0.1:9");
    }
    (c.output().unwrap(), unshare)
}

#[test]
fn manifests_validate_offline_against_the_kubernetes_schemas_and_the_spinapp_crd() {
    let script = root().join("deploy/validate.py");
    let (out, unshared) = offline(&[python(), &script]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}(network: {})", if unshared { "none (unshare -n)" } else { "proxies to a closed port" });
    assert!(
        out.status.success(),
        "deploy/validate.py found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every document was validated, none skipped.
    let docs = manifests().len();
    assert!(docs >= 11, "only {docs} documents under deploy/");
    assert!(
        stdout.contains(&format!("\n{docs} valid, 0 findings")),
        "not every one of {docs} documents was validated:\n{stdout}"
    );
    for kind in ["Deployment", "Service", "ConfigMap", "Secret", "StatefulSet", "SpinApp"] {
        assert!(stdout.contains(&format!(": {kind}/")), "no {kind} validated");
    }
}

#[test]
fn the_deployment_agrees_with_the_binary_the_dockerfile_and_valkey() {
    let env = host_env();
    for name in env.keys() {
        assert_up_reads(name, "deploy/kubernetes/blocklist-edge.yaml");
    }
    let c = host_container();
    assert_eq!(c["args"], json!(["up"]));

    // The port: listened on all addresses, named `http`, probed and served through that name.
    let listen = &env["BLOCKLIST_EDGE_LISTEN"];
    let port: u64 = listen.strip_prefix("0.0.0.0:").expect("a pod listens on 0.0.0.0").parse().unwrap();
    let ports = c["ports"].as_array().unwrap();
    assert!(ports.iter().any(|p| p["name"] == "http" && p["containerPort"] == port), "no port http = {port}");
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let get = &c[probe]["httpGet"];
        assert!(get["port"] == "http" || get["port"] == port, "{probe} on port {}", get["port"]);
        assert!(get["path"].is_string(), "{probe} has no HTTP path");
    }
    let service = object("deploy/kubernetes", "Service", "blocklist-edge");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let pod = &object("deploy/kubernetes", "Deployment", "blocklist-edge")["spec"]["template"];
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v, "the Service does not select the pods");
    }

    // Graceful termination: the pause before SIGTERM plus the host's grace fit in the pod's.
    let grace_ms: u64 = env["BLOCKLIST_EDGE_SHUTDOWN_GRACE_MS"].parse().unwrap();
    let pre_stop = &c["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(pre_stop[0], "sleep");
    let pause_ms: u64 = str_of(&pre_stop[1]).parse::<u64>().unwrap() * 1000;
    let pod_grace_ms = pod["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap() * 1000;
    assert!(
        pod_grace_ms >= pause_ms + grace_ms + 5_000,
        "terminationGracePeriodSeconds {pod_grace_ms} ms < preStop {pause_ms} + grace {grace_ms} + 5000"
    );

    // A read-only root: the data and cache directories are on the pod's volumes.
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let mounts: Vec<&str> = c["volumeMounts"].as_array().unwrap().iter().map(|m| str_of(&m["mountPath"])).collect();
    for var in ["BLOCKLIST_EDGE_DATA_DIR", "BLOCKLIST_EDGE_CACHE_DIR"] {
        assert!(mounts.iter().any(|m| env[var].starts_with(&format!("{m}/"))), "{var}={} is on no volume", env[var]);
    }

    // The Dockerfile: its environment is `up`'s too, its user is the pod's, its Rust is the
    // workspace's rust-version, its runtime the same Debian as the build.
    let dockerfile = std::fs::read_to_string(root().join("deploy/Dockerfile")).unwrap();
    let docker_env: Vec<&str> = dockerfile
        .split(|c: char| c.is_whitespace() || c == '\\')
        .filter_map(|w| w.split_once('=').map(|(k, _)| k))
        .filter(|k| k.starts_with("BLOCKLIST_EDGE_"))
        .collect();
    assert!(docker_env.len() >= 3, "{docker_env:?}");
    for name in docker_env {
        assert_up_reads(name, "deploy/Dockerfile");
    }
    let user = dockerfile.lines().find_map(|l| l.strip_prefix("USER ")).expect("the Dockerfile sets a USER");
    let uid = user.split(':').next().unwrap();
    assert_ne!(uid, "0");
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"].to_string(), uid);
    assert_eq!(pod["spec"]["securityContext"]["runAsNonRoot"], true);
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let rust = cargo.lines().find_map(|l| l.strip_prefix("rust-version = ")).unwrap().trim_matches('"');
    assert!(dockerfile.contains(&format!("FROM rust:{rust}-bookworm AS build")), "the build image is not Rust {rust}");
    assert!(dockerfile.contains("\nFROM debian:bookworm-slim\n"));
    assert!(dockerfile.contains(r#"CMD ["up"]"#));

    // Valkey: both URLs name its Service; it is persistent (AOF on a claimed volume), never
    // evicts, and admits the host's pods.
    let valkey = object("deploy/kubernetes", "Service", "valkey");
    let valkey_port = &valkey["spec"]["ports"][0]["port"];
    for var in ["BLOCKLIST_EDGE_KV_URL", "BLOCKLIST_EDGE_REDIS_URL"] {
        assert_eq!(env[var], format!("redis://valkey:{valkey_port}"), "{var}");
    }
    assert_eq!(env["BLOCKLIST_EDGE_RATE_LIMIT_STORE"], "data", "replicas must share one rate limit");
    let set = object("deploy/kubernetes", "StatefulSet", "valkey");
    assert_eq!(set["spec"]["serviceName"], "valkey");
    let server = &set["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = server["args"].as_array().unwrap().iter().map(str_of).collect();
    let arg = |flag: &str| args.iter().position(|a| *a == flag).map(|i| args[i + 1]);
    assert_eq!(arg("--appendonly"), Some("yes"));
    assert_eq!(arg("--maxmemory-policy"), Some("noeviction"));
    assert_eq!(arg("--port").map(str::to_owned), Some(valkey_port.to_string()));
    let claim = str_of(&set["spec"]["volumeClaimTemplates"][0]["metadata"]["name"]);
    let data_mount = server["volumeMounts"].as_array().unwrap().iter().find(|m| m["name"] == claim).unwrap();
    assert_eq!(arg("--dir"), data_mount["mountPath"].as_str());
    let policy = object("deploy/kubernetes", "NetworkPolicy", "valkey");
    for (k, v) in policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][k], v, "the NetworkPolicy does not admit the hosts");
        let spin = object("deploy/spinkube", "SpinApp", "blocklist-edge-spin");
        assert_eq!(&spin["spec"]["podLabels"][k], v, "the NetworkPolicy does not admit the SpinApp");
    }
}

/// A host started as the Deployment's container starts it: the container's arguments (`up`)
/// and the environment given (the Deployment's, with what a test machine needs instead), its
/// own data directory; stopped when dropped.
struct Replica {
    child: Child,
    api: Api,
    _data: tempfile::TempDir,
}

impl Replica {
    fn start(env: &BTreeMap<String, String>) -> Replica {
        let data = tempfile::tempdir().unwrap();
        let mut child = Self::command(env, data.path()).stdout(Stdio::piped()).spawn().unwrap();
        let Some(base) = common::listening_address(child.stdout.take().unwrap(), Duration::from_secs(120)) else {
            let _ = child.kill();
            panic!("the host started with the Deployment's environment did not listen within 120 s");
        };
        Replica { child, api: Api::new(&base), _data: data }
    }

    fn command(env: &BTreeMap<String, String>, data: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_blocklist-edge"));
        cmd.args(host_container()["args"].as_array().unwrap().iter().map(str_of));
        // Only the manifest's settings: none of this process's BLOCKLIST_EDGE_* leak in.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("BLOCKLIST_EDGE_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env).env("BLOCKLIST_EDGE_DATA_DIR", data).env("BLOCKLIST_EDGE_LOG", "warn");
        cmd
    }

    /// Sends SIGTERM; the exit status, once the host has exited (at most `within`).
    fn terminate(&mut self, within: Duration) -> std::process::ExitStatus {
        let sent = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the host did not exit within {within:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_deployments_host_refuses_the_placeholder_answers_its_probes_and_shares_its_store() {
    let manifest = host_env();
    let redis = jobqueue::testing::RedisServer::new();

    // The Secret's placeholder is refused at start, with the reason.
    let mut env = manifest.clone();
    env.insert("BLOCKLIST_EDGE_LISTEN".into(), "127.0.0.1:0".into());
    for var in ["BLOCKLIST_EDGE_KV_URL", "BLOCKLIST_EDGE_REDIS_URL"] {
        env.insert(var.into(), redis.url());
    }
    // The machine code cache the other tests share (a cold one costs only time).
    env.remove("BLOCKLIST_EDGE_CACHE_DIR");
    let data = tempfile::tempdir().unwrap();
    let mut child = Replica::command(&env, data.path()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success() && stderr.contains("64 hex digits"),
        "the placeholder was not refused ({status}): {stderr}"
    );

    // With a real hash: two replicas of the Deployment on one Valkey (here redis-server).
    env.insert("BLOCKLIST_EDGE_ADMIN_TOKEN_SHA256".into(), sha256_hex(ADMIN_TOKEN.as_bytes()));
    let mut a = Replica::start(&env);
    let b = Replica::start(&env);
    let c = host_container();
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let path = str_of(&c[probe]["httpGet"]["path"]);
        let r = a.api.client().get(a.api.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{probe} GET {path}");
    }
    let metrics = a.api.get("/metrics", ADMIN_TOKEN).send().unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().unwrap().contains("blocklist_edge_"));
    // A user created through one replica is known to the other: the store is the shared one.
    let (id, token) = a.api.create_user("deployed");
    let me: Value = b.api.get("/v1/me", &token).send().unwrap().json().unwrap();
    assert_eq!(me["user"]["id"], json!(id), "{me}");

    // SIGTERM (after the preStop pause): the host exits by itself within its grace.
    let grace = Duration::from_millis(manifest["BLOCKLIST_EDGE_SHUTDOWN_GRACE_MS"].parse().unwrap());
    let status = a.terminate(grace + Duration::from_secs(5));
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
fn the_spinapp_binds_spin_toml_as_runtime_config_redis_toml_does() {
    let spin = &files()["spin_toml"];
    let app = object("deploy/spinkube", "SpinApp", "blocklist-edge-spin");
    let spec = &app["spec"];
    assert_eq!(spec["executor"], "containerd-shim-spin");
    let declared = spin["variables"].as_object().unwrap();

    // Variables: each one spin.toml declares, each secret one from a Secret under deploy/spinkube,
    // and every variable without a default bound.
    let mut bound = BTreeSet::new();
    let secret_value = |r: &Value| -> String {
        let secret = object("deploy/spinkube", "Secret", str_of(&r["name"]));
        let v = &secret["stringData"][str_of(&r["key"])];
        assert!(v.is_string(), "Secret {} has no key {}", r["name"], r["key"]);
        str_of(v).to_owned()
    };
    for var in spec["variables"].as_array().unwrap() {
        let name = str_of(&var["name"]);
        let decl = declared.get(name).unwrap_or_else(|| panic!("{name} is not a variable of spin.toml"));
        assert!(bound.insert(name), "{name} bound twice");
        if decl["secret"] == true {
            secret_value(&var["valueFrom"]["secretKeyRef"]);
        }
    }
    for (name, decl) in declared {
        if decl["required"] == true || decl.get("default").is_none() {
            assert!(bound.contains(name.as_str()), "spin.toml's {name} has no default and is not bound");
        }
    }

    // Stores: exactly those the components use; those runtime-config/redis.toml puts on Redis on
    // the Valkey the Redis trigger uses too; the node-local cache in memory.
    let used: BTreeSet<&str> = spin["component"]
        .as_object()
        .unwrap()
        .values()
        // A component without stores (the dashboard) names none.
        .flat_map(|c| c["key_value_stores"].as_array().map(|stores| stores.iter().map(str_of)).into_iter().flatten())
        .collect();
    let stores = spec["runtimeConfig"]["keyValueStores"].as_array().unwrap();
    let named: BTreeSet<&str> = stores.iter().map(|s| str_of(&s["name"])).collect();
    assert_eq!(named, used, "the SpinApp's key-value stores are not the ones spin.toml uses");
    let reference = files()["runtime_config_redis"]["key_value_store"].as_object().unwrap();
    let redis_address = spec["variables"].as_array().unwrap().iter().find(|v| v["name"] == "redis_address").unwrap();
    for store in stores {
        let name = str_of(&store["name"]);
        assert_eq!(
            store["type"], reference[name]["type"],
            "store {name}: not the type runtime-config/redis.toml gives it"
        );
        let options = store["options"].as_array().cloned().unwrap_or_default();
        match str_of(&store["type"]) {
            "redis" => {
                let url = options.iter().find(|o| o["name"] == "url").expect("a redis store's url");
                assert_eq!(
                    url["valueFrom"], redis_address["valueFrom"],
                    "store {name} is not on the job channel's server"
                );
                assert!(secret_value(&url["valueFrom"]["secretKeyRef"]).starts_with("redis://"));
            }
            "spin" => assert!(options.is_empty(), "store {name}: a path would make it a file, not memory"),
            other => panic!("store {name}: type {other}"),
        }
    }

    // The checks probe what the Deployment probes, a path the gateway answers unauthenticated
    // (checked on a running host by the test above).
    let deployment_path = &host_container()["readinessProbe"]["httpGet"]["path"];
    for check in ["readiness", "liveness"] {
        assert_eq!(&spec["checks"][check]["httpGet"]["path"], deployment_path, "{check}");
    }
}
