//! Teams and access requests (protocol.md §18.5): team names unique per workspace; adding a
//! member creates a pending request per linked vault where they lack the role (not where they
//! already have it); approve records membership, grants and the decision together; deny grants
//! nothing; removing a member removes only memberships held through that team alone (with their
//! grants, flagging rotation) and drops their pending requests; linking with shares; workspace
//! removal and vault deletion clean up — and every refused write changes nothing.

use coffer_proto::vault::{GrantRecipient, VaultRole};
use coffer_proto::{AccessRequestState, DeviceId, Role, TeamId, UserId, VaultId, WorkspaceId};
use coffer_store::{
    MainStore, NewGrant, NewTeam, NewVault, NewWorkspace, StoreError, TeamShare, ValuePointer,
};

use super::{Env, ev, head, make_user};

fn grant(recipient: GrantRecipient, epoch: u32) -> NewGrant {
    NewGrant {
        recipient,
        epoch,
        grant: format!("grant-{epoch}").into_bytes(),
        signer_key: [5; 32],
        signer_device: None,
    }
}

async fn workspace(main: &MainStore, owner: UserId, name: &str) -> WorkspaceId {
    let ws = WorkspaceId::new_random();
    main.create_workspace(
        &NewWorkspace {
            id: ws,
            name: name.into(),
            mfa_required: false,
        },
        owner,
        None,
    )
    .await
    .unwrap();
    ws
}

async fn ws_vault(main: &MainStore, owner: UserId, ws: Option<WorkspaceId>) -> VaultId {
    let id = VaultId::new_random();
    main.create_vault(
        &NewVault {
            id,
            workspace_id: ws,
            owner,
            epoch: 1,
            manifest: b"manifest-0".to_vec(),
            manifest_signer: None,
            record: ValuePointer::random(),
            record_epoch: 1,
            grants: vec![grant(GrantRecipient::User(owner), 1)],
            role_statement: None,
        },
        None,
    )
    .await
    .unwrap();
    id
}

async fn team(main: &MainStore, ws: WorkspaceId, name: &str) -> TeamId {
    let id = TeamId::new_random();
    main.create_team(
        &NewTeam {
            id,
            workspace_id: ws,
            name: name.into(),
        },
        Some(&ev("team.create", id)),
    )
    .await
    .unwrap();
    id
}

async fn role_of(main: &MainStore, vault: VaultId, user: UserId) -> Option<VaultRole> {
    match main.vault_role(vault, user).await {
        Ok(r) => Some(r),
        Err(StoreError::NotFound) => None,
        Err(e) => panic!("{e}"),
    }
}

async fn grants_to(main: &MainStore, vault: VaultId, user: UserId) -> usize {
    main.vault_grants_for(vault, DeviceId::new_random(), user)
        .await
        .unwrap()
        .len()
}

async fn pending_for(main: &MainStore, manager: UserId, user: UserId) -> Vec<VaultId> {
    main.pending_access_requests(manager)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.user_id == user)
        .map(|r| r.vault_id)
        .collect()
}

