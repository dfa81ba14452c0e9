//! `coffer team …`: teams of a workspace (create, add, remove, list, show). Adding a member
//! opens an access request for every vault linked to the team (a vault manager approves it with
//! `coffer access approve`); removing one drops the vault access they held through the team,
//! and those vaults rotate on a manager's next `coffer sync`.

use anyhow::Result;
use clap::Subcommand;
use coffer_client::Client;
use serde_json::json;

use crate::output::Out;
use crate::view;

#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// Create a team (workspace owners and admins).
    Create {
        /// Its name (unique in the workspace).
        name: String,
        /// The workspace (default: your only workspace).
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// Add a workspace member to a team; each vault of the team gets an access request.
    Add {
        /// The team (name, id or unique prefix).
        team: String,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// The team's workspace, when the name is not unique across yours.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// Remove a member from a team; vaults they held only through it are rotated on a
    /// manager's next sync.
    Remove {
        /// The team (name, id or unique prefix).
        team: String,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
        /// The team's workspace, when the name is not unique across yours.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// List the teams of your workspaces.
    List {
        /// Only this workspace.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
    /// Show a team's members and vaults.
    Show {
        /// The team (name, id or unique prefix).
        team: String,
        /// The team's workspace, when the name is not unique across yours.
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
    },
}

/// Runs a `team` command.
pub(crate) async fn run(
    out: &Out,
    json: bool,
    client: &mut Client,
    cmd: TeamCommand,
) -> Result<()> {
    match cmd {
        TeamCommand::Create { name, workspace } => {
            let t = client.team_create(&name, workspace.as_deref()).await?;
            out.message(&t, &format!("team \"{}\" created ({})", t.name, t.team_id))?;
        }
        TeamCommand::Add {
            team,
            user,
            workspace,
        } => {
            let (m, added) = client.team_add(&team, &user, workspace.as_deref()).await?;
            let n = added.requests.len();
            out.message(
                &json!({"team": team, "user": m.email, "user_id": m.user_id,
                        "requests": added.requests}),
                &format!(
                    "{} added to team \"{team}\": {n} access request(s) wait for a vault \
                     manager (`coffer access list`)",
                    m.email
                ),
            )?;
        }
        TeamCommand::Remove {
            team,
            user,
            workspace,
        } => {
            let (m, removed) = client
                .team_remove(&team, &user, workspace.as_deref())
                .await?;
            let n = removed.vaults.len();
            out.message(
                &json!({"team": team, "user": m.email, "user_id": m.user_id,
                        "vaults": removed.vaults}),
                &format!(
                    "{} removed from team \"{team}\": removed from {n} vault(s), which rotate \
                     their key on a manager's next `coffer sync`",
                    m.email
                ),
            )?;
        }
        TeamCommand::List { workspace } => {
            let teams = client.teams(workspace.as_deref()).await?;
            let rows: Vec<serde_json::Value> = teams
                .iter()
                .map(|e| {
                    json!({"name": e.team.name, "workspace": e.workspace,
                           "team_id": e.team.team_id, "members": e.team.members,
                           "vaults": e.team.vaults, "created_at": e.team.created_at})
                })
                .collect();
            view::list(
                out,
                json,
                &rows,
                &[
                    ("name", "name"),
                    ("workspace", "workspace"),
                    ("members", "members"),
                    ("vaults", "vaults"),
                    ("id", "team_id"),
                ],
            )?;
        }
        TeamCommand::Show { team, workspace } => {
            let t = client.team_show(&team, workspace.as_deref()).await?;
            let d = &t.detail;
            let members: Vec<serde_json::Value> = d
                .members
                .iter()
                .map(|m| json!({"email": m.email, "user_id": m.user_id, "added_at": m.added_at}))
                .collect();
            let vaults: Vec<serde_json::Value> = d
                .vaults
                .iter()
                .map(|v| {
                    json!({"vault_id": v.vault_id, "role": v.role.as_str(),
                           "name": t.vault_names.get(&v.vault_id), "added_at": v.added_at})
                })
                .collect();
            if json {
                out.message(
                    &json!({"team_id": d.team_id, "name": d.name, "workspace": t.workspace,
                            "workspace_id": d.workspace_id, "members": members,
                            "vaults": vaults}),
                    "",
                )?;
            } else {
                out.message(
                    &(),
                    &format!(
                        "team \"{}\" in \"{}\" ({}): {} member(s), {} vault(s)",
                        d.name,
                        t.workspace,
                        d.team_id,
                        d.members.len(),
                        d.vaults.len()
                    ),
                )?;
                view::list(
                    out,
                    false,
                    &members,
                    &[
                        ("member", "email"),
                        ("added", "added_at"),
                        ("id", "user_id"),
                    ],
                )?;
                view::list(
                    out,
                    false,
                    &vaults,
                    &[("vault", "name"), ("role", "role"), ("id", "vault_id")],
                )?;
            }
        }
    }
    Ok(())
}
