//! `coffer access …`: access requests of the vaults you manage (list, approve, deny). Approving
//! seals the vault's keys to the requester on this device after the same trust checks as
//! `coffer vault share`; with `--all`, every request is checked before any is sent.

use anyhow::{Result, bail};
use clap::Subcommand;
use coffer_client::Client;
use serde_json::json;

use crate::output::Out;
use crate::view;

#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// The pending access requests of the vaults you manage.
    List,
    /// Approve a request (or all): issue the grants from this device.
    Approve {
        /// The request id (or a unique prefix).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Approve every pending request (all checked before any is sent).
        #[arg(long)]
        all: bool,
    },
    /// Deny a request: nothing is granted.
    Deny {
        /// The request id (or a unique prefix).
        id: String,
    },
}

/// Runs an `access` command.
pub(crate) async fn run(
    out: &Out,
    json: bool,
    client: &mut Client,
    cmd: AccessCommand,
) -> Result<()> {
    match cmd {
        AccessCommand::List => {
            let all = client.access_requests().await?;
            let rows: Vec<serde_json::Value> = all
                .iter()
                .map(|r| {
                    let i = &r.info;
                    json!({"request_id": i.request_id, "vault_id": i.vault_id,
                           "vault": r.vault_name.clone().unwrap_or_else(|| i.vault_id.to_string()),
                           "user": i.email, "user_id": i.user_id, "role": i.role.as_str(),
                           "team": i.team_name, "team_id": i.team_id,
                           "created_at": i.created_at, "state": i.state.as_str()})
                })
                .collect();
            view::list(
                out,
                json,
                &rows,
                &[
                    ("id", "request_id"),
                    ("user", "user"),
                    ("vault", "vault"),
                    ("role", "role"),
                    ("team", "team"),
                    ("requested", "created_at"),
                ],
            )?;
        }
        AccessCommand::Approve { id, all } => {
            if id.is_none() && !all {
                bail!("give a request id or --all");
            }
            let done = client.access_approve(id.as_deref()).await?;
            if done.is_empty() {
                out.message(&json!([]), "no pending access request")?;
            }
            let rows: Vec<serde_json::Value> = done
                .iter()
                .map(|a| {
                    json!({"request_id": a.request_id, "user": a.email, "user_id": a.user_id,
                           "vault": a.vault_name, "vault_id": a.vault_id,
                           "role": a.role.as_str(), "devices": a.devices, "grants": a.grants})
                })
                .collect();
            if json {
                out.message(&rows, "")?;
            } else {
                for a in &done {
                    out.message(
                        &(),
                        &format!(
                            "approved: {} is {} of vault \"{}\" ({} grant(s) to their identity \
                             and {} device(s))",
                            a.email, a.role, a.vault_name, a.grants, a.devices
                        ),
                    )?;
                }
            }
        }
        AccessCommand::Deny { id } => {
            let r = client.access_deny(&id).await?;
            out.message(
                &json!({"request_id": r.request_id, "user": r.email, "vault_id": r.vault_id,
                        "state": r.state.as_str()}),
                &format!("denied: {} gets no access to vault {}", r.email, r.vault_id),
            )?;
        }
    }
    Ok(())
}
