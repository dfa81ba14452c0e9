//! The `coffer` binary: `coffer server …` runs the server (`coffer_server::cli`); every other
//! command is a thin layer over `coffer-client`: parse the arguments, read secrets from a prompt
//! or standard input, call the SDK, print a table (or `--json`), and print errors as one
//! `error: MESSAGE (CODE)` line on standard error with a non-zero exit status.
//!
//! ```text
//! coffer [--server URL] [--profile NAME] [--json] COMMAND
//!   server [FLAGS] [rotate-data-key]
//!   signup --email E [--password-stdin] [--device-name N]
//!   login [--email E] [--password-stdin] [--code C | --code-stdin | --recovery-code R | --recovery]
//!   logout | status | fingerprint
//!   unlock [--raw] [--password-stdin] [--code C | --code-stdin | …] | lock
//!   mfa enable [--code C | --code-stdin] | mfa confirm --code C | mfa disable [--code C | --code-stdin]
//!   workspace create NAME | list | invites | accept NAME | members NAME
//!   workspace invite NAME EMAIL --role R | invite EMAIL --role R --workspace NAME
//!   workspace role NAME EMAIL ROLE | remove NAME EMAIL | policy NAME [--mfa-required BOOL]
//!     [--admin-recovery manual|auto]
//!   device list | device revoke ID | device code | device approve [ID] [--user EMAIL]
//!   session list | session revoke ID
//!   audit list --workspace NAME [--after SEQ] [--limit N] | audit verify
//!   vault create NAME [--workspace W] [--description D] | list | rename VAULT NEW | delete VAULT [--yes]
//!   vault share VAULT (--user EMAIL… | --team TEAM) [--role R] | unshare VAULT --user EMAIL | members VAULT | rotate VAULT
//!   team create NAME [--workspace W] | add TEAM --user EMAIL | remove TEAM --user EMAIL | list | show TEAM
//!   access list | approve ID|--all | deny ID
//!   item create --vault V --type T --name N [VALUES] | get ITEM [--field F] [--reveal]
//!   item edit ITEM [VALUES] [--remove-url U] [--remove-field F] [--remove-tag T] | delete ITEM [--yes]
//!   item list [--vault V] [--search TEXT] | history ITEM | restore ITEM --revision N
//!   totp ITEM [--at UNIX_SECONDS]
//!   attach add ITEM FILE | get ITEM NAME [--out FILE] | list ITEM | delete ITEM NAME [--yes]
//!   generate [--length N] [--no-symbols|--no-digits|--no-uppercase|--no-lowercase] [--allow-lookalikes]
//!   generate --passphrase [--words N] [--separator S] [--capitalize] [--number]
//!   sync
//!   completions SHELL
//! ```
//!
//! `--server` and `--profile` also come from `COFFER_SERVER` and `COFFER_PROFILE`.

mod cmd_access;
mod cmd_attach;
mod cmd_generate;
mod cmd_item;
mod cmd_recovery;
mod cmd_team;
mod cmd_totp;
mod cmd_vault;
mod input;
mod output;
mod view;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::{Args, CommandFactory as _, Parser, Subcommand};
use clap_complete::Shell;
use coffer_client::{Client, ClientError, LoginProgress, MfaAnswer};
use coffer_proto::{DeviceId, Role, SessionId};
use serde_json::json;

use crate::input::Stdin;
use crate::output::Out;