pub(crate) async fn teams(env: Env) {
    let main = env.main().await;
    let owner = make_user(&main, "owner@teams.test").await;
    let bob = make_user(&main, "bob@teams.test").await;
    let carol = make_user(&main, "carol@teams.test").await;
    let dave = make_user(&main, "dave@teams.test").await;
    let ws = workspace(&main, owner.id, "teams").await;
    let other_ws = workspace(&main, owner.id, "teams-other").await;
    for u in [bob.id, carol.id] {
        main.add_member(ws, u, Role::Member, None).await.unwrap();
    }
    let vault = ws_vault(&main, owner.id, Some(ws)).await;
    let personal = ws_vault(&main, owner.id, None).await;

    // ── teams: names unique per workspace, all or nothing ───────────────────
    let devs = team(&main, ws, "devs").await;
    let before = head(&main).await;
    let dup = main
        .create_team(
            &NewTeam {
                id: TeamId::new_random(),
                workspace_id: ws,
                name: "devs".into(),
            },
            Some(&ev("team.create", "dup")),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let ghost_ws = main
        .create_team(
            &NewTeam {
                id: TeamId::new_random(),
                workspace_id: WorkspaceId::new_random(),
                name: "x".into(),
            },
            None,
        )
        .await;
    assert!(
        matches!(ghost_ws, Err(StoreError::NotFound)),
        "{ghost_ws:?}"
    );
    let empty = main
        .create_team(
            &NewTeam {
                id: TeamId::new_random(),
                workspace_id: ws,
                name: String::new(),
            },
            None,
        )
        .await;
    assert!(matches!(empty, Err(StoreError::Invalid(_))), "{empty:?}");
    assert_eq!(head(&main).await, before, "a refused create wrote an event");
    let foreign = team(&main, other_ws, "devs").await; // same name, other workspace: fine
    assert_eq!(main.teams_of_workspace(ws).await.unwrap().len(), 1);
    assert_eq!(main.team(devs).await.unwrap().name, "devs");

    // ── linking: same workspace only; no member yet, no request ─────────────
    let r = main
        .link_team_vault((vault, foreign), VaultRole::Editor, &[], owner.id, None)
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let r = main
        .link_team_vault((personal, devs), VaultRole::Editor, &[], owner.id, None)
        .await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    assert!(main.team_vaults(devs).await.unwrap().is_empty());
    let made = main
        .link_team_vault(
            (vault, devs),
            VaultRole::Editor,
            &[],
            owner.id,
            Some(&ev("team.link", vault)),
        )
        .await
        .unwrap();
    assert!(made.is_empty());
    let tv = main.team_vaults(devs).await.unwrap();
    assert_eq!(
        (tv.len(), tv[0].vault_id, tv[0].role),
        (1, vault, VaultRole::Editor)
    );

    // ── adding members creates requests where the role is lacking ──────────
    let before = head(&main).await;
    let r = main.add_team_member(devs, dave.id, None).await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    assert!(main.team_members(devs).await.unwrap().is_empty());
    let r = main
        .add_team_member(TeamId::new_random(), bob.id, None)
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    assert_eq!(head(&main).await, before);
    let reqs = main
        .add_team_member(devs, bob.id, Some(&ev("team.member.add", devs)))
        .await
        .unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(head(&main).await, before + 1);
    let r = main.add_team_member(devs, bob.id, None).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    // the owner already manages the vault: no request for them
    assert!(
        main.add_team_member(devs, owner.id, None)
            .await
            .unwrap()
            .is_empty()
    );
    let req = main.access_request(reqs[0]).await.unwrap();
    assert_eq!(
        (req.vault_id, req.user_id, req.role, req.team_id, req.state),
        (
            vault,
            bob.id,
            VaultRole::Editor,
            devs,
            AccessRequestState::Pending
        )
    );
    assert_eq!(
        (req.email.as_str(), req.team_name.as_str()),
        ("bob@teams.test", "devs")
    );
    assert_eq!(req.workspace_id, ws);
    assert_eq!(pending_for(&main, owner.id, bob.id).await, vec![vault]);
    assert!(
        main.pending_access_requests(bob.id)
            .await
            .unwrap()
            .is_empty(),
        "only managers of the vault see its requests"
    );
    let members = main.team_members(devs).await.unwrap();
    assert_eq!(members.len(), 2);
    let summary = &main.teams_of_workspace(ws).await.unwrap()[0];
    assert_eq!((summary.members, summary.vaults), (2, 1));

    // ── approve: membership, grants and decision in one transaction ─────────
    let before = head(&main).await;
    let bad = main
        .approve_access_request(
            reqs[0],
            &[
                grant(GrantRecipient::User(bob.id), 1),
                grant(GrantRecipient::User(bob.id), 2),
            ],
            None,
            owner.id,
            Some(&ev("access.approve", reqs[0])),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert_eq!(
        role_of(&main, vault, bob.id).await,
        None,
        "half-written approval"
    );
    assert_eq!(grants_to(&main, vault, bob.id).await, 0);
    assert_eq!(
        main.access_request(reqs[0]).await.unwrap().state,
        AccessRequestState::Pending
    );
    assert_eq!(head(&main).await, before);
    let ok = main
        .approve_access_request(
            reqs[0],
            &[grant(GrantRecipient::User(bob.id), 1)],
            None,
            owner.id,
            Some(&ev("access.approve", reqs[0])),
        )
        .await
        .unwrap();
    assert_eq!(ok.state, AccessRequestState::Approved);
    assert_eq!(ok.decided_by, Some(owner.id));
    assert!(ok.decided_at.is_some());
    assert_eq!(role_of(&main, vault, bob.id).await, Some(VaultRole::Editor));
    assert_eq!(grants_to(&main, vault, bob.id).await, 1);
    assert!(pending_for(&main, owner.id, bob.id).await.is_empty());
    let again = main
        .approve_access_request(reqs[0], &[], None, owner.id, None)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let r = main
        .approve_access_request(
            coffer_proto::AccessRequestId::new_random(),
            &[],
            None,
            owner.id,
            None,
        )
        .await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // ── deny: nothing granted ───────────────────────────────────────────────
    let creq = main.add_team_member(devs, carol.id, None).await.unwrap();
    assert_eq!(creq.len(), 1);
    let denied = main
        .deny_access_request(creq[0], owner.id, Some(&ev("access.deny", creq[0])))
        .await
        .unwrap();
    assert_eq!(denied.state, AccessRequestState::Denied);
    assert_eq!(role_of(&main, vault, carol.id).await, None);
    assert!(pending_for(&main, owner.id, carol.id).await.is_empty());
    let r = main.deny_access_request(creq[0], owner.id, None).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    let r = main
        .approve_access_request(creq[0], &[], None, owner.id, None)
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");

    // ── a direct share survives leaving the team; pending requests go ───────
    main.remove_team_member(devs, carol.id, None).await.unwrap();
    let creq = main.add_team_member(devs, carol.id, None).await.unwrap();
    assert_eq!(creq.len(), 1, "a denied request does not block a new one");
    main.share_vault(
        vault,
        carol.id,
        VaultRole::Viewer,
        None,
        &[grant(GrantRecipient::User(carol.id), 1)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(pending_for(&main, owner.id, carol.id).await, vec![vault]);
    let gone = main.remove_team_member(devs, carol.id, None).await.unwrap();
    assert!(gone.is_empty(), "{gone:?}");
    assert_eq!(
        role_of(&main, vault, carol.id).await,
        Some(VaultRole::Viewer)
    );
    assert_eq!(grants_to(&main, vault, carol.id).await, 1);
    assert!(pending_for(&main, owner.id, carol.id).await.is_empty());
    assert!(
        matches!(
            main.access_request(creq[0]).await,
            Err(StoreError::NotFound)
        ),
        "the pending request of the team is dropped"
    );
    assert!(!main.vault(vault).await.unwrap().rotation_due);

    // ── another team linking the vault keeps the membership ────────────────
    let ops = team(&main, ws, "ops").await;
    main.link_team_vault((vault, ops), VaultRole::Viewer, &[], owner.id, None)
        .await
        .unwrap();
    assert!(
        main.add_team_member(ops, bob.id, None)
            .await
            .unwrap()
            .is_empty(),
        "editor already covers viewer"
    );
    let gone = main.remove_team_member(devs, bob.id, None).await.unwrap();
    assert!(gone.is_empty(), "ops still links the vault: {gone:?}");
    assert_eq!(role_of(&main, vault, bob.id).await, Some(VaultRole::Editor));
    assert!(!main.vault(vault).await.unwrap().rotation_due);

    // ── removal through the last team: membership, grants gone; rotation due ─
    let before = head(&main).await;
    let gone = main
        .remove_team_member(ops, bob.id, Some(&ev("team.member.remove", ops)))
        .await
        .unwrap();
    assert_eq!(gone, vec![vault]);
    assert_eq!(role_of(&main, vault, bob.id).await, None);
    assert_eq!(grants_to(&main, vault, bob.id).await, 0);
    assert!(main.vault(vault).await.unwrap().rotation_due);
    assert_eq!(head(&main).await, before + 1);
    let r = main.remove_team_member(ops, bob.id, None).await;
    assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");

    // ── link with shares: members get the role at once, others get requests ─
    let v2 = ws_vault(&main, owner.id, Some(ws)).await;
    let leads = team(&main, ws, "leads").await;
    main.add_team_member(leads, bob.id, None).await.unwrap();
    main.add_team_member(leads, carol.id, None).await.unwrap();
    let share = |u: UserId, epoch: u32| TeamShare {
        user: u,
        grants: vec![grant(GrantRecipient::User(u), epoch)],
        statement: None,
    };
    let before = head(&main).await;
    for bad in [
        vec![share(dave.id, 1)],
        vec![share(bob.id, 1), share(bob.id, 1)],
        vec![share(bob.id, 7)],
    ] {
        let r = main
            .link_team_vault((v2, leads), VaultRole::Manager, &bad, owner.id, None)
            .await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    }
    assert!(main.team_vaults(leads).await.unwrap().is_empty());
    assert_eq!(role_of(&main, v2, bob.id).await, None);
    assert_eq!(head(&main).await, before);
    let reqs = main
        .link_team_vault(
            (v2, leads),
            VaultRole::Manager,
            &[share(bob.id, 1)],
            owner.id,
            Some(&ev("team.link", v2)),
        )
        .await
        .unwrap();
    assert_eq!(reqs.len(), 1, "carol was not shared with: one request");
    assert_eq!(role_of(&main, v2, bob.id).await, Some(VaultRole::Manager));
    assert_eq!(
        main.access_request(reqs[0]).await.unwrap().user_id,
        carol.id
    );
    // re-linking with carol's share settles her pending request
    main.link_team_vault(
        (v2, leads),
        VaultRole::Manager,
        &[share(carol.id, 1)],
        owner.id,
        None,
    )
    .await
    .unwrap();
    let settled = main.access_request(reqs[0]).await.unwrap();
    assert_eq!(settled.state, AccessRequestState::Approved);
    assert_eq!(role_of(&main, v2, carol.id).await, Some(VaultRole::Manager));

    // ── all or nothing: a removal that would leave a vault without a manager ─
    main.share_vault(v2, owner.id, VaultRole::Viewer, None, &[], None)
        .await
        .unwrap();
    main.remove_team_member(leads, carol.id, None)
        .await
        .unwrap();
    let before = head(&main).await;
    let flagged = main.vault(v2).await.unwrap().rotation_due;
    let r = main
        .remove_team_member(leads, bob.id, Some(&ev("team.member.remove", leads)))
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(role_of(&main, v2, bob.id).await, Some(VaultRole::Manager));
    assert_eq!(grants_to(&main, v2, bob.id).await, 1);
    assert!(
        main.team_members(leads)
            .await
            .unwrap()
            .iter()
            .any(|m| m.user_id == bob.id),
        "the team membership must stay"
    );
    assert_eq!(main.vault(v2).await.unwrap().rotation_due, flagged);
    assert_eq!(head(&main).await, before);

    // ── leaving the workspace leaves its teams; deleting a vault unlinks it ──
    let newreq = main.add_team_member(devs, carol.id, None).await.unwrap();
    assert_eq!(
        newreq.len(),
        1,
        "carol is a direct viewer; devs asks editor: one request"
    );
    main.remove_member(ws, carol.id, None).await.unwrap();
    assert!(
        main.team_members(devs)
            .await
            .unwrap()
            .iter()
            .all(|m| m.user_id != carol.id)
    );
    assert!(pending_for(&main, owner.id, carol.id).await.is_empty());
    main.delete_vault(vault, None).await.unwrap();
    assert!(main.team_vaults(devs).await.unwrap().is_empty());
    assert_eq!(main.teams_of_workspace(ws).await.unwrap()[0].vaults, 0);
}
