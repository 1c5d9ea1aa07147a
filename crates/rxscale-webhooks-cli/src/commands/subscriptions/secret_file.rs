//! A new signing secret's file: created exclusively with mode 0600 before the registration
//! request, written after it. It is never world-readable, not even between creation and
//! `chmod`, because the mode is set by the `open` that creates it; and an existing file is never
//! overwritten, since it may hold the only copy of another secret.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rxscale_webhooks::SigningSecret;

use crate::failure::Failure;

/// A created, still empty secret file. Dropped without [`SecretFile::write`], it is removed.
pub(crate) struct SecretFile {
    path: PathBuf,
    file: Option<File>,
}

/// Opens `path` for writing only if it does not exist yet, with mode 0600 on Unix (the umask
/// can only make it stricter).
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

impl SecretFile {
    /// Creates the file, or explains (exit 2) why it cannot be: it exists, or its directory is
    /// missing or not writable. Nothing has been sent yet when this fails.
    pub(crate) fn create(path: &Path) -> Result<Self, Failure> {
        let file = create_private(path).map_err(|err| {
            if err.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::usage(format!(
                    "{} already exists; a secret file is never overwritten (it may hold the only \
                     copy of a secret). Choose another path",
                    path.display()
                ))
            } else {
                Failure::usage(format!(
                    "cannot create the secret file {}: {err}",
                    path.display()
                ))
            }
        })?;
        Ok(SecretFile {
            path: path.to_owned(),
            file: Some(file),
        })
    }

    /// Writes the secret and a line break (which `SigningSecret::from_file` strips), flushes it
    /// to disk, and returns the path.
    pub(crate) fn write(mut self, secret: &SigningSecret) -> Result<PathBuf, Failure> {
        let Some(mut file) = self.file.take() else {
            return Err(Failure::usage("the secret file was already written"));
        };
        let written = file
            .write_all(secret.expose_secret().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all());
        match written {
            Ok(()) => Ok(std::mem::take(&mut self.path)),
            Err(err) => {
                drop(file);
                let _ = std::fs::remove_file(&self.path);
                Err(Failure::usage(format!(
                    "cannot write the secret file {}: {err}",
                    self.path.display()
                )))
            }
        }
    }

    /// Removes the empty file: the registration failed, so there is no secret to keep.
    pub(crate) fn discard(mut self) {
        self.remove_if_unwritten();
    }

    fn remove_if_unwritten(&mut self) {
        if let Some(file) = self.file.take() {
            drop(file);
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        self.remove_if_unwritten();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rxscale-cli-secret-file-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn written_files_are_0600_read_back_and_never_overwritten() {
        let dir = scratch("write");
        let path = dir.join("new.secret");
        let file = SecretFile::create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            // Already private while still empty, before any secret is in it.
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        let secret = SigningSecret::new("whsec_file_test");
        assert_eq!(file.write(&secret).unwrap(), path);
        let read = SigningSecret::from_file(&path).unwrap();
        assert_eq!(read.fingerprint(), secret.fingerprint());
        let Err(Failure::Usage(message)) = SecretFile::create(&path) else {
            panic!("an existing file was opened again");
        };
        assert!(message.contains("never overwritten"), "{message}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "whsec_file_test\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn discarded_or_dropped_files_disappear() {
        let dir = scratch("discard");
        let path = dir.join("a.secret");
        SecretFile::create(&path).unwrap().discard();
        assert!(!path.exists());
        drop(SecretFile::create(&path).unwrap());
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
