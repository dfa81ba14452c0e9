//! `coffer attach …`: add, get, list and delete an item's attachments. Files are encrypted and
//! decrypted as streams by the SDK (constant memory); a progress bar shows on standard error
//! when it is a terminal.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use coffer_client::Client;
use serde_json::json;

use crate::cmd_item::confirm;
use crate::output::Out;
use crate::view;

#[derive(Debug, Subcommand)]
pub(crate) enum AttachCommand {
    /// Encrypt and upload a file as an attachment of an item.
    Add {
        /// The item (id, name or unique prefix).
        item: String,
        /// The file.
        file: PathBuf,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Download and decrypt an attachment.
    Get {
        /// The item.
        item: String,
        /// The attachment's name (or id).
        name: String,
        /// Where to write it (default: its name, in the current folder).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
    },
    /// List an item's attachments.
    List {
        /// The item.
        item: String,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
    },
    /// Delete an attachment.
    Delete {
        /// The item.
        item: String,
        /// The attachment's name (or id).
        name: String,
        /// The vault.
        #[arg(long, value_name = "VAULT")]
        vault: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs an `attach` command.
pub(crate) async fn run(
    out: &Out,
    json: bool,
    client: &mut Client,
    cmd: AttachCommand,
) -> Result<()> {
    match cmd {
        AttachCommand::Add { item, file, vault } => {
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read {}", file.display()))?
                .len();
            let bar = view::bytes_bar(size, "encrypting and uploading");
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let r = client
                .attach_add(&item, vault.as_deref(), &file, &progress)
                .await;
            bar.finish_and_clear();
            let a = r?;
            out.message(
                &json!({"id": a.id, "name": a.name, "size": a.size}),
                &format!("attached \"{}\" ({} bytes)", a.name, a.size),
            )?;
        }
        AttachCommand::Get {
            item,
            name,
            out: dest,
            vault,
        } => {
            let dest = match dest {
                Some(d) => d,
                None => {
                    let base = std::path::Path::new(&name)
                        .file_name()
                        .map(PathBuf::from)
                        .filter(|p| !p.as_os_str().is_empty());
                    match base {
                        Some(b) => b,
                        None => bail!("give --out FILE: the attachment's name is not a file name"),
                    }
                }
            };
            let bar = view::bytes_bar(0, "downloading and decrypting");
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let r = client
                .attach_get(&item, vault.as_deref(), &name, &dest, &progress)
                .await;
            bar.finish_and_clear();
            let n = r?;
            out.message(
                &json!({"name": name, "path": dest.display().to_string(), "size": n}),
                &format!("wrote {} ({n} bytes)", dest.display()),
            )?;
            view::offline_notice(client);
        }
        AttachCommand::List { item, vault } => {
            let list = client.attach_list(&item, vault.as_deref()).await?;
            let rows: Vec<_> = list
                .iter()
                .map(|a| json!({"id": a.id, "name": a.name, "size": a.size}))
                .collect();
            view::list(
                out,
                json,
                &rows,
                &[("name", "name"), ("size", "size"), ("id", "id")],
            )?;
            view::offline_notice(client);
        }
        AttachCommand::Delete {
            item,
            name,
            vault,
            yes,
        } => {
            confirm(&format!("delete attachment \"{name}\"?"), yes)?;
            client.attach_delete(&item, vault.as_deref(), &name).await?;
            out.message(
                &json!({"deleted": name}),
                &format!("attachment \"{name}\" deleted"),
            )?;
        }
    }
    Ok(())
}
