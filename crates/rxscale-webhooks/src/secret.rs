use std::fmt;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::ConfigError;

/// The prefix RxScale puts on every signing secret. It is part of the HMAC key.
pub const SECRET_PREFIX: &str = "whsec_";

/// A subscription's `signing_secret`, exactly as RxScale returned it.
///
/// The HMAC key is the whole string as UTF-8 bytes, `whsec_` prefix included: nothing is
/// stripped, trimmed or decoded (spec §2.1). `Debug` and `Display` are redacted and the memory is
/// zeroized on drop.
///
/// A secret with surrounding whitespace, or without the `whsec_` prefix, is accepted as given
/// (it may be exactly what the user means) but logs a warning through `tracing`, because it is
/// the most common reason signatures fail.
///
/// ```
/// use rxscale_webhooks::SigningSecret;
///
/// let secret = SigningSecret::new("whsec_abc123");
/// assert_eq!(format!("{secret:?}"), "SigningSecret(fp_011d8895b478, redacted)");
/// ```
#[derive(Clone)]
pub struct SigningSecret {
    value: Zeroizing<String>,
    fingerprint: Fingerprint,
}

impl SigningSecret {
    /// Wraps a secret string.
    pub fn new(secret: impl Into<String>) -> Self {
        let value = Zeroizing::new(secret.into());
        let fingerprint = Fingerprint::of(value.as_bytes());
        SigningSecret { value, fingerprint }
    }

    /// Reads the secret from the environment variable `name`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::MissingEnvVar`] or [`ConfigError::EnvVarNotUnicode`], naming the variable.
    pub fn from_env(name: &str) -> Result<Self, ConfigError> {
        match std::env::var(name) {
            Ok(value) => Ok(SigningSecret::new(value)),
            Err(std::env::VarError::NotPresent) => Err(ConfigError::MissingEnvVar {
                name: name.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::EnvVarNotUnicode {
                name: name.to_owned(),
            }),
        }
    }

    /// Reads the secret from a file. One trailing line break (`\n` or `\r\n`) is removed, since
    /// editors and `echo` add it; any other whitespace is kept and warned about.
    ///
    /// # Errors
    ///
    /// [`ConfigError::SecretFile`] when the file cannot be read or is not UTF-8.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let contents = Zeroizing::new(std::fs::read_to_string(path).map_err(|err| {
            ConfigError::SecretFile {
                path: path.display().to_string(),
                source: Arc::new(err),
            }
        })?);
        let line = contents
            .strip_suffix("\r\n")
            .or_else(|| contents.strip_suffix('\n'))
            .unwrap_or(&contents);
        Ok(SigningSecret::new(line))
    }

    /// A short, non-reversible identifier of this secret, safe to log and show to operators.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The secret itself. Named loudly so that it stands out in review: keep it out of logs.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.value
    }

    pub(crate) fn key_bytes(&self) -> &[u8] {
        self.value.as_bytes()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningSecret({}, redacted)", self.fingerprint)
    }
}

impl fmt::Display for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted signing secret]")
    }
}

impl From<&str> for SigningSecret {
    fn from(value: &str) -> Self {
        SigningSecret::new(value)
    }
}

impl From<String> for SigningSecret {
    fn from(value: String) -> Self {
        SigningSecret::new(value)
    }
}

/// A short identifier of a [`SigningSecret`]: `fp_` followed by 12 hex digits.
///
/// It is the first 6 bytes of SHA-256 over a fixed domain label and the secret, so it reveals
/// nothing usable about a high-entropy secret, yet tells an operator which one is configured or
/// which one matched a delivery.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 6]);

impl Fingerprint {
    const DOMAIN: &'static [u8] = b"rxscale-webhooks fingerprint v1\0";

    fn of(secret: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(Self::DOMAIN)
            .chain_update(secret)
            .finalize();
        let mut short = [0u8; 6];
        short.copy_from_slice(&digest[..6]);
        Fingerprint(short)
    }
}

impl Fingerprint {
    /// `fp_` and 12 hex digits, as `Display` writes it, without the formatting machinery: the
    /// metrics label of every verified delivery.
    #[cfg(feature = "metrics")]
    pub(crate) fn to_label(self) -> String {
        let mut label = [0u8; 15];
        label[..3].copy_from_slice(b"fp_");
        let hex = base16ct::lower::encode(&self.0, &mut label[3..]).map_or(0, <[u8]>::len);
        String::from_utf8_lossy(&label[..3 + hex]).into_owned()
    }

    /// The 6 bytes as a number, never `u64::MAX`.
    #[cfg(feature = "metrics")]
    pub(crate) fn to_bits(self) -> u64 {
        let mut bits = [0u8; 8];
        bits[..6].copy_from_slice(&self.0);
        u64::from_le_bytes(bits)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fp_")?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let secret = SigningSecret::new("whsec_supersecretvalue");
        let debug = format!("{secret:?}");
        let display = format!("{secret}");
        assert!(!debug.contains("supersecret"), "{debug}");
        assert!(!display.contains("supersecret"), "{display}");
        assert!(debug.contains(&secret.fingerprint().to_string()));
    }

    #[test]
    fn fingerprint_is_the_documented_derivation() {
        // docs/security.md: `fp_` + the first 6 bytes of
        // SHA-256("rxscale-webhooks fingerprint v1\0" || secret), pinned from python3:
        // hashlib.sha256(b"rxscale-webhooks fingerprint v1\0whsec_a").hexdigest()[:12]
        assert_eq!(
            SigningSecret::new("whsec_a").fingerprint().to_string(),
            "fp_a00d20bc8a4c"
        );
    }

    #[test]
    fn the_secret_is_held_in_storage_that_is_wiped_on_drop() {
        // `Zeroizing` overwrites the string's bytes when it is dropped (the zeroize crate's
        // guarantee); this pins that the secret is kept in it and nowhere else.
        let secret = SigningSecret::new("whsec_wiped");
        let SigningSecret { value, .. } = &secret;
        let storage: &Zeroizing<String> = value;
        assert_eq!(storage.as_str(), "whsec_wiped");
    }

    #[test]
    fn fingerprint_is_stable_short_and_distinct() {
        let a = SigningSecret::new("whsec_a").fingerprint();
        let b = SigningSecret::new("whsec_b").fingerprint();
        assert_eq!(a, SigningSecret::new("whsec_a").fingerprint());
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 15);
        assert!(text.starts_with("fp_"));
    }

    #[test]
    fn from_env_names_the_variable() {
        let err = SigningSecret::from_env("RXSCALE_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(
            err.to_string()
                .contains("RXSCALE_TEST_SURELY_UNSET_VARIABLE")
        );
    }

    #[test]
    fn from_file_strips_one_line_break_only() {
        let dir = std::env::temp_dir().join(format!("rxscale-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "whsec_filed\r\n").unwrap();
        assert_eq!(
            SigningSecret::from_file(&path).unwrap().expose_secret(),
            "whsec_filed"
        );
        std::fs::write(&path, " whsec_filed\n\n").unwrap();
        assert_eq!(
            SigningSecret::from_file(&path).unwrap().expose_secret(),
            " whsec_filed\n"
        );
        let missing = SigningSecret::from_file(dir.join("absent")).unwrap_err();
        assert!(matches!(missing, ConfigError::SecretFile { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
