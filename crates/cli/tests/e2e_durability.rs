//! End to end, durability: a restart loses nothing, and a `kill -9` in the middle of a burst of
//! concurrent writes loses no acknowledged write and leaves the audit chain intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{DataDir, Server, User, contains, files_under, unique};

fn workspace_names(u: &User) -> Vec<String> {
    u.json(&["workspace", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn restart_and_sigkill_during_a_burst() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let mut owner = User::new(&server, "dur-owner");
    let mut guest = User::new(&server, "dur-guest");
    owner.signup();
    guest.signup();
    let ws = unique("durable");
    owner.run(&["workspace", "create", &ws]).success();
    owner
        .run(&[
            "workspace",
            "invite",
            &ws,
            &guest.email,
            "--role",
            "developer",
        ])
        .success();
    guest.run(&["workspace", "accept", &ws]).success();
    let mut logs = vec![server.log.clone()];

    // a graceful restart on the same data folder loses nothing
    server.stop();
    let server = Server::start(&data, &[]);
    logs.push(server.log.clone());
    owner.set_server(&server);
    guest.set_server(&server);
    // the session survived, and so did the account (a fresh login works)
    owner.json(&["status"]);
    owner.run(&["logout"]).success();
    owner.login().success();
    assert!(workspace_names(&owner).contains(&ws));
    let members = owner.json(&["workspace", "members", &ws]);
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["email"] == guest.email.as_str() && m["role"] == "developer")
    );
    assert_eq!(owner.json(&["audit", "verify"])["ok"], true);

    // a burst of concurrent writes, and kill -9 in the middle of it
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let n_acked = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let owner = Arc::new(owner);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (owner, acked, n_acked, failed) = (
                owner.clone(),
                acked.clone(),
                n_acked.clone(),
                failed.clone(),
            );
            std::thread::spawn(move || {
                for i in 0..12 {
                    let name = unique(&format!("burst-{t}-{i}"));
                    let r = owner.run(&["workspace", "create", &name]);
                    if r.ok {
                        acked.lock().unwrap().push(name);
                        n_acked.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while n_acked.load(Ordering::SeqCst) < 20 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at_kill = n_acked.load(Ordering::SeqCst);
    server.kill9();
    for t in threads {
        t.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    println!(
        "burst: {at_kill} acknowledged when killed, {} acknowledged in all, {} failed",
        acked.len(),
        failed.load(Ordering::SeqCst)
    );
    assert!(at_kill >= 20, "the burst was too slow to reach 20 writes");
    assert!(
        failed.load(Ordering::SeqCst) > 0,
        "the kill did not land during the burst"
    );

    let server = Server::start(&data, &[]);
    logs.push(server.log.clone());
    let mut owner = Arc::try_unwrap(owner).ok().unwrap();
    owner.set_server(&server);
    let names = workspace_names(&owner);
    for name in &acked {
        assert!(names.contains(name), "acknowledged write {name} lost");
    }
    assert!(names.contains(&ws));
    let v = owner.json(&["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["entries"].as_i64().unwrap() > acked.len() as i64);
    let human = owner.run(&["audit", "verify"]).success();
    assert!(human.stdout.contains("intact"), "{}", human.stdout);

    // no typed password in the data folder or in any of the three logs
    server.stop();
    let mut files = files_under(data.path());
    files.extend(logs);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for pw in [&owner.password, &guest.password] {
            assert!(
                !contains(&bytes, pw.as_bytes()),
                "password in {}",
                f.display()
            );
        }
    }
}
