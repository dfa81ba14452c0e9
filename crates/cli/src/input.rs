//! Secrets typed by people: passwords from a hidden prompt or from standard input
//! (`--password-stdin`), MFA codes from a prompt or standard input (`--code-stdin`). Lines of
//! standard input are read in order, so `--password-stdin --code-stdin` takes the password from
//! the first line and the code from the second.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Result, bail};
use coffer_crypto::Password;
use zeroize::Zeroizing;

/// Standard input, read line by line.
pub(crate) struct Stdin {
    lines_read: usize,
}

impl Stdin {
    pub(crate) fn new() -> Self {
        Self { lines_read: 0 }
    }

    /// The next line without its line ending; an error at end of input.
    fn line(&mut self, what: &str) -> Result<Zeroizing<String>> {
        let mut line = Zeroizing::new(String::new());
        let n = std::io::stdin().lock().read_line(&mut line)?;
        if n == 0 {
            bail!("standard input ended before the {what}");
        }
        self.lines_read += 1;
        while line.ends_with('\n') || line.ends_with('\r') {
            line.pop();
        }
        Ok(line)
    }
}

fn prompt_hidden(prompt: &str) -> Result<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() && !std::path::Path::new("/dev/tty").exists() {
        bail!("no terminal to ask on: use --password-stdin");
    }
    match rpassword::prompt_password(prompt) {
        Ok(p) => Ok(Zeroizing::new(p)),
        Err(e) => bail!("cannot read from the terminal ({e}): use --password-stdin"),
    }
}

/// The password of an existing account.
pub(crate) fn password(stdin: &mut Stdin, from_stdin: bool) -> Result<Password> {
    let p = if from_stdin {
        stdin.line("password")?
    } else {
        prompt_hidden("Password: ")?
    };
    if p.is_empty() {
        bail!("the password is empty");
    }
    Ok(Password::new(p.as_str().to_owned()))
}

/// A new password: asked twice at a prompt, once from standard input.
pub(crate) fn new_password(stdin: &mut Stdin, from_stdin: bool) -> Result<Password> {
    if from_stdin {
        return password(stdin, true);
    }
    let a = prompt_hidden("New password: ")?;
    let b = prompt_hidden("Repeat the password: ")?;
    if a != b {
        bail!("the passwords differ");
    }
    if a.chars().count() < 8 {
        bail!("the password is too short: use at least 8 characters");
    }
    Ok(Password::new(a.as_str().to_owned()))
}

/// An MFA or recovery code.
pub(crate) fn code(stdin: &mut Stdin, from_stdin: bool, prompt: &str) -> Result<String> {
    let c = if from_stdin {
        stdin.line("code")?
    } else {
        prompt_hidden(prompt)?
    };
    let c = c.trim().to_owned();
    if c.is_empty() {
        bail!("no code given");
    }
    Ok(c)
}