/// Coffer: a self-hosted zero-knowledge secrets and password vault for teams.
#[derive(Debug, Parser)]
#[command(name = "coffer", version, about, propagate_version = true)]
struct Cli {
    /// Server URL (stored in the profile at signup or login).
    #[arg(long, global = true, env = "COFFER_SERVER", value_name = "URL")]
    server: Option<String>,
    /// Profile to use: one account on one server, with its own device keys.
    #[arg(
        long,
        global = true,
        env = "COFFER_PROFILE",
        value_name = "NAME",
        default_value = coffer_client::DEFAULT_PROFILE
    )]
    profile: String,
    /// Print stable JSON on standard output instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the Coffer server (`coffer server --help` for its flags).
    Server(coffer_server::cli::ServerCommand),
    /// Create an account; this install becomes its first trusted device.
    Signup(SignupArgs),
    /// Log in (a profile without device keys registers a new, pending device).
    Login(LoginArgs),
    /// Set a new password with the one-time token an admin issued (`coffer workspace
    /// reset-password`): a new identity, and this install becomes the only trusted device.
    ResetPassword(ResetArgs),
    /// End this profile's session.
    Logout,
    /// Show the profile, its session and whether it is unlocked.
    Status,
    /// Unlock the device keys with the password (a new session); `--raw` prints the unlock key
    /// for COFFER_SESSION instead of storing it.
    Unlock(UnlockArgs),
    /// Forget the unlocked state (the session stays).
    Lock,
    /// Show the identity fingerprint phrase (compare it out of band).
    Fingerprint,
    /// Two-factor authentication (TOTP).
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Workspaces, members and invites.
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// This account's devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// This account's sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Vaults: create, list, rename, delete, share, unshare, members, rotate.
    #[command(subcommand)]
    Vault(cmd_vault::VaultCommand),
    /// Teams of a workspace: create, add, remove, list, show.
    #[command(subcommand)]
    Team(cmd_team::TeamCommand),
    /// Access requests of the vaults you manage: list, approve, deny.
    #[command(subcommand)]
    Access(cmd_access::AccessCommand),
    /// Items: create, get, edit, delete, list, history, restore.
    #[command(subcommand)]
    Item(cmd_item::ItemCommand),
    /// Recovery keys of vaults: create (24 words), restore on a new device, list.
    #[command(subcommand)]
    Recovery(cmd_recovery::RecoveryCommand),
    /// The current TOTP code of an item.
    Totp(cmd_totp::TotpArgs),
    /// Attachments of an item.
    #[command(subcommand)]
    Attach(cmd_attach::AttachCommand),
    /// Generate a password or a passphrase (no login needed).
    Generate(cmd_generate::GenerateArgs),
    /// Bring the local encrypted cache up to date with the server; rotate flagged vaults you
    /// manage and issue missing grants of keys you hold.
    Sync,
    /// Keep syncing in the background (rotations and replications included).
    Agent {
        /// Seconds between syncs.
        #[arg(long, default_value_t = 30)]
        interval: u64,
        /// Sync once and exit.
        #[arg(long)]
        once: bool,
    },
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

#[derive(Debug, Args)]
struct PasswordArgs {
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Debug, Args)]
struct CodeArgs {
    /// The current TOTP code.
    #[arg(long, value_name = "CODE", conflicts_with_all = ["code_stdin", "recovery_code"])]
    code: Option<String>,
    /// Read the code from the next line of standard input.
    #[arg(long)]
    code_stdin: bool,
    /// A one-time recovery code instead of a TOTP code.
    #[arg(long, value_name = "CODE")]
    recovery_code: Option<String>,
    /// The code read from the prompt or standard input is a recovery code.
    #[arg(long)]
    recovery: bool,
}

#[derive(Debug, Args)]
struct SignupArgs {
    /// The account's email.
    #[arg(long)]
    email: String,
    /// A name for this device.
    #[arg(long, value_name = "NAME")]
    device_name: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, Args)]
struct ResetArgs {
    /// The account's email.
    #[arg(long)]
    email: String,
    /// The reset token from your admin.
    #[arg(long, env = "COFFER_RESET_TOKEN", hide_env_values = true)]
    token: String,
    /// A name for this device.
    #[arg(long, value_name = "NAME")]
    device_name: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// The account's email (defaults to the profile's).
    #[arg(long)]
    email: Option<String>,
    /// A name for this device, if the login registers it.
    #[arg(long, value_name = "NAME")]
    device_name: Option<String>,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    code: CodeArgs,
}

