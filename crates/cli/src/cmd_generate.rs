//! `coffer generate`: a random password (by policy) or an EFF-list passphrase, printed on
//! standard output; `--json` gives `{"value":…,"entropy_bits":…}`. Needs no login: it is
//! `coffer_client::generate` and the OS random number generator only.

use anyhow::Result;
use clap::Args;
use coffer_client::generate::{
    DEFAULT_LENGTH, DEFAULT_WORDS, PasswordPolicy, generate_passphrase, generate_password,
    passphrase_entropy_bits, password_entropy_bits,
};
use serde_json::json;
use zeroize::Zeroizing;

use crate::output::Out;

/// Options of a generated password or passphrase (shared by `item create/edit --generate`).
#[derive(Debug, Clone, Args)]
pub(crate) struct GenerateArgs {
    /// Number of characters of a password.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LENGTH, conflicts_with = "passphrase")]
    pub(crate) length: usize,
    /// No symbols.
    #[arg(long, conflicts_with = "passphrase")]
    pub(crate) no_symbols: bool,
    /// No digits.
    #[arg(long, conflicts_with = "passphrase")]
    pub(crate) no_digits: bool,
    /// No upper-case letters.
    #[arg(long, conflicts_with = "passphrase")]
    pub(crate) no_uppercase: bool,
    /// No lower-case letters.
    #[arg(long, conflicts_with = "passphrase")]
    pub(crate) no_lowercase: bool,
    /// Allow look-alike characters (I l 1 | O 0 o).
    #[arg(long, conflicts_with = "passphrase")]
    pub(crate) allow_lookalikes: bool,
    /// A passphrase of words from the EFF large word list instead of a password.
    #[arg(long)]
    pub(crate) passphrase: bool,
    /// Number of passphrase words.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WORDS, requires = "passphrase")]
    pub(crate) words: usize,
    /// Passphrase word separator.
    #[arg(long, value_name = "S", default_value = "-", requires = "passphrase")]
    pub(crate) separator: String,
    /// Capitalise each passphrase word.
    #[arg(long, requires = "passphrase")]
    pub(crate) capitalize: bool,
    /// Append a random digit to one passphrase word.
    #[arg(long, requires = "passphrase")]
    pub(crate) number: bool,
}

impl GenerateArgs {
    /// The password policy these options describe.
    pub(crate) fn policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            length: self.length,
            lowercase: !self.no_lowercase,
            uppercase: !self.no_uppercase,
            digits: !self.no_digits,
            symbols: !self.no_symbols,
            exclude_lookalikes: !self.allow_lookalikes,
        }
    }

    /// A fresh secret and its strength in bits.
    pub(crate) fn generate(&self) -> Result<(Zeroizing<String>, f64)> {
        if self.passphrase {
            let value =
                generate_passphrase(self.words, &self.separator, self.capitalize, self.number)?;
            Ok((value, passphrase_entropy_bits(self.words, self.number)))
        } else {
            let policy = self.policy();
            let value = generate_password(&policy)?;
            Ok((value, password_entropy_bits(&policy)?))
        }
    }
}

/// Rounds to one decimal for display and JSON.
fn round1(bits: f64) -> f64 {
    (bits * 10.0).round() / 10.0
}

/// `coffer generate`.
pub(crate) fn run(out: &Out, json: bool, a: &GenerateArgs) -> Result<()> {
    let (value, bits) = a.generate()?;
    let bits = round1(bits);
    out.message(
        &json!({"value": value.as_str(), "entropy_bits": bits}),
        value.as_str(),
    )?;
    if !json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        eprintln!("({bits:.1} bits of entropy)");
    }
    Ok(())
}
