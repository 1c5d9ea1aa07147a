//! How typed events keep personal data out of `Debug`.
//!
//! Patients' and doctors' names, emails, birth dates, addresses, file names and free-form data
//! print as `<redacted>` in `{:?}`, so that a `dbg!`, a `tracing` field or a panic message does
//! not copy them into logs. The values stay where they are: read the field itself
//! (`patient.email.as_deref()`, `address.city`) where your code needs it.

use std::fmt;

use serde_json::value::RawValue;

use super::text::Text;

/// Prints a personal field as `<redacted>` (or `None` when absent): whether it is there, never
/// what it holds.
pub(crate) struct Redacted<'a, T: ?Sized>(pub(crate) &'a T);

impl fmt::Debug for Redacted<'_, Option<Text>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for Redacted<'_, Option<Box<RawValue>>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(<redacted>)"),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for Redacted<'_, Box<RawValue>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted JSON, {} bytes>", self.0.get().len())
    }
}