#[derive(Debug, Args)]
struct UnlockArgs {
    /// Print the unlock key (for COFFER_SESSION) instead of storing it.
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    password: PasswordArgs,
    #[command(flatten)]
    code: CodeArgs,
}

#[derive(Debug, Subcommand)]
enum MfaCommand {
    /// Enrol a TOTP authenticator: shows the otpauth:// URI and a QR code, asks for a code,
    /// then prints the recovery codes once.
    Enable {
        /// The current code (after scanning).
        #[arg(long, value_name = "CODE", conflicts_with = "code_stdin")]
        code: Option<String>,
        /// Read the code from standard input (after the URI is printed).
        #[arg(long)]
        code_stdin: bool,
    },
    /// Confirm a pending enrolment with a code (for scripts that split `enable`).
    Confirm {
        /// The current code.
        #[arg(long, value_name = "CODE")]
        code: String,
    },
    /// Turn MFA off.
    Disable {
        /// The current code.
        #[arg(long, value_name = "CODE", conflicts_with = "code_stdin")]
        code: Option<String>,
        /// Read the code from standard input.
        #[arg(long)]
        code_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace (you become its owner).
    Create {
        /// Its name.
        name: String,
    },
    /// List your workspaces.
    List,
    /// Invite someone: `invite NAME EMAIL --role R` or `invite EMAIL --role R --workspace NAME`.
    Invite {
        /// Workspace name then email, or only the email with --workspace.
        #[arg(num_args = 1..=2, value_names = ["NAME", "EMAIL"], required = true)]
        args: Vec<String>,
        /// The role offered.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The workspace.
        #[arg(long, value_name = "NAME")]
        workspace: Option<String>,
    },
    /// List invites addressed to you.
    Invites,
    /// Accept the invite to a workspace.
    Accept {
        /// The workspace's name.
        name: String,
    },
    /// List a workspace's members.
    Members {
        /// The workspace.
        name: String,
    },
    /// Confirm a member (owner or admin): compare the fingerprint phrase they read from
    /// `coffer fingerprint` with the one shown here, then sign their identity key.
    Confirm {
        /// The workspace.
        name: String,
        /// The member's email.
        email: String,
        /// The phrase the member read out; without it you are shown the phrase and asked.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Issue a one-time password-reset token for a member who lost their password (owner or
    /// admin). Hand it to them over a trusted channel; they run `coffer reset-password`, get a
    /// new identity, and you confirm them again with `coffer workspace confirm`.
    ResetPassword {
        /// The workspace.
        name: String,
        /// The member's email.
        email: String,
    },
    /// Change a member's role.
    Role {
        /// The workspace.
        name: String,
        /// The member's email.
        email: String,
        /// The new role.
        #[arg(value_parser = parse_role)]
        role: Role,
    },
    /// Remove a member (your own email: leave).
    Remove {
        /// The workspace.
        name: String,
        /// The member's email.
        email: String,
    },
    /// Set a workspace's policy, signed by your identity (owners and admins; protocol.md §17.1).
    /// A setting not given keeps its value in the signed policy this device accepts.
    Policy {
        /// The workspace.
        name: String,
        /// Every member must have MFA on.
        #[arg(long, value_name = "BOOL", action = clap::ArgAction::Set)]
        mfa_required: Option<bool>,
        /// `auto`: members' clients share each vault they create in the workspace with the
        /// workspace's confirmed owners and admins as managers; `manual`: only explicit shares.
        #[arg(long, value_name = "MODE", value_parser = ["manual", "auto"])]
        admin_recovery: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// List your devices.
    List,
    /// Revoke a device; its sessions end.
    Revoke {
        /// The device id.
        id: DeviceId,
    },
    /// On a pending device: the code to compare, once a trusted device started the approval;
    /// once an owner or admin approved it (`coffer device approve --user`), finishes: checks
    /// the approval and adds this device to your device chain.
    Code,
    /// On a trusted device: approve a pending device of yours. Starts the approval, asks for the
    /// code the new device then shows (`coffer device code` there), and only if it matches
    /// certifies the device and grants it your vault keys. With `--user EMAIL`, an owner or
    /// admin approves a member's pending device instead (protocol.md §14.6).
    Approve {
        /// The pending device (default: the only one).
        id: Option<DeviceId>,
        /// Approve a pending device of this workspace member (owners and admins).
        #[arg(long, value_name = "EMAIL")]
        user: Option<String>,
        /// Only start the approval (for scripts; finish with `--code`).
        #[arg(long, conflicts_with = "code")]
        start: bool,
        /// Finish an approval started with `--start`: the code the new device shows.
        #[arg(long)]
        code: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// List your sessions.
    List,
    /// Revoke a session.
    Revoke {
        /// The session id.
        id: SessionId,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// List a workspace's audit entries.
    List {
        /// The workspace.
        #[arg(long, value_name = "NAME")]
        workspace: String,
        /// Only entries after this sequence number.
        #[arg(long, value_name = "SEQ")]
        after: Option<i64>,
        /// At most this many entries.
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Recompute the audit hash chain.
    Verify,
}

fn parse_role(s: &str) -> std::result::Result<Role, String> {
    s.parse::<Role>().map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error as one line on standard error, `error: MESSAGE (CODE)`, where CODE is the
/// server's stable error code (or the client-side class). Never prints a secret: client errors
/// carry none.
fn report(e: &anyhow::Error) {
    let client = e.chain().find_map(|c| c.downcast_ref::<ClientError>());
    let code = client.map(ClientError::code_str);
    let msg = match client {
        Some(c) if e.to_string() != c.to_string() => format!("{e}: {c}"),
        Some(c) => c.to_string(),
        None => format!("{e:#}"),
    };
    let msg = msg.replace('\n', " ");
    let mut err = std::io::stderr().lock();
    match code {
        Some(code) => {
            let _ = writeln!(err, "error: {msg} ({code})");
        }
        None => {
            let _ = writeln!(err, "error: {msg}");
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let out = Out::new(cli.json);
    let mut stdin = Stdin::new();
    let open = || Client::open(&cli.profile, cli.server.as_deref());
    match cli.command {
        Command::Server(cmd) => coffer_server::cli::run(cmd).await?,
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "coffer", &mut std::io::stdout());
        }
        Command::Signup(a) => {
            let mut client = open()?;
            let password = input::new_password(&mut stdin, a.password.password_stdin)?;
            let spin = output::spinner("creating the account");
            let r = client
                .signup(&a.email, &password, a.device_name.as_deref())
                .await;
            spin.finish_and_clear();
            let outcome = r?;
            out.login(&outcome, "signed up")?;
        }
        Command::ResetPassword(a) => {
            let mut client = open()?;
            let password = input::new_password(&mut stdin, a.password.password_stdin)?;
            let spin = output::spinner("setting the new password");
            let r = client
                .reset_password(&a.email, &a.token, &password, a.device_name.as_deref())
                .await;
            spin.finish_and_clear();
            let outcome = r?;
            eprintln!(
                "Your identity is new. Read this fingerprint to an admin of each workspace so \
                 they confirm you again; shared vaults come back once they have:\n  {}",
                outcome.fingerprint
            );
            out.login(&outcome, "password reset")?;
        }
        Command::Login(a) => {
            let mut client = open()?;
            let email = match a.email.or_else(|| client.config().email.clone()) {
                Some(e) => e,
                None => bail!("give --email"),
            };
            let password = input::password(&mut stdin, a.password.password_stdin)?;
            let spin = output::spinner("logging in");
            let r = client
                .login(&email, &password, a.device_name.as_deref())
                .await;
            spin.finish_and_clear();
            drop(password);
            let outcome = match r? {
                LoginProgress::Done(o) => o,
                LoginProgress::NeedsMfa(pending) => match mfa_answer(&mut stdin, &a.code) {
                    Ok(answer) => client.complete_mfa(pending, answer).await?,
                    Err(e) => {
                        client.abandon_login(pending).await;
                        return Err(e);
                    }
                },
            };
            if outcome.identity_changed {
                eprintln!(
                    "WARNING: the account's identity key changed since this profile last logged \
                     in. Compare the new fingerprint with your other devices:\n  {}",
                    outcome.fingerprint
                );
            }
            out.login(&outcome, "logged in")?;
        }
        Command::Logout => {
            let mut client = open()?;
            let had = client.logout().await?;
            out.message(
                &json!({"logged_out": had}),
                if had {
                    "logged out"
                } else {
                    "no session to end"
                },
            )?;
        }
        Command::Status => {
            let client = open()?;
            let st = client.status().await?;
            out.status(&st)?;
        }
        Command::Unlock(a) => {
            let mut client = open()?;
            let password = input::password(&mut stdin, a.password.password_stdin)?;
            let spin = output::spinner("unlocking");
            let r = client.unlock_begin(&password, a.raw).await;
            spin.finish_and_clear();
            drop(password);
            match r? {
                LoginProgress::Done(_) => {}
                LoginProgress::NeedsMfa(pending) => match mfa_answer(&mut stdin, &a.code) {
                    Ok(answer) => {
                        client.complete_mfa(pending, answer).await?;
                    }
                    Err(e) => {
                        client.abandon_login(pending).await;
                        return Err(e);
                    }
                },
            }
            match client.take_unlock_key() {
                Some(key) => out.message(&json!({"session": key}), &key)?,
                None => out.message(&json!({"unlocked": true}), "unlocked")?,
            }
        }
        Command::Lock => {
            let mut client = open()?;
            let had = client.lock()?;
            out.message(
                &json!({"locked": true, "was_unlocked": had}),
                if had { "locked" } else { "already locked" },
            )?;
        }
        Command::Fingerprint => {
            let client = open()?;
            let phrase = client.fingerprint()?;
            out.message(&json!({"fingerprint": phrase}), &phrase)?;
        }
        Command::Generate(a) => cmd_generate::run(&out, cli.json, &a)?,
        Command::Vault(cmd) => cmd_vault::run(&out, cli.json, &mut open()?, cmd).await?,
        Command::Team(cmd) => cmd_team::run(&out, cli.json, &mut open()?, cmd).await?,
        Command::Access(cmd) => cmd_access::run(&out, cli.json, &mut open()?, cmd).await?,
        Command::Item(cmd) => cmd_item::run(&out, cli.json, &mut stdin, &mut open()?, cmd).await?,
        Command::Totp(a) => cmd_totp::run(&out, &mut open()?, a).await?,
        Command::Attach(cmd) => cmd_attach::run(&out, cli.json, &mut open()?, cmd).await?,
        Command::Sync => cmd_vault::sync(&out, &mut open()?).await?,
        Command::Agent { interval, once } => {
            cmd_vault::agent(&out, &mut open()?, interval, once).await?
        }
        Command::Recovery(cmd) => cmd_recovery::run(&out, &mut open()?, cmd).await?,
        Command::Mfa(cmd) => mfa(&out, &mut stdin, open()?, cmd).await?,
        Command::Workspace(cmd) => workspace(&out, open()?, cmd).await?,
        Command::Device(cmd) => {
            let mut client = open()?;
            match cmd {
                DeviceCommand::List => out.devices(&client.devices().await?)?,
                DeviceCommand::Revoke { id } => {
                    let own = client.revoke_device(id).await?;
                    let note = if own {
                        format!("device {id} revoked (this device: its keys were deleted)")
                    } else {
                        format!("device {id} revoked")
                    };
                    out.message(&json!({"revoked": id, "this_device": own}), &note)?;
                }
                DeviceCommand::Code => {
                    let mut pending = client.is_pending().await?;
                    let mut approved_by = None;
                    if pending && let Some(admin) = client.complete_admin_approval().await? {
                        pending = false;
                        approved_by = Some(admin);
                    }
                    let code = if pending {
                        client.approval_code().await?
                    } else {
                        None
                    };
                    if let Some(admin) = &approved_by {
                        out.message(
                            &json!({"code": null, "pending": false, "approved_by": admin}),
                            &format!(
                                "approved by {admin}: this device is now trusted and in your \
                                 device chain"
                            ),
                        )?;
                        return Ok(());
                    }
                    let text = match (&code, pending) {
                        (_, false) => "this device is trusted: there is nothing to approve".into(),
                        (Some(c), true) => format!(
                            "{c}\nType this code on the trusted device that is approving this one."
                        ),
                        (None, true) => "no approval started yet: run `coffer device approve` on \
                                         one of your trusted devices, then run this again"
                            .to_owned(),
                    };
                    out.message(&json!({"code": code, "pending": pending}), &text)?;
                }
                DeviceCommand::Approve {
                    id,
                    user: Some(email),
                    start,
                    code,
                } => {
                    let pending = client.member_pending_devices(&email).await?;
                    let target = match id {
                        Some(id) => id,
                        None => match pending.as_slice() {
                            [one] => *one,
                            [] => bail!("no device of {email} is pending approval"),
                            many => bail!(
                                "several devices of {email} are pending: name one of {}",
                                many.iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        },
                    };
                    let code = match code {
                        Some(c) => c,
                        None => {
                            client.approve_member_start(&email, target).await?;
                            if start {
                                out.message(
                                    &json!({"started": target, "user": email}),
                                    &format!(
                                        "approval of {email}'s device {target} started: they run \
                                         `coffer device code` on the new device and read you the \
                                         code; then run `coffer device approve {target} --user \
                                         {email} --code CODE` here"
                                    ),
                                )?;
                                return Ok(());
                            }
                            input::code(
                                &mut stdin,
                                false,
                                &format!(
                                    "{email} runs `coffer device code` on the new device \
                                     {target}; type the code it shows: "
                                ),
                            )?
                        }
                    };
                    let a = client.approve_member_finish(&email, target, &code).await?;
                    out.message(
                        &json!({"approved": a.device_id, "user": email, "grants": a.grants,
                                "endorsed": true}),
                        &format!(
                            "device {} of {email} approved: endorsed, and {} vault key grant(s) \
                             issued. It becomes trusted when {email} runs `coffer device code` \
                             on it again",
                            a.device_id, a.grants
                        ),
                    )?;
                }
                DeviceCommand::Approve {
                    id,
                    user: None,
                    start,
                    code,
                } => {
                    let pending = client.pending_devices().await?;
                    let target = match id {
                        Some(id) => id,
                        None => match pending.as_slice() {
                            [one] => one.device_id,
                            [] => bail!("no device of yours is pending approval"),
                            many => bail!(
                                "several devices are pending: name one of {}",
                                many.iter()
                                    .map(|p| format!("{} ({})", p.device_id, p.name))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        },
                    };
                    let code = match code {
                        Some(c) => c,
                        None => {
                            client.approve_start(target).await?;
                            if start {
                                out.message(
                                    &json!({"started": target}),
                                    &format!(
                                        "approval of {target} started: run `coffer device code` \
                                         on the new device, then `coffer device approve {target} \
                                         --code CODE` here"
                                    ),
                                )?;
                                return Ok(());
                            }
                            input::code(
                                &mut stdin,
                                false,
                                &format!(
                                    "Run `coffer device code` on the new device {target} and \
                                     type the code it shows: "
                                ),
                            )?
                        }
                    };
                    let a = client.approve_finish(target, &code).await?;
                    out.message(
                        &json!({"approved": a.device_id, "grants": a.grants}),
                        &format!(
                            "device {} approved: certified, and {} vault key grant(s) issued",
                            a.device_id, a.grants
                        ),
                    )?;
                }
            }
        }
        Command::Session(cmd) => {
            let mut client = open()?;
            match cmd {
                SessionCommand::List => out.sessions(&client.sessions().await?)?,
                SessionCommand::Revoke { id } => {
                    let own = client.revoke_session(id).await?;
                    out.message(
                        &json!({"revoked": id, "this_session": own}),
                        &format!("session {id} revoked"),
                    )?;
                }
            }
        }
        Command::Audit(cmd) => {
            let client = open()?;
            match cmd {
                AuditCommand::List {
                    workspace,
                    after,
                    limit,
                } => out.audit(&client.audit(&workspace, after, limit).await?)?,
                AuditCommand::Verify => {
                    let v = client.audit_verify().await?;
                    let text = if v.ok {
                        format!("audit chain intact ({} entries)", v.entries)
                    } else {
                        format!(
                            "audit chain BROKEN at entry {} ({} entries checked)",
                            v.first_broken.map_or_else(|| "?".into(), |s| s.to_string()),
                            v.entries
                        )
                    };
                    out.message(&v, &text)?;
                    if !v.ok {
                        bail!("the audit chain is broken");
                    }
                }
            }
        }
    }
    Ok(())
}

fn mfa_answer(stdin: &mut Stdin, a: &CodeArgs) -> Result<MfaAnswer> {
    if let Some(c) = &a.recovery_code {
        return Ok(MfaAnswer::RecoveryCode(c.clone()));
    }
    if let Some(c) = &a.code {
        return Ok(MfaAnswer::Code(c.clone()));
    }
    let prompt = if a.recovery {
        "Recovery code: "
    } else {
        "MFA code: "
    };
    let code = input::code(stdin, a.code_stdin, prompt)?;
    Ok(if a.recovery {
        MfaAnswer::RecoveryCode(code)
    } else {
        MfaAnswer::Code(code)
    })
}

async fn mfa(out: &Out, stdin: &mut Stdin, client: Client, cmd: MfaCommand) -> Result<()> {
    match cmd {
        MfaCommand::Enable { code, code_stdin } => {
            let uri = client.mfa_enroll().await?;
            out.otpauth(&uri)?;
            let code = match code {
                Some(c) => c,
                None => input::code(stdin, code_stdin, "Code from your authenticator: ")?,
            };
            let codes = client.mfa_confirm(&code).await?;
            out.recovery_codes(&codes)?;
        }
        MfaCommand::Confirm { code } => {
            let codes = client.mfa_confirm(&code).await?;
            out.recovery_codes(&codes)?;
        }
        MfaCommand::Disable { code, code_stdin } => {
            let code = match code {
                Some(c) => c,
                None => input::code(stdin, code_stdin, "MFA code: ")?,
            };
            client.mfa_disable(&code).await?;
            out.message(&json!({"mfa_enabled": false}), "MFA disabled")?;
        }
    }
    Ok(())
}

async fn workspace(out: &Out, client: Client, cmd: WorkspaceCommand) -> Result<()> {
    match cmd {
        WorkspaceCommand::Create { name } => {
            let ws = client.workspace_create(&name).await?;
            out.message(
                &ws,
                &format!("workspace \"{}\" created ({})", ws.name, ws.workspace_id),
            )?;
        }
        WorkspaceCommand::List => out.workspaces(&client.workspaces().await?)?,
        WorkspaceCommand::Invite {
            args,
            role,
            workspace,
        } => {
            let (ws, email) = match (args.as_slice(), workspace) {
                ([email], Some(ws)) => (ws, email.clone()),
                ([ws, email], None) => (ws.clone(), email.clone()),
                ([_, _], Some(_)) => bail!("give the workspace either as NAME or as --workspace"),
                _ => bail!("usage: coffer workspace invite NAME EMAIL --role R"),
            };
            let r = client.invite(&ws, &email, role).await?;
            out.message(
                &json!({"invite_id": r.invite_id, "workspace": ws, "email": email, "role": role}),
                &format!("invited {email} to \"{ws}\" as {role}"),
            )?;
        }
        WorkspaceCommand::Invites => out.invites(&client.invites().await?)?,
        WorkspaceCommand::Accept { name } => {
            let inv = client.accept(&name).await?;
            out.message(
                &json!({"workspace_id": inv.workspace_id, "name": inv.workspace_name, "role": inv.role}),
                &format!("joined \"{}\" as {}", inv.workspace_name, inv.role),
            )?;
        }
        WorkspaceCommand::Members { name } => {
            let ws = client.resolve_workspace(&name).await?.workspace_id;
            let members = client.members(&name).await?;
            let confirmed = members
                .iter()
                .map(|m| match client.confirmed_by_me(ws, m) {
                    Ok(Some(true)) => "by you",
                    Ok(Some(false)) => "by another admin",
                    Ok(None) => "no",
                    Err(_) => "? (locked)",
                })
                .collect::<Vec<_>>();
            out.members(&members, &confirmed)?
        }
        WorkspaceCommand::Confirm {
            name,
            email,
            fingerprint,
        } => {
            let member = client.member_identity(&name, &email).await?;
            let phrase = match fingerprint {
                Some(p) => p,
                None => {
                    cmd_item::confirm(
                        &format!(
                            "{}'s identity fingerprint is:\n  {}\nDoes `coffer fingerprint` on \
                             their device show exactly these words?",
                            member.email, member.fingerprint
                        ),
                        false,
                    )?;
                    member.fingerprint.clone()
                }
            };
            client.confirm_member(&member, &phrase).await?;
            out.message(
                &json!({"confirmed": member.email, "user_id": member.user_id,
                        "fingerprint": member.fingerprint}),
                &format!("{} confirmed in {name}", member.email),
            )?;
        }
        WorkspaceCommand::ResetPassword { name, email } => {
            let (m, reset) = client.issue_password_reset(&name, &email).await?;
            out.message(
                &json!({"user_id": m.user_id, "email": m.email, "reset_id": reset.reset_id,
                        "token": reset.token, "expires_at": reset.expires_at}),
                &format!(
                    "password reset for {} (valid until {}). Give them this one-time token over a \
                     channel you trust:\n  {}\nThey run: coffer reset-password --email {} \
                     (the token in COFFER_RESET_TOKEN or --token). Then confirm their new \
                     identity: coffer workspace confirm {name} {}",
                    m.email,
                    output::time(reset.expires_at),
                    reset.token,
                    m.email,
                    m.email
                ),
            )?;
        }
        WorkspaceCommand::Role { name, email, role } => {
            let m = client.set_role(&name, &email, role).await?;
            out.message(
                &json!({"user_id": m.user_id, "email": m.email, "role": role}),
                &format!("{} is now {role} in \"{name}\"", m.email),
            )?;
        }
        WorkspaceCommand::Remove { name, email } => {
            let m = client.remove_member(&name, &email).await?;
            out.message(
                &json!({"removed": m.user_id, "email": m.email}),
                &format!("{} removed from \"{name}\"", m.email),
            )?;
        }
        WorkspaceCommand::Policy {
            name,
            mfa_required,
            admin_recovery,
        } => {
            let admin_recovery = admin_recovery
                .map(|a| a.parse::<coffer_proto::api::AdminRecovery>())
                .transpose()
                .map_err(|e| anyhow::anyhow!(e))?;
            let r = client
                .set_policy(&name, mfa_required, admin_recovery)
                .await
                .with_context(|| format!("cannot set the policy of \"{name}\""))?;
            for n in client.take_notices() {
                eprintln!("notice: {n}");
            }
            out.message(
                &json!({"workspace": name, "mfa_required": r.mfa_required,
                        "admin_recovery": r.admin_recovery.as_str(), "version": r.version}),
                &format!(
                    "\"{name}\": mfa_required = {}, admin_recovery = {} (signed policy version {})",
                    r.mfa_required,
                    r.admin_recovery.as_str(),
                    r.version
                ),
            )?;
        }
    }
    Ok(())
}
