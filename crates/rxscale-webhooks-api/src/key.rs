use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Error;

/// The environment variable [`ApiKey::from_default_env`] reads: `RXSCALE_API_KEY`.
pub const API_KEY_ENV: &str = "RXSCALE_API_KEY";

/// An RxScale API key, sent in the `X-API-Key` header.
///
/// External Pharmacy API keys are pharmacy-scoped, Management API keys organisation-scoped
/// (spec §1.6); the type is the same. Like [`rxscale_webhooks::SigningSecret`], `Debug` and
/// `Display` are redacted, the memory is zeroized on drop, and the header is marked sensitive so
/// that HTTP-level logging leaves it out.
///
/// ```
/// use rxscale_webhooks_api::ApiKey;
///
/// let key = ApiKey::new("rxs_live_123");
/// assert_eq!(format!("{key:?}"), "ApiKey(redacted)");
/// assert_eq!(key.to_string(), "[redacted API key]");
/// ```
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a key string as given.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(Zeroizing::new(key.into()))
    }

    /// Reads the key from the environment variable `name`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config), naming the variable, when it is unset,
    /// not UTF-8 or empty.
    pub fn from_env(name: &str) -> Result<Self, Error> {
        match std::env::var(name) {
            Ok(value) => ApiKey::non_empty(value, || format!("environment variable {name}")),
            Err(std::env::VarError::NotPresent) => Err(Error::config(format!(
                "environment variable {name} is not set; it must hold the RxScale API key"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::config(format!(
                "environment variable {name} is not valid UTF-8"
            ))),
        }
    }

    /// Reads the key from [`API_KEY_ENV`] (`RXSCALE_API_KEY`).
    ///
    /// # Errors
    ///
    /// As [`ApiKey::from_env`].
    pub fn from_default_env() -> Result<Self, Error> {
        ApiKey::from_env(API_KEY_ENV)
    }

    /// Reads the key from a file (a mounted secret). One trailing line break is removed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`](crate::ErrorKind::Config), naming the path, when the file cannot be
    /// read, is not UTF-8 or holds no key.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let contents = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
            Error::config(format!(
                "cannot read API key file {}: {err}",
                path.display()
            ))
        })?);
        let line = contents
            .strip_suffix("\r\n")
            .or_else(|| contents.strip_suffix('\n'))
            .unwrap_or(&contents);
        ApiKey::non_empty(line.to_owned(), || format!("file {}", path.display()))
    }

    fn non_empty(value: String, source: impl FnOnce() -> String) -> Result<Self, Error> {
        let key = ApiKey::new(value);
        if key.0.trim().is_empty() {
            return Err(Error::config(format!(
                "the API key in {} is empty",
                source()
            )));
        }
        Ok(key)
    }

    /// The key itself. Named loudly so that it stands out in review: keep it out of logs.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(redacted)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted API key]")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn file_key_loses_one_line_break_and_empty_is_refused() {
        let dir = std::env::temp_dir().join(format!("rxscale-api-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key");
        std::fs::write(&path, "k_123\n").unwrap();
        assert_eq!(ApiKey::from_file(&path).unwrap().expose_secret(), "k_123");
        std::fs::write(&path, "\n").unwrap();
        let err = ApiKey::from_file(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config);
        assert!(err.to_string().contains("empty"), "{err}");
        let missing = ApiKey::from_env("RXSCALE_API_KEY_SURELY_UNSET_IN_TESTS").unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("RXSCALE_API_KEY_SURELY_UNSET_IN_TESTS")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
