//! `coffer vault …` (create, list, rename, delete, share, unshare, members, rotate), `coffer
//! sync` and `coffer agent`.

use anyhow::{Result, bail};
use clap::Subcommand;
use coffer_client::Client;
use serde_json::json;

use crate::cmd_item::confirm;
use crate::output::Out;
use crate::view;

#[derive(Debug, Subcommand)]
pub(crate) enum VaultCommand {
    /// Create a vault (personal, or in a workspace).
    Create {
        /// Its name.
        name: String,
        /// The workspace it belongs to (default: a personal vault).
        #[arg(long, value_name = "WORKSPACE")]
        workspace: Option<String>,
        /// A description.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
    },
    /// List your vaults.
    List,
    /// Rename a vault.
    Rename {
        /// The vault (name, id or unique prefix).
        vault: String,
        /// The new name.
        new_name: String,
    },
    /// Delete a vault and every item in it.
    Delete {
        /// The vault (name, id or unique prefix).
        vault: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Share a workspace vault with confirmed members (or change their role), or with every
    /// member of a team (`--team`: later team members get access requests).
    Share {
        /// The vault (name, id or unique prefix).
        vault: String,
        /// The member's email (repeat for several members: one sync and one trust check).
        #[arg(
            long,
            value_name = "EMAIL",
            required_unless_present = "team",
            conflicts_with = "team"
        )]
        user: Vec<String>,
        /// A team of the vault's workspace: share with each of its members (all confirmed, or
        /// nothing is sent) and link the team to the vault.
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// Their role in the vault.
        #[arg(long, default_value = "viewer", value_parser = ["viewer", "editor", "manager"])]
        role: String,
    },
    /// Remove a member from a vault; the vault's key is rotated at once.
    Unshare {
        /// The vault (name, id or unique prefix).
        vault: String,
        /// The member's email.
        #[arg(long, value_name = "EMAIL")]
        user: String,
    },
    /// List a vault's members, their roles and whether this device trusts their identity.
    Members {
        /// The vault (name, id or unique prefix).
        vault: String,
    },
    /// Move a vault to a new key epoch: every item is re-encrypted under a new key.
    Rotate {
        /// The vault (name, id or unique prefix).
        vault: String,
    },
}

/// Runs a `vault` command.
pub(crate) async fn run(
    out: &Out,
    json: bool,
    client: &mut Client,
    cmd: VaultCommand,
) -> Result<()> {
    match cmd {
        VaultCommand::Create {
            name,
            workspace,
            description,
        } => {
            if description.is_some() {
                bail!(
                    "--description is not supported yet by this client's SDK \
                     (Client::vault_create takes no description)"
                );
            }
            let v = client.vault_create(&name, workspace.as_deref()).await?;
            for n in client.take_notices() {
                eprintln!("notice: {n}");
            }
            out.message(
                &view::vault_json(&v),
                &format!("created vault \"{}\" ({})", v.name, v.id),
            )?;
        }
        VaultCommand::List => {
            let vaults = client.vaults().await?;
            view::vault_list(out, json, &vaults)?;
            view::offline_notice(client);
        }
        VaultCommand::Rename { vault, new_name } => {
            client.vault_rename(&vault, &new_name).await?;
            out.message(
                &json!({"vault": vault, "name": new_name}),
                &format!("vault \"{vault}\" renamed to \"{new_name}\""),
            )?;
        }
        VaultCommand::Delete { vault, yes } => {
            confirm(
                &format!("delete vault \"{vault}\" and every item in it?"),
                yes,
            )?;
            client.vault_delete(&vault).await?;
            out.message(
                &json!({"deleted": vault}),
                &format!("vault \"{vault}\" deleted"),
            )?;
        }
        VaultCommand::Share {
            vault,
            team: Some(team),
            role,
            ..
        } => {
            let role: coffer_proto::vault::VaultRole = role.parse()?;
            let r = client.vault_share_team(&vault, &team, role).await?;
            let shared: Vec<serde_json::Value> = r
                .shared
                .iter()
                .map(|(id, email, devices, grants)| {
                    json!({"user": email, "user_id": id, "devices": devices, "grants": grants})
                })
                .collect();
            out.message(
                &json!({"vault": vault, "team": team, "team_id": r.team_id,
                        "role": role.as_str(), "shared": shared, "requests": r.requests}),
                &format!(
                    "shared vault \"{vault}\" with team \"{team}\" as {role}: {} member(s) \
                     given access now{}",
                    r.shared.len(),
                    if r.requests > 0 {
                        format!(", {} access request(s) opened", r.requests)
                    } else {
                        String::new()
                    }
                ),
            )?;
        }
        VaultCommand::Share {
            vault, user, role, ..
        } => {
            let role: coffer_proto::vault::VaultRole = role.parse()?;
            let emails: Vec<&str> = user.iter().map(String::as_str).collect();
            let reports = client.vault_share_many(&vault, &emails, role).await?;
            for (email, r) in user.iter().zip(&reports) {
                out.message(
                    &json!({"vault": vault, "user": email, "user_id": r.user_id,
                            "role": role.as_str(), "devices": r.devices, "grants": r.grants}),
                    &format!(
                        "shared vault \"{vault}\" with {email} as {role}: {} grant(s) to their \
                         identity and {} device(s)",
                        r.grants, r.devices
                    ),
                )?;
            }
        }
        VaultCommand::Unshare { vault, user } => {
            let epoch = client.vault_unshare(&vault, &user).await?;
            for n in client.take_notices() {
                eprintln!("notice: {n}");
            }
            out.message(
                &json!({"vault": vault, "removed": user, "epoch": epoch}),
                &format!(
                    "{user} removed from vault \"{vault}\"; its key was rotated to epoch {epoch}"
                ),
            )?;
        }
        VaultCommand::Members { vault } => {
            let members = client.vault_members(&vault).await?;
            let rows: Vec<serde_json::Value> = members
                .iter()
                .map(|m| {
                    json!({"email": m.email, "role": m.role.as_str(), "user_id": m.user_id,
                           "trusted": if m.trusted { "yes" } else { "NOT CONFIRMED" }})
                })
                .collect();
            view::list(
                out,
                json,
                &rows,
                &[
                    ("email", "email"),
                    ("role", "role"),
                    ("identity", "trusted"),
                    ("id", "user_id"),
                ],
            )?;
        }
        VaultCommand::Rotate { vault } => {
            let epoch = client.vault_rotate(&vault).await?;
            for n in client.take_notices() {
                eprintln!("notice: {n}");
            }
            out.message(
                &json!({"vault": vault, "epoch": epoch}),
                &format!("vault \"{vault}\" rotated to key epoch {epoch}"),
            )?;
        }
    }
    Ok(())
}

/// `coffer agent`: syncs every `interval` seconds (rotations and replications included) until
/// interrupted, or once with `--once`.
pub(crate) async fn agent(out: &Out, client: &mut Client, interval: u64, once: bool) -> Result<()> {
    loop {
        match client.sync().await {
            Ok(report) => {
                if report.items_changed > 0 || !report.rotated.is_empty() || report.replicated > 0 {
                    view::sync_report(out, &report)?;
                }
            }
            Err(e) if !once => eprintln!("coffer agent: {e}"),
            Err(e) => return Err(e.into()),
        }
        if once {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval.max(1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// `coffer sync`.
pub(crate) async fn sync(out: &Out, client: &mut Client) -> Result<()> {
    let report = client.sync().await?;
    view::sync_report(out, &report)
}
