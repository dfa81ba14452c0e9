//! End to end, workspaces: invites, accepting by workspace name, role changes, removal, the
//! last-owner rule, and the whole role × action matrix of `docs/api.md`, each cell checked
//! through the real CLI's exit status and error code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{DataDir, Run, Server, User, unique};

/// A string field of member `email` in `coffer workspace members WS --json`.
fn member_field(u: &User, ws: &str, email: &str, field: &str) -> Option<String> {
    let members = u.json(&["workspace", "members", ws]);
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == email)
        .map(|m| m[field].as_str().unwrap().to_owned())
}

fn member_role(u: &User, ws: &str, email: &str) -> Option<String> {
    member_field(u, ws, email, "role")
}

#[test]
fn invites_roles_and_removal() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let owner = User::new(&server, "owner");
    let ana = User::new(&server, "ana");
    let ben = User::new(&server, "ben");
    owner.signup();
    ana.signup();
    ben.signup();
    let ws = unique("acme");

    let created = owner.json(&["workspace", "create", &ws]);
    assert_eq!(created["name"], ws.as_str());
    owner
        .run(&["workspace", "create", &ws])
        .fails_with("conflict");
    let list = owner.json(&["workspace", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == ws.as_str() && w["role"] == "owner")
    );

    // invite by NAME EMAIL and by --workspace
    owner
        .run(&["workspace", "invite", &ws, &ana.email, "--role", "member"])
        .success();
    owner
        .run(&[
            "workspace",
            "invite",
            &ben.email,
            "--role",
            "admin",
            "--workspace",
            &ws,
        ])
        .success();
    owner
        .run(&["workspace", "invite", &ws, &ana.email, "--role", "boss"])
        .success_if(false);

    let invites = ana.json(&["workspace", "invites"]);
    let inv = invites
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["workspace_name"] == ws.as_str())
        .unwrap()
        .clone();
    assert_eq!(inv["role"], "member");
    assert_eq!(inv["invited_by"], owner.email.as_str());
    // nobody but the invitee can accept; nonsense names are not found
    owner
        .run(&["workspace", "accept", &ws])
        .fails_with("not_found");
    ana.run(&["workspace", "accept", "no-such-workspace"])
        .fails_with("not_found");
    ana.run(&["workspace", "accept", &ws]).success();
    ben.run(&["workspace", "accept", &ws]).success();
    let list = ana.json(&["workspace", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == ws.as_str() && w["role"] == "member")
    );
    assert_eq!(
        member_role(&owner, &ws, &ana.email).as_deref(),
        Some("member")
    );
    assert_eq!(
        member_role(&owner, &ws, &ben.email).as_deref(),
        Some("admin")
    );
    let human = owner.run(&["workspace", "members", &ws]).success();
    assert!(human.stdout.contains(&ana.email) && human.stdout.contains("admin"));

    // role changes
    owner
        .run(&["workspace", "role", &ws, &ana.email, "developer"])
        .success();
    assert_eq!(
        member_role(&owner, &ws, &ana.email).as_deref(),
        Some("developer")
    );
    ana.run(&["workspace", "role", &ws, &ben.email, "member"])
        .fails_with("forbidden");
    owner
        .run(&["workspace", "role", &ws, "nobody@e2e.test", "member"])
        .fails_with("not_found");

    // the last owner can neither leave nor be demoted
    owner
        .run(&["workspace", "remove", &ws, &owner.email])
        .fails_with("conflict");
    owner
        .run(&["workspace", "role", &ws, &owner.email, "admin"])
        .fails_with("conflict");

    // removal
    ben.run(&["workspace", "remove", &ws, &ana.email]).success();
    assert_eq!(member_role(&owner, &ws, &ana.email), None);
    let list = ana.json(&["workspace", "list"]);
    assert!(
        !list
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == ws.as_str())
    );
    ana.run(&["workspace", "members", &ws])
        .fails_with("not_found");

    // policy and audit (the audit page lists the changes above)
    owner
        .run(&["workspace", "policy", &ws, "--mfa-required", "false"])
        .success();
    let audit = owner.json(&["audit", "list", "--workspace", &ws]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.len() >= 6, "{actions:?}");
    let v = owner.json(&["audit", "verify"]);
    assert_eq!(v["ok"], true);
}

trait SuccessIf {
    fn success_if(self, ok: bool) -> Self;
}

