//! Sharing, replication and rotation load harness (run by hand, not in CI), issue 5.
//!
//! ```text
//! cargo build --release -p coffer-cli --bin coffer --example share_load
//! target/release/examples/share_load                      # 50 members × 3 devices, 100 vaults, 2000 items
//! target/release/examples/share_load --members 10 --devices-per-member 1 --vaults 20 --items 500
//! target/release/examples/share_load --items 10000        # the full-size rotation (~12 min of setup)
//! ```
//!
//! It starts its own `coffer server` (the built binary, a temporary data dir, loopback) and
//! drives everything through the SDK (`coffer_client::Client`, one temporary profile folder per
//! device, file keystore, KSF at the floor):
//!
//! - setup: an owner signs up and creates a workspace; `--members` users sign up, accept their
//!   invite and are confirmed by the owner (attestation of the fingerprint they show); each
//!   member gets `--devices-per-member` extra devices, logged in and approved by their first
//!   device (short-code approval, which certifies the device);
//! - (a) **share**: a workspace vault of the owner shared with every member as viewer: the
//!   `vault_share` calls timed in total, with the grants they issued (identity + certified
//!   devices of each member);
//! - (b) **replicate**: a user holding `--vaults` vaults logs in on a new device; the approver's
//!   `approve_finish` (sync, certify, seal every held vault key to the device, one request) and
//!   the new device's first `sync()` (which opens them) are timed separately;
//! - (c) **rotate**: the shared vault filled with `--items` login items, then `vault_rotate`
//!   (sync, fresh key granted to every trusted member and device, every item re-sealed, one
//!   request); items/s, extrapolated linearly to 10,000 items when `--items` is smaller.
//!
//! and prints a table against the issue's targets (share with 50 members / ~150 devices < 2 s,
//! 100 vault keys to a new device < 1 s, rotation of 10,000 items < 5 s). It only talks to the
//! loopback server it starts, and stops by itself.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coffer_client::{Client, ItemData, ItemType, Profile};
use coffer_crypto::secret::Password;
use coffer_proto::Role;
use coffer_proto::vault::VaultRole;

#[path = "harness/mod.rs"]
mod harness;

use harness::start_server;

const CHILD_MARK: &str = "SHARE_LOAD_CHILD";
const WORKSPACE: &str = "load-team";
const SHARED: &str = "team";

struct Args {
    members: usize,
    devices_per_member: usize,
    vaults: usize,
    items: usize,
}

fn args() -> Args {
    let mut a = Args {
        members: 50,
        devices_per_member: 2,
        vaults: 100,
        items: 2000,
    };
    let mut it = std::env::args().skip(1);
    let num = |v: Option<String>, d: usize| v.and_then(|p| p.parse().ok()).unwrap_or(d);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--members" => a.members = num(it.next(), a.members),
            "--devices-per-member" => {
                a.devices_per_member = num(it.next(), a.devices_per_member);
            }
            "--vaults" => a.vaults = num(it.next(), a.vaults),
            "--items" => a.items = num(it.next(), a.items),
            other => panic!("unknown argument {other:?} (see the top of share_load.rs)"),
        }
    }
    a
}

fn main() {
    harness::in_private_env(CHILD_MARK);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args()));
}

fn password() -> Password {
    Password::new("load-test-password-1".into())
}

struct Env {
    root: PathBuf,
    url: String,
    next: usize,
}

impl Env {
    /// A client on a fresh profile folder (one install).
    fn install(&mut self) -> Client {
        self.next += 1;
        let name = format!("p{}", self.next);
        Client::with_profile(
            Profile::open_in(&self.root, &name).unwrap(),
            Some(&self.url),
        )
        .unwrap()
    }

    async fn signup(&mut self, email: &str) -> Client {
        let mut c = self.install();
        c.signup(email, &password(), Some("first")).await.unwrap();
        c
    }

    /// A new install of `email`, logged in (pending) and approved by `approver`; returns the
    /// new client, the approval's grant count and the time `approve_finish` took.
    async fn add_device(
        &mut self,
        approver: &mut Client,
        email: &str,
        name: &str,
    ) -> (Client, usize, Duration) {
        let mut c = self.install();
        c.login(email, &password(), Some(name)).await.unwrap();
        let pending = approver.pending_devices().await.unwrap();
        let mine = c.config().device_id.expect("a device id after login");
        let p = pending
            .iter()
            .find(|p| p.device_id == mine)
            .expect("the new device is pending");
        approver.approve_start(p.device_id).await.unwrap();
        let code = c.approval_code().await.unwrap().expect("an approval code");
        let t = Instant::now();
        let approval = approver.approve_finish(p.device_id, &code).await.unwrap();
        let took = t.elapsed();
        (c, approval.grants, took)
    }
}

