//! Reading a body from `FILE` or `-` (standard input), byte for byte.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::failure::Failure;

/// Reads the whole body. `None` and `-` mean standard input; a terminal there is refused
/// rather than waited on, since nobody means to type a webhook body by hand.
pub(crate) fn read_body(path: Option<&Path>) -> Result<Vec<u8>, Failure> {
    match path {
        Some(path) if path != Path::new("-") => std::fs::read(path).map_err(|err| {
            Failure::usage(format!("cannot read body file {}: {err}", path.display()))
        }),
        _ => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                return Err(Failure::usage(
                    "no body: give a FILE, or pipe the body into standard input",
                ));
            }
            let mut body = Vec::new();
            stdin
                .read_to_end(&mut body)
                .map_err(|err| Failure::usage(format!("cannot read standard input: {err}")))?;
            Ok(body)
        }
    }
}
