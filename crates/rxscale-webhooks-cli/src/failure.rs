//! How a command ends when it does not succeed, and the exit code that goes with it.

use std::fmt::Display;
use std::process::ExitCode;

/// A command that did not succeed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Exit 1: a delivery was rejected or a body is invalid. What to say was already printed.
    Rejected,
    /// Exit 2: the command cannot run as given. The message names what is missing or wrong.
    Usage(String),
}

impl Failure {
    pub(crate) fn usage(message: impl Display) -> Self {
        Failure::Usage(message.to_string())
    }

    pub(crate) fn report(self) -> ExitCode {
        match self {
            Failure::Rejected => ExitCode::from(1),
            Failure::Usage(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        }
    }
}

/// Prints one line on standard output. A closed pipe (`| head`) must not panic the way
/// `println!` would, and there is nobody left to tell, so write errors are dropped.
pub(crate) fn say(line: impl Display) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}