struct Row(String, String, String);

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn login_item(i: usize) -> ItemData {
    let mut d = ItemData::new(ItemType::Login, format!("Service {i:05}"));
    d.username = Some(format!("user{i}@example.com"));
    d.password = Some(format!("Xq7#pL9!vR2@mN5$wT8&kZ3^bY6*{i:06}"));
    d.urls = vec![format!("https://login.service{i}.example/")];
    d.notes = Some(format!("Account number {i:08}."));
    d.tags = vec!["work".into()];
    d
}

async fn run(a: Args) {
    let data = tempfile::tempdir().unwrap();
    let (own, url) = start_server(&data.path().join("data"));
    let profiles = tempfile::tempdir().unwrap();
    let mut env = Env {
        root: profiles.path().to_owned(),
        url: url.clone(),
        next: 0,
    };
    eprintln!(
        "server {url}: {} members × (1 + {}) devices, {} vaults, {} items",
        a.members, a.devices_per_member, a.vaults, a.items
    );
    let mut rows = Vec::new();

    // --- setup: owner, workspace, members, their devices -----------------------------------
    let t_setup = Instant::now();
    let mut owner = env.signup("owner@load.test").await;
    owner.workspace_create(WORKSPACE).await.unwrap();
    let mut members = Vec::new();
    let mut extra_devices = 0;
    for i in 0..a.members {
        let email = format!("member{i:03}@load.test");
        owner.invite(WORKSPACE, &email, Role::Member).await.unwrap();
        let mut m = env.signup(&email).await;
        m.accept(WORKSPACE).await.unwrap();
        let mi = owner.member_identity(WORKSPACE, &email).await.unwrap();
        // the phrase the member reads from their own device
        owner
            .confirm_member(&mi, &m.fingerprint().unwrap())
            .await
            .unwrap();
        for k in 0..a.devices_per_member {
            let _ = env.add_device(&mut m, &email, &format!("dev{k}")).await;
            extra_devices += 1;
        }
        members.push((email, m));
        if (i + 1) % 10 == 0 {
            eprintln!(
                "  {} members set up, {:.1} s",
                i + 1,
                t_setup.elapsed().as_secs_f64()
            );
        }
    }
    let devices = a.members + extra_devices;
    eprintln!(
        "setup: {} members, {devices} member devices in {:.1} s",
        a.members,
        t_setup.elapsed().as_secs_f64()
    );

    // --- (a) share one workspace vault with every member ------------------------------------
    owner.vault_create(SHARED, Some(WORKSPACE)).await.unwrap();
    let mut grants = 0;
    let mut worst = Duration::ZERO;
    let t = Instant::now();
    for (email, _) in &members {
        let t1 = Instant::now();
        let r = owner
            .vault_share(SHARED, email, VaultRole::Viewer)
            .await
            .unwrap();
        worst = worst.max(t1.elapsed());
        grants += r.grants;
    }
    let share = t.elapsed();
    rows.push(Row(
        format!(
            "(a) share with {} members ({devices} devices): all grants",
            a.members
        ),
        secs(share),
        "< 2 s".into(),
    ));
    rows.push(Row(
        "    grants issued / grants per second".into(),
        format!(
            "{grants} / {:.0} per s",
            grants as f64 / share.as_secs_f64()
        ),
        "-".into(),
    ));
    rows.push(Row(
        "    per vault_share call (mean / worst)".into(),
        format!(
            "{:.1} / {:.1} ms",
            share.as_secs_f64() * 1000.0 / a.members.max(1) as f64,
            worst.as_secs_f64() * 1000.0
        ),
        "-".into(),
    ));
    // what each vault_share starts with: the owner's sync (nothing changed), best of 5
    let mut delta = Duration::MAX;
    for _ in 0..5 {
        let t1 = Instant::now();
        owner.sync().await.unwrap();
        delta = delta.min(t1.elapsed());
    }
    rows.push(Row(
        "    owner's sync, nothing changed (each vault_share starts with one)".into(),
        format!("{:.1} ms", delta.as_secs_f64() * 1000.0),
        "-".into(),
    ));
    // (a') the same team share as one batch (`coffer vault share V --user A --user B …`):
    // one sync, one read of the members, one trust decision, one request per member
    const SHARED_BATCH: &str = "Shared in one batch";
    owner
        .vault_create(SHARED_BATCH, Some(WORKSPACE))
        .await
        .unwrap();
    let emails: Vec<&str> = members.iter().map(|(e, _)| e.as_str()).collect();
    let t = Instant::now();
    let reports = owner
        .vault_share_many(SHARED_BATCH, &emails, VaultRole::Viewer)
        .await
        .unwrap();
    let batch = t.elapsed();
    let batch_grants: usize = reports.iter().map(|r| r.grants).sum();
    rows.push(Row(
        format!(
            "(a') the same share as one batch ({} members, {batch_grants} grants)",
            a.members
        ),
        secs(batch),
        "< 2 s".into(),
    ));
    // a member's first device receives the shared vault
    if let Some((_, m)) = members.first_mut() {
        let r = m.sync().await.unwrap();
        assert!(r.vaults >= 1, "the member sees the shared vault");
    }

    // --- (b) replicate N vault keys to a new device ----------------------------------------
    let holder_email = "holder@load.test";
    let mut holder = env.signup(holder_email).await;
    let t = Instant::now();
    for i in 0..a.vaults {
        holder
            .vault_create(&format!("v{i:03}"), None)
            .await
            .unwrap();
    }
    eprintln!(
        "created {} vaults in {:.1} s",
        a.vaults,
        t.elapsed().as_secs_f64()
    );
    let (mut fresh, keys, approve) = env.add_device(&mut holder, holder_email, "new").await;
    let t = Instant::now();
    let report = fresh.sync().await.unwrap();
    let first_sync = t.elapsed();
    assert_eq!(report.vaults, a.vaults, "the new device opens every vault");
    rows.push(Row(
        format!("(b) replicate: approve_finish ({keys} keys sealed + sent)"),
        secs(approve),
        format!("< 1 s for {} keys", a.vaults),
    ));
    rows.push(Row(
        format!(
            "    new device's first sync (opens {} vaults)",
            report.vaults
        ),
        secs(first_sync),
        "-".into(),
    ));
    rows.push(Row(
        "    both together".into(),
        secs(approve + first_sync),
        "< 1 s".into(),
    ));

    // --- (c) rotate the shared vault with `--items` items ------------------------------------
    let t = Instant::now();
    for i in 0..a.items {
        owner.item_create(SHARED, login_item(i)).await.unwrap();
        if (i + 1) % 500 == 0 {
            eprintln!(
                "  {} items, {:.0} items/s",
                i + 1,
                (i + 1) as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    eprintln!(
        "created {} items in {:.1} s",
        a.items,
        t.elapsed().as_secs_f64()
    );
    owner.sync().await.unwrap();
    let t = Instant::now();
    let epoch = owner.vault_rotate(SHARED).await.unwrap();
    let rotate = t.elapsed();
    assert_eq!(epoch, 2);
    let per_s = a.items as f64 / rotate.as_secs_f64();
    rows.push(Row(
        format!(
            "(c) rotate {} items (+ grants to {} members/{devices} devices)",
            a.items, a.members
        ),
        format!("{} ({per_s:.0} items/s)", secs(rotate)),
        "-".into(),
    ));
    if a.items < 10_000 && a.items > 0 {
        rows.push(Row(
            "    10,000 items, EXTRAPOLATED linearly (not measured)".into(),
            format!("~{:.1} s", 10_000.0 / per_s),
            "< 5 s".into(),
        ));
    } else {
        rows.push(Row(
            format!("    {} items, measured", a.items),
            secs(rotate),
            "< 5 s (10k)".into(),
        ));
    }
    // a member's device opens the rotated vault
    if let Some((_, m)) = members.first_mut() {
        m.sync().await.unwrap();
        let got = m.item_get("Service 00000", Some(SHARED)).await;
        assert!(got.is_ok() || a.items == 0, "{:?}", got.err());
    }

    println!();
    println!("{:<68} | {:<24} | goal", "measure", "value");
    println!("{}", "-".repeat(110));
    for Row(a, b, c) in rows {
        println!("{a:<68} | {b:<24} | {c}");
    }
    drop(own);
}
