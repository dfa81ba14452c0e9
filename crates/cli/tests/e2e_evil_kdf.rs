//! End to end, malicious server: KDF downgrade (THREATS.md (a), BW07, LP04, 1P04, DL04). The
//! real `coffer` binary logs in to a real `coffer server` through the tampering proxy, which
//! lowers the KSF (Argon2id) parameters of the `login/start` answer below the client's floor.
//! Login must abort before anything computed from the password with those parameters leaves
//! the device: the proxy sees no `login/finish`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/proxy.rs"]
mod proxy;

use std::sync::Arc;

use common::{DataDir, Server, User};
use proxy::{JsonTamper, Mode, Proxy};
use serde_json::{Value, json};

#[test]
fn ksf_below_the_floor_aborts_login_before_anything_derived_is_sent() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let proxy = Proxy::start(&server.url);
    let mut u = User::new(&server, "kdfvictim");
    u.server = proxy.url.clone();
    u.signup();
    let floor = coffer_client::ksf::KSF_FLOOR;
    for (field, value) in [
        ("m_kib", u64::from(floor.m_kib) - 1),
        ("m_kib", 8),
        ("t", u64::from(floor.t) - 1),
    ] {
        proxy.set_mode(Mode::JsonPost(JsonTamper(
            "/login/start".into(),
            Arc::new(move |v: &mut Value| {
                if v.get("ksf").is_none() {
                    return false;
                }
                v["ksf"][field] = json!(value);
                true
            }),
        )));
        let applied = proxy.applied();
        let before = proxy.requests().len();
        let r = u.login();
        assert!(!r.ok, "{field} = {value}: {r:#?}");
        assert!(r.stderr.contains("floor"), "{r:#?}");
        assert_eq!(proxy.applied(), applied + 1, "the tamper did not run");
        let sent: Vec<String> = proxy.requests()[before..]
            .iter()
            .map(|(m, p, _)| format!("{m} {p}"))
            .collect();
        assert!(
            sent.iter().all(|p| !p.contains("login/finish")),
            "{field} = {value}: a password-derived login message left the device: {sent:?}"
        );
    }
    // the same login through an honest proxy goes through (the finish step is sent)
    proxy.set_mode(Mode::Pass);
    let before = proxy.requests().len();
    u.login().success();
    assert!(
        proxy.requests()[before..]
            .iter()
            .any(|(_, p, _)| p.ends_with("/login/finish"))
    );
}
