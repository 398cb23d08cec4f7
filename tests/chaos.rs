//! Chaos (issue 15, part 14): mixed load — create, update, delete, compile, read — from several
//! clients while the host is killed with `kill -9` at random moments and started again on the
//! same data, for `BLOCKLIST_EDGE_CHAOS_SECS` (default 60) seconds. After every restart: every
//! list whose creation was answered and that no one tried to delete is listed and reads whole
//! (one of the texts written to it); every listed list reads; nothing answers 5xx. At the end:
//! every job ends done or dead with a reason, and the quota counts only lists that exist.
//! The seed is printed (`BLOCKLIST_EDGE_CHAOS_SEED` repeats a run's choices).

mod common;

use common::Host;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lists one user may own (the hosts' `--max-lists-per-user`).
const QUOTA: usize = 40;

fn args() -> [&'static str; 10] {
    common::crash_test_flags("40")
}

/// xorshift64*: the test's only source of choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the clients know: texts sent to each list (answered or not), lists whose creation was
/// answered, lists someone tried to delete, jobs answered.
#[derive(Default)]
struct Known {
    texts: BTreeMap<String, BTreeSet<String>>,
    created: BTreeSet<String>,
    deleting: BTreeSet<String>,
    jobs: BTreeSet<String>,
}

/// One client's load until the host stops answering (it was killed).
fn client(h: &Host, token: &str, known: &Mutex<Known>, seed: u64) {
    let mut rng = Rng(seed | 1);
    loop {
        let pick = |rng: &mut Rng, known: &Mutex<Known>| {
            let k = known.lock().unwrap();
            let live: Vec<&String> = k.created.iter().filter(|id| !k.deleting.contains(*id)).collect();
            (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize].clone())
        };
        let text = format!("||t{}.example^\n", rng.next() % 1_000_000);
        let sent = match rng.below(10) {
            0..=1 => {
                let r = h.post("/v1/lists", token).json(&json!({"name": "chaos", "rules": text})).send();
                match r {
                    Ok(r) if r.status() == 201 => {
                        let id = r.json::<Value>().map(|v| v["id"].as_str().unwrap_or_default().to_owned());
                        if let Ok(id) = id {
                            let mut k = known.lock().unwrap();
                            k.texts.entry(id.clone()).or_default().insert(text);
                            k.created.insert(id);
                        }
                        Ok(())
                    }
                    Ok(r) if r.status() == 409 => Ok(()),
                    Ok(r) => panic!("create answered {}: {}", r.status(), r.text().unwrap_or_default()),
                    Err(e) => Err(e),
                }
            }
            2..=4 => match pick(&mut rng, known) {
                Some(id) => {
                    known.lock().unwrap().texts.entry(id.clone()).or_default().insert(text.clone());
                    match h.put(&format!("/v1/lists/{id}"), token).json(&json!({"name": "chaos", "rules": text})).send()
                    {
                        Ok(r) => {
                            let deleted = r.status() == 404 && known.lock().unwrap().deleting.contains(&id);
                            assert!(
                                r.status() == 200 || deleted,
                                "update answered {}: {}",
                                r.status(),
                                r.text().unwrap_or_default()
                            );
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
                None => Ok(()),
            },
            5 => match pick(&mut rng, known) {
                Some(id) => {
                    known.lock().unwrap().deleting.insert(id.clone());
                    h.delete(&format!("/v1/lists/{id}"), token).send().map(|r| {
                        // 404: another client's delete of it came first.
                        assert!(r.status() == 204 || r.status() == 404, "delete answered {}", r.status());
                    })
                }
                None => Ok(()),
            },
            6..=7 => match pick(&mut rng, known) {
                Some(id) => h.post(&format!("/v1/lists/{id}/compile"), token).send().map(|r| {
                    assert!(r.status() == 202 || r.status() == 404, "compile answered {}", r.status());
                    if let Ok(v) = r.json::<Value>()
                        && let Some(job) = v["jobId"].as_str()
                    {
                        known.lock().unwrap().jobs.insert(job.to_owned());
                    }
                }),
                None => Ok(()),
            },
            _ => match pick(&mut rng, known) {
                Some(id) => h.get(&format!("/v1/lists/{id}"), token).send().map(|r| {
                    assert!(r.status() == 200 || r.status() == 404, "read answered {}", r.status());
                }),
                None => Ok(()),
            },
        };
        if sent.is_err() {
            return;
        }
    }
}

/// The invariants on a running host.
fn check(h: &Host, token: &str, known: &Known, round: usize) {
    let listed: Value = h.get("/v1/lists", token).send().unwrap().json().unwrap();
    let ids: BTreeSet<String> =
        listed["lists"].as_array().unwrap().iter().map(|l| l["id"].as_str().unwrap().to_owned()).collect();
    assert!(ids.len() <= QUOTA, "round {round}: {} lists over the quota", ids.len());
    for id in known.created.iter().filter(|id| !known.deleting.contains(*id)) {
        assert!(ids.contains(id), "round {round}: list {id} was created, never deleted, and is lost");
    }
    for id in &ids {
        let r = h.get(&format!("/v1/lists/{id}"), token).send().unwrap();
        assert_eq!(r.status(), 200, "round {round}: listed list {id} does not read: {}", r.text().unwrap());
        let rules = r.json::<Value>().unwrap()["rules"].as_str().unwrap_or_default().to_owned();
        if let Some(texts) = known.texts.get(id) {
            assert!(texts.contains(&rules), "round {round}: list {id} is torn: {rules:?}");
        }
    }
}

#[test]
fn mixed_load_survives_kill_9_at_random_moments() {
    let secs: u64 = std::env::var("BLOCKLIST_EDGE_CHAOS_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let seed: u64 = std::env::var("BLOCKLIST_EDGE_CHAOS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("chaos: {secs} s, seed {seed} (BLOCKLIST_EDGE_CHAOS_SEED={seed} repeats the choices)");
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let token = {
        let h = Host::start_in(dir.path(), &args());
        let (_, token) = h.create_user("chaos");
        h.kill();
        token
    };
    let known = Arc::new(Mutex::new(Known::default()));
    let until = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0;
    while Instant::now() < until {
        rounds += 1;
        let h = Arc::new(Host::start_in(dir.path(), &args()));
        check(&h, &token, &known.lock().unwrap(), rounds);
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let (h, token, known, seed) = (h.clone(), token.clone(), known.clone(), rng.next());
                std::thread::spawn(move || client(&h, &token, &known, seed))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300 + rng.below(2_500)));
        // kill -9 while the clients are mid-request.
        h.kill_now();
        for c in clients {
            c.join().unwrap();
        }
    }
    // The end: a host that is not killed; every job ends, the quota counts right.
    let h = Host::start_in(dir.path(), &args());
    let known = known.lock().unwrap();
    check(&h, &token, &known, rounds + 1);
    for job in &known.jobs {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let j = h.job(&token, job);
            match j["status"].as_str() {
                Some("done") => break,
                Some("dead") => {
                    assert!(j["lastError"].as_str().is_some_and(|e| !e.is_empty()), "dead without a reason: {j}");
                    break;
                }
                _ => assert!(Instant::now() < deadline, "job {job} is stuck: {j}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let listed: Value = h.get("/v1/lists", &token).send().unwrap().json().unwrap();
    let have = listed["lists"].as_array().unwrap().len();
    for n in have..QUOTA {
        let r = h.post("/v1/lists", &token).json(&json!({"name": format!("fill {n}"), "rules": ""})).send().unwrap();
        assert_eq!(r.status(), 201, "the quota counts a list that does not exist ({have} listed)");
    }
    println!("chaos: {rounds} kills, {} lists created, {} jobs", known.created.len(), known.jobs.len());
}
