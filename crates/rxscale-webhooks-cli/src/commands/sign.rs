//! `sign [FILE|-]`: the signature RxScale would send for these bytes.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::failure::Failure;
use crate::input::read_body;
use crate::secret::SecretArgs;

#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    #[command(flatten)]
    secret: SecretArgs,

    /// The body to sign, byte for byte; `-` or nothing reads standard input.
    #[arg(value_name = "FILE|-")]
    input: Option<PathBuf>,
}

pub(crate) fn run(args: SignArgs) -> Result<(), Failure> {
    let secret = args.secret.load()?;
    let body = read_body(args.input.as_deref())?;
    let signature = rxscale_webhooks::sign(&secret, &body);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{signature}")
        .and_then(|()| stdout.flush())
        .map_err(|err| Failure::usage(format!("cannot write to standard output: {err}")))
}
