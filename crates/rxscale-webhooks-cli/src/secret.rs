//! Where the signing secret comes from: an environment variable or a file, never an argument,
//! so that it stays out of shell history and `ps`.

use std::path::PathBuf;

use clap::Args;
use rxscale_webhooks::SigningSecret;

use crate::failure::Failure;

/// The environment variable read when neither option is given.
pub(crate) const DEFAULT_SECRET_ENV: &str = "RXSCALE_WEBHOOK_SECRET";

#[derive(Debug, Clone, Args)]
pub(crate) struct SecretArgs {
    /// Read the whsec_... signing secret from this environment variable.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_SECRET_ENV)]
    secret_env: String,

    /// Read the signing secret from this file instead (one trailing line break is ignored).
    #[arg(long, value_name = "PATH", conflicts_with = "secret_env")]
    secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// Loads the secret, or explains (exit 2) which source is missing and how to provide one.
    pub(crate) fn load(&self) -> Result<SigningSecret, Failure> {
        let secret = match &self.secret_file {
            Some(path) => SigningSecret::from_file(path).map_err(Failure::usage)?,
            None => SigningSecret::from_env(&self.secret_env).map_err(|err| {
                Failure::usage(format!(
                    "no signing secret: {err} (or pass --secret-file PATH)"
                ))
            })?,
        };
        if secret.expose_secret().is_empty() {
            let source = match &self.secret_file {
                Some(path) => format!("file {}", path.display()),
                None => format!("environment variable {}", self.secret_env),
            };
            return Err(Failure::usage(format!(
                "the signing secret in {source} is empty; it must hold the whsec_... secret"
            )));
        }
        Ok(secret)
    }
}

/// A fresh random secret in RxScale's format: `whsec_` and 32 hex digits (128 bits).
pub(crate) fn random_secret() -> Result<SigningSecret, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| {
        Failure::usage(format!(
            "cannot draw a random secret from the system: {err}"
        ))
    })?;
    let digits: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(SigningSecret::new(format!(
        "{}{digits}",
        rxscale_webhooks::SECRET_PREFIX
    )))
}