impl SuccessIf for Run {
    #[track_caller]
    fn success_if(self, ok: bool) -> Self {
        assert_eq!(self.ok, ok, "{self:#?}");
        self
    }
}

const ROLES: [&str; 5] = ["owner", "admin", "developer", "member", "no-access"];

/// One workspace action and which roles may do it (columns in `ROLES` order), as in the table
/// of `docs/api.md`.
struct Action {
    name: &'static str,
    allowed: [bool; 5],
}

const Y: bool = true;
const N: bool = false;

const ACTIONS: [Action; 11] = [
    Action {
        name: "read workspace, list members",
        allowed: [Y, Y, Y, Y, N],
    },
    Action {
        name: "invite with role <= admin",
        allowed: [Y, Y, N, N, N],
    },
    Action {
        name: "invite as owner",
        allowed: [Y, N, N, N, N],
    },
    Action {
        name: "change a non-owner's role",
        allowed: [Y, Y, N, N, N],
    },
    Action {
        name: "make someone owner",
        allowed: [Y, N, N, N, N],
    },
    Action {
        name: "demote an owner",
        allowed: [Y, N, N, N, N],
    },
    Action {
        name: "remove a non-owner",
        allowed: [Y, Y, N, N, N],
    },
    Action {
        name: "remove an owner",
        allowed: [Y, N, N, N, N],
    },
    Action {
        name: "set workspace policy",
        allowed: [Y, Y, N, N, N],
    },
    Action {
        name: "read the audit log",
        allowed: [Y, Y, N, N, N],
    },
    Action {
        name: "leave (remove self)",
        allowed: [Y, Y, Y, Y, Y],
    },
];

/// The role × action matrix: for each role, a workspace where one actor holds that role, with
/// fresh targets for every destructive action; each action is run through the CLI and its
/// outcome (exit status, and `forbidden` when denied) compared with the table.
#[test]
fn role_action_matrix() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let founder = User::new(&server, "founder");
    let actor = User::new(&server, "actor");
    // targets: one per destructive action, reused across workspaces
    let t_role = User::new(&server, "t-role");
    let t_promote = User::new(&server, "t-promote");
    let t_remove = User::new(&server, "t-remove");
    let o_demote = User::new(&server, "o-demote");
    let o_remove = User::new(&server, "o-remove");
    let fresh = User::new(&server, "fresh");
    for u in [
        &founder, &actor, &t_role, &t_promote, &t_remove, &o_demote, &o_remove, &fresh,
    ] {
        u.signup();
    }

    let mut mismatches = Vec::new();
    let mut table = String::from("action                         ");
    for r in ROLES {
        table.push_str(&format!("{r:>10}"));
    }
    table.push('\n');
    let mut results = vec![
        [
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new()
        ];
        ACTIONS.len()
    ];

    for (col, role) in ROLES.iter().enumerate() {
        let ws = unique(&format!("m-{role}"));
        founder.run(&["workspace", "create", &ws]).success();
        for (u, r) in [
            (&actor, *role),
            (&t_role, "member"),
            (&t_promote, "member"),
            (&t_remove, "member"),
            (&o_demote, "owner"),
            (&o_remove, "owner"),
        ] {
            founder
                .run(&["workspace", "invite", &ws, &u.email, "--role", r])
                .success();
            u.run(&["workspace", "accept", &ws]).success();
        }
        for (row, action) in ACTIONS.iter().enumerate() {
            let a = &actor;
            let r = match action.name {
                "read workspace, list members" => a.run(&["workspace", "members", &ws]),
                "invite with role <= admin" => {
                    a.run(&["workspace", "invite", &ws, &fresh.email, "--role", "admin"])
                }
                "invite as owner" => {
                    let email = format!("{}@e2e.test", unique("inv-owner"));
                    a.run(&["workspace", "invite", &ws, &email, "--role", "owner"])
                }
                "change a non-owner's role" => {
                    a.run(&["workspace", "role", &ws, &t_role.email, "developer"])
                }
                "make someone owner" => {
                    a.run(&["workspace", "role", &ws, &t_promote.email, "owner"])
                }
                "demote an owner" => a.run(&["workspace", "role", &ws, &o_demote.email, "admin"]),
                "remove a non-owner" => a.run(&["workspace", "remove", &ws, &t_remove.email]),
                "remove an owner" => a.run(&["workspace", "remove", &ws, &o_remove.email]),
                "set workspace policy" => {
                    a.run(&["workspace", "policy", &ws, "--mfa-required", "false"])
                }
                "read the audit log" => a.run(&["audit", "list", "--workspace", &ws]),
                "leave (remove self)" => a.run(&["workspace", "remove", &ws, &a.email]),
                other => panic!("no command for {other}"),
            };
            let want = action.allowed[col];
            let got = if r.ok {
                "allowed".to_owned()
            } else {
                r.error_code()
            };
            let good = if want {
                r.ok
            } else {
                !r.ok && got == "forbidden"
            };
            if !good {
                mismatches.push(format!(
                    "{role} / {}: expected {}, got {got}: {}",
                    action.name,
                    if want { "allowed" } else { "forbidden" },
                    r.stderr.trim()
                ));
            }
            results[row][col] = if r.ok { "✓".into() } else { got };
        }
        // the effects of the allowed cells are real
        if action_allowed("change a non-owner's role", col) {
            assert_eq!(
                member_role(&founder, &ws, &t_role.email).as_deref(),
                Some("developer")
            );
        } else {
            assert_eq!(
                member_role(&founder, &ws, &t_role.email).as_deref(),
                Some("member")
            );
        }
        assert_eq!(
            member_role(&founder, &ws, &t_remove.email).is_none(),
            action_allowed("remove a non-owner", col)
        );
        assert_eq!(
            member_role(&founder, &ws, &o_remove.email).is_none(),
            action_allowed("remove an owner", col)
        );
        assert_eq!(member_role(&founder, &ws, &actor.email), None, "actor left");
    }
    for (row, action) in ACTIONS.iter().enumerate() {
        table.push_str(&format!("{:<31}", action.name));
        for cell in &results[row] {
            table.push_str(&format!("{cell:>10}"));
        }
        table.push('\n');
    }
    println!("{table}");
    assert!(mismatches.is_empty(), "{table}\n{}", mismatches.join("\n"));
}

