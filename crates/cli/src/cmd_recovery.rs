//! `coffer recovery`: recovery keys of vaults (protocol.md §19). `create` prints the 24 words
//! once (never stored, never sent); `restore` reads them from `--words-file`, from standard
//! input when it is not a terminal, or from a hidden prompt, and makes this new, pending device
//! trusted with the vault's keys; `list` shows this account's recovery keys.

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Subcommand;
use coffer_client::{Client, ClientError};
use coffer_crypto::RecoveryPhrase;
use serde_json::json;
use zeroize::Zeroizing;

use crate::output::Out;

#[derive(Debug, Subcommand)]
pub(crate) enum RecoveryCommand {
    /// On a trusted device of a vault manager: create a recovery key of the vault and print its
    /// 24 words once. Write them down; they are shown only now.
    Create {
        /// The vault (id, name or unique prefix).
        #[arg(long)]
        vault: String,
    },
    /// On a new device, after `coffer login`: restore the vault's keys with the 24 words; this
    /// device becomes trusted.
    Restore {
        /// The vault (id, id prefix or name).
        #[arg(long)]
        vault: String,
        /// Read the words from this file instead of standard input or a prompt.
        #[arg(long, value_name = "PATH")]
        words_file: Option<PathBuf>,
    },
    /// This account's recovery keys.
    List,
}

/// The words, from a file, from standard input (not a terminal), or from a hidden prompt.
fn read_words(file: Option<&PathBuf>) -> Result<RecoveryPhrase> {
    let mut text = Zeroizing::new(String::new());
    match file {
        Some(p) => {
            let bytes =
                Zeroizing::new(std::fs::read(p).map_err(|e| {
                    anyhow::anyhow!("cannot read the words file {}: {e}", p.display())
                })?);
            text.push_str(std::str::from_utf8(&bytes).map_err(|_| {
                anyhow::anyhow!("the words file {} is not UTF-8 text", p.display())
            })?);
        }
        None if !std::io::stdin().is_terminal() => {
            std::io::stdin().read_to_string(&mut text)?;
        }
        None => match rpassword::prompt_password("Recovery words (24, separated by spaces): ") {
            Ok(p) => text.push_str(&Zeroizing::new(p)),
            Err(e) => bail!("cannot read from the terminal ({e}): use --words-file"),
        },
    }
    RecoveryPhrase::parse(&text)
        .map_err(|e| ClientError::Invalid(format!("recovery words: {e}")).into())
}

pub(crate) async fn run(out: &Out, client: &mut Client, cmd: RecoveryCommand) -> Result<()> {
    match cmd {
        RecoveryCommand::Create { vault } => {
            let c = client.recovery_create(&vault).await?;
            let words = c.phrase.expose_phrase();
            let text = format!(
                "Recovery key {} of vault \"{}\" ({} key epoch(s)).\n\nWrite down these 24 words \
                 and keep them offline; they are shown only now and never stored:\n\n{}\n\n\
                 To recover: log in on a new device, then `coffer recovery restore --vault {}`.",
                c.recovery_id,
                c.vault_name,
                c.epochs.len(),
                words.as_str(),
                c.vault_id
            );
            out.message(
                &json!({
                    "recovery_id": c.recovery_id,
                    "vault_id": c.vault_id,
                    "epochs": c.epochs,
                    "words": words.as_str(),
                }),
                &text,
            )?;
        }
        RecoveryCommand::Restore { vault, words_file } => {
            let phrase = read_words(words_file.as_ref())?;
            let r = client.recovery_restore(&vault, &phrase).await?;
            let name = r
                .vault_name
                .clone()
                .unwrap_or_else(|| r.vault_id.to_string());
            out.message(
                &json!({
                    "recovery_id": r.recovery_id,
                    "vault_id": r.vault_id,
                    "vault_name": r.vault_name,
                    "epochs": r.epochs,
                    "device_id": r.device_id,
                    "trusted": true,
                }),
                &format!(
                    "vault \"{name}\" restored: {} key epoch(s) recovered; this device ({}) is \
                     now trusted",
                    r.epochs.len(),
                    r.device_id
                ),
            )?;
        }
        RecoveryCommand::List => {
            let list = client.recovery_list().await?;
            let rows: Vec<_> = list
                .iter()
                .map(|e| {
                    json!({
                        "recovery_id": e.recovery_id,
                        "vault_id": e.vault_id,
                        "vault_name": e.vault_name,
                        "created_at": e.created_at,
                        "epochs": e.epochs,
                        "verified": e.verified,
                    })
                })
                .collect();
            let mut text = String::new();
            if list.is_empty() {
                text.push_str("no recovery keys");
            }
            for e in &list {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&format!(
                    "{}  vault {}  epochs {:?}{}",
                    e.recovery_id,
                    e.vault_name
                        .clone()
                        .unwrap_or_else(|| e.vault_id.to_string()),
                    e.epochs,
                    if e.verified {
                        ""
                    } else {
                        "  NOT SIGNED BY YOUR IDENTITY (ignored)"
                    }
                ));
            }
            out.message(&rows, &text)?;
        }
    }
    Ok(())
}
