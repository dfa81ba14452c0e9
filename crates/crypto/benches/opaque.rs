//! A full OPAQUE login (both sides, KE1 → KE3) against raw Argon2id with the same parameters:
//! the difference is what OPAQUE itself costs on top of the KSF.
//!
//! `cargo bench -p coffer-crypto --bench opaque`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use coffer_crypto::Password;
use coffer_crypto::opaque::{
    KsfParams, ServerSetup, UserId, client_login_finish, client_login_start,
    client_register_finish, client_register_start, server_login_finish, server_login_start,
    server_register_finish, server_register_start,
};
use divan::Bencher;

const CONTEXT: &[u8] = b"coffer.login.v1";

fn main() {
    divan::main();
}

fn params(name: &str) -> KsfParams {
    match name {
        "default" => KsfParams::DEFAULT,
        _ => KsfParams::FLOOR,
    }
}

#[divan::bench(args = ["default", "floor"], sample_count = 10, sample_size = 1)]
fn full_login(bencher: Bencher, ksf: &str) {
    let ksf = params(ksf);
    let setup = ServerSetup::generate();
    let user = UserId::from_email("alice@example.com").unwrap();
    let password = Password::new("correct horse battery staple".into());
    let (state, request) = client_register_start(&password).unwrap();
    let response = server_register_start(&setup, &request, &user).unwrap();
    let (upload, _) = client_register_finish(state, &password, &response, &ksf, &user).unwrap();
    let file = server_register_finish(&upload).unwrap();

    bencher.bench_local(|| {
        let (state, ke1) = client_login_start(&password).unwrap();
        let (server_state, ke2) =
            server_login_start(&setup, Some(&file), &ke1, &user, CONTEXT).unwrap();
        let (ke3, session, _) =
            client_login_finish(state, &password, &ke2, &ksf, &user, CONTEXT).unwrap();
        let server_session = server_login_finish(server_state, &ke3).unwrap();
        assert_eq!(session, server_session);
    });
}

#[divan::bench(args = ["default", "floor"], sample_count = 10, sample_size = 1)]
fn raw_argon2id(bencher: Bencher, ksf: &str) {
    let ksf = params(ksf);
    let argon2 = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(ksf.m_kib(), ksf.t(), ksf.p(), Some(64)).unwrap(),
    );
    // What OPAQUE's KSF does: a 64-byte input, an all-zero 16-byte salt, a 64-byte output.
    let input = [0x42u8; 64];
    bencher.bench_local(|| {
        let mut out = [0u8; 64];
        argon2
            .hash_password_into(&input, &[0u8; 16], &mut out)
            .unwrap();
        divan::black_box(out)
    });
}
