//! `coffer vault …` (create, list, rename, delete) and `coffer sync`.

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
    }
    Ok(())
}

/// `coffer sync`.
pub(crate) async fn sync(out: &Out, client: &mut Client) -> Result<()> {
    let report = client.sync().await?;
    view::sync_report(out, &report)
}