fn action_allowed(name: &str, col: usize) -> bool {
    ACTIONS
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.allowed[col])
        .unwrap()
}

fn confirmed(u: &User, ws: &str, email: &str) -> String {
    member_field(u, ws, email, "confirmed").unwrap()
}

/// An admin confirms a member by comparing the fingerprint phrase the member reads from their
/// own device: a phrase that differs signs nothing; the right one stores an attestation the
/// admin's client verifies under its own identity; a non-admin cannot confirm anyone.
#[test]
fn members_are_confirmed_by_fingerprint() {
    let data = DataDir::new();
    let server = Server::start(&data, &[]);
    let owner = User::new(&server, "cowner");
    let dev = User::new(&server, "cdev");
    owner.signup();
    dev.signup();
    let ws = unique("confirm");
    owner.json(&["workspace", "create", &ws]);
    owner
        .run(&[
            "workspace",
            "invite",
            &ws,
            &dev.email,
            "--role",
            "developer",
        ])
        .success();
    dev.run(&["workspace", "accept", &ws]).success();
    assert_eq!(confirmed(&owner, &ws, &dev.email), "no");

    let phrase = dev.json(&["fingerprint"])["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    // one word off: refused, nothing stored
    let mut words: Vec<&str> = phrase.split(' ').collect();
    words.swap(0, 1);
    let wrong = words.join(" ");
    let r = owner.run(&[
        "workspace",
        "confirm",
        &ws,
        &dev.email,
        "--fingerprint",
        &wrong,
    ]);
    assert!(!r.ok && r.stderr.contains("does not match"), "{r:#?}");
    assert_eq!(confirmed(&owner, &ws, &dev.email), "no");

    // the developer may not confirm anyone
    let owner_phrase = owner.json(&["fingerprint"])["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    dev.run(&[
        "workspace",
        "confirm",
        &ws,
        &owner.email,
        "--fingerprint",
        &owner_phrase,
    ])
    .fails_with("forbidden");

    // the right phrase (case and spacing do not matter)
    let typed = format!("  {}  ", phrase.to_uppercase());
    let ok = owner.json(&[
        "workspace",
        "confirm",
        &ws,
        &dev.email,
        "--fingerprint",
        &typed,
    ]);
    assert_eq!(ok["confirmed"], dev.email.as_str());
    assert_eq!(confirmed(&owner, &ws, &dev.email), "by you");
    // another member's client cannot check the owner's signature yet: it says so
    assert_eq!(confirmed(&dev, &ws, &dev.email), "by another admin");
}
