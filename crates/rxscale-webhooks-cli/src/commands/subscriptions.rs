//! `subscriptions list | register | remove | test | rotate`: RxScale's subscription APIs
//! (spec §1.6) through `rxscale-webhooks-api`.
//!
//! The API key comes from an environment variable or a file, never the command line, and is
//! never printed. A new signing secret goes to a file created with mode 0600, or to standard
//! output only with `--print-secret`; otherwise it is named by its fingerprint.

mod rotate;
mod secret_file;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use rxscale_webhooks_api::{
    API_KEY_ENV, Api, ApiKey, Client, ErrorKind, NewSubscription, PathSpelling, Subscription,
    TestDelivery,
};
use serde_json::json;

use crate::failure::{Failure, say};

use self::secret_file::SecretFile;

#[derive(Debug, Args)]
pub(crate) struct SubscriptionsArgs {
    #[command(flatten)]
    api: ApiArgs,

    #[command(subcommand)]
    command: SubscriptionsCommand,
}

#[derive(Debug, Subcommand)]
enum SubscriptionsCommand {
    /// List the subscriptions the API key can see (uid, event type, target; never a secret).
    List,
    /// Register a subscription and store its signing secret, which RxScale shows only once.
    Register(RegisterArgs),
    /// Remove a subscription by uid.
    Remove(RemoveArgs),
    /// Ask RxScale for a test delivery to a subscription (Management API only).
    Test(TestArgs),
    /// Rotate a subscription's secret: a second subscription now, the old one removed later.
    Rotate(rotate::RotateArgs),
}

/// Which API, host and key: the client's options, global so that they may follow the
/// subcommand.
#[derive(Debug, Args)]
#[command(next_help_heading = "API options (any subcommand)")]
pub(crate) struct ApiArgs {
    /// Which API: external-pharmacy (pharmacy-scoped keys) or management (organisation-scoped
    /// keys).
    #[arg(long, value_enum, global = true, default_value_t = ApiChoice::ExternalPharmacy)]
    api: ApiChoice,

    /// Read the API key from this environment variable.
    #[arg(long, value_name = "NAME", global = true, default_value = API_KEY_ENV)]
    api_key_env: String,

    /// Read the API key from this file instead (one trailing line break is ignored).
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        conflicts_with = "api_key_env"
    )]
    api_key_file: Option<PathBuf>,

    /// The API host [default: https://api.rxscale.com]. Plain http:// only for loopback hosts.
    #[arg(long, value_name = "URL", global = true)]
    base_url: Option<String>,

    /// Use RxScale's development host, https://api.rxscale-dev.com.
    #[arg(long, global = true, conflicts_with = "base_url")]
    dev: bool,

    /// External Pharmacy API path: underscore is /v1/external_pharmacy_api/webhooks/ (newest
    /// docs), hyphen-v1 is /v1/external-pharmacy-api-v1/webhooks/ (older docs).
    #[arg(long, value_enum, global = true, default_value_t = SpellingChoice::Underscore)]
    path_spelling: SpellingChoice,

    /// Send this pharmacy_uid query parameter (group-wide pharmacy keys).
    #[arg(long, value_name = "UID", global = true)]
    pharmacy_uid: Option<String>,

    /// Print one JSON document on standard output instead of text, errors included.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ApiChoice {
    ExternalPharmacy,
    Management,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SpellingChoice {
    Underscore,
    HyphenV1,
}

impl ApiArgs {
    fn api(&self) -> Api {
        match self.api {
            ApiChoice::ExternalPharmacy => Api::ExternalPharmacy,
            ApiChoice::Management => Api::Management,
        }
    }

    fn api_name(&self) -> &'static str {
        match self.api {
            ApiChoice::ExternalPharmacy => "External Pharmacy API",
            ApiChoice::Management => "Management API",
        }
    }

    /// The options that select the same API, host and key again, for a command to paste.
    fn repeat_flags(&self) -> String {
        let mut flags = String::new();
        if self.api == ApiChoice::Management {
            flags.push_str(" --api management");
        }
        if let Some(base_url) = &self.base_url {
            flags.push_str(&format!(" --base-url {base_url}"));
        }
        if self.dev {
            flags.push_str(" --dev");
        }
        if let Some(path) = &self.api_key_file {
            flags.push_str(&format!(" --api-key-file {}", path.display()));
        } else if self.api_key_env != API_KEY_ENV {
            flags.push_str(&format!(" --api-key-env {}", self.api_key_env));
        }
        if self.path_spelling == SpellingChoice::HyphenV1 && self.api == ApiChoice::ExternalPharmacy
        {
            flags.push_str(" --path-spelling hyphen-v1");
        }
        if let Some(pharmacy_uid) = &self.pharmacy_uid {
            flags.push_str(&format!(" --pharmacy-uid {pharmacy_uid}"));
        }
        flags
    }

    /// The client, or (exit 2) what is missing: the key's source is named, its value never.
    fn client(&self) -> Result<Client, Failure> {
        let key = match &self.api_key_file {
            Some(path) => ApiKey::from_file(path),
            None => ApiKey::from_env(&self.api_key_env),
        }
        .map_err(|err| {
            let hint = if self.api_key_file.is_none() {
                " (or pass --api-key-file PATH)"
            } else {
                ""
            };
            self.report(&err, hint)
        })?;
        let mut builder =
            Client::builder(key)
                .api(self.api())
                .path_spelling(match self.path_spelling {
                    SpellingChoice::Underscore => PathSpelling::Underscore,
                    SpellingChoice::HyphenV1 => PathSpelling::HyphenV1,
                });
        if self.dev {
            builder = builder.development();
        }
        if let Some(base_url) = &self.base_url {
            builder = builder.base_url(base_url.clone());
        }
        if let Some(pharmacy_uid) = &self.pharmacy_uid {
            builder = builder.pharmacy_uid(pharmacy_uid.clone());
        }
        builder.build().map_err(|err| self.report(&err, ""))
    }

    /// Says what went wrong, with its kind, and picks the exit code: 2 for what was refused
    /// locally (configuration, a non-HTTPS target), 1 for what RxScale (or the network) answered.
    fn report(&self, err: &rxscale_webhooks_api::Error, suffix: &str) -> Failure {
        let kind = err.kind();
        if self.json {
            say(json!({
                "ok": false,
                "error": kind.as_str(),
                "status": err.http_status(),
                "message": err.message(),
                "required_permission": err.required_permission(),
                "subscription_uid": err.subscription_uid(),
                "detail": format!("{err}{suffix}"),
            }));
        }
        let local = matches!(kind, ErrorKind::Config | ErrorKind::InsecureTarget);
        if local {
            return Failure::usage(format!("{kind}: {err}{suffix}"));
        }
        eprintln!("error: {kind}: {err}{suffix}");
        if let Some(hint) = self.hint(err) {
            eprintln!("hint: {hint}");
        }
        Failure::Rejected
    }

    fn hint(&self, err: &rxscale_webhooks_api::Error) -> Option<String> {
        let key_source = match &self.api_key_file {
            Some(path) => format!("the file {}", path.display()),
            None => format!("the environment variable {}", self.api_key_env),
        };
        match err.kind() {
            ErrorKind::Unauthorized => Some(format!(
                "the key came from {key_source}; the {} takes {} keys",
                self.api_name(),
                match self.api {
                    ApiChoice::ExternalPharmacy => "pharmacy-scoped",
                    ApiChoice::Management => "organisation-scoped",
                }
            )),
            ErrorKind::PermissionDenied => err.required_permission().map(|permission| {
                format!("grant the key from {key_source} the permission {permission}")
            }),
            ErrorKind::NotFound => Some(match self.api {
                ApiChoice::ExternalPharmacy => String::from(
                    "`subscriptions list` shows the uids; a host that serves the older docs' \
                     path needs --path-spelling hyphen-v1",
                ),
                ApiChoice::Management => String::from("`subscriptions list` shows the uids"),
            }),
            ErrorKind::MissingSigningSecret => err.subscription_uid().map(|uid| {
                format!(
                    "the subscription exists but nobody can verify its deliveries; remove it with \
                     `rxscale-webhooks subscriptions remove {uid}`"
                )
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("secret_destination")
        .required(true)
        .args(["secret_out", "print_secret"])
))]
struct RegisterArgs {
    /// The HTTPS URL RxScale delivers to.
    #[arg(long, value_name = "URL")]
    target: String,

    /// The event type (notification_type), e.g. pharmacy_order_created.
    #[arg(long, value_name = "TYPE")]
    event: String,

    /// Write the signing secret to this new file, created with mode 0600 (never overwritten).
    #[arg(long, value_name = "PATH")]
    secret_out: Option<PathBuf>,

    /// Print the signing secret on standard output instead of writing a file.
    #[arg(long)]
    print_secret: bool,

    /// Management API only: the payload schema version [RxScale's default: "1"].
    #[arg(long, value_name = "VERSION")]
    payload_version: Option<String>,
}

#[derive(Debug, Args)]
struct RemoveArgs {
    /// The subscription's uid, as `subscriptions list` shows it.
    uid: String,
}

#[derive(Debug, Args)]
struct TestArgs {
    /// The subscription's uid, as `subscriptions list` shows it.
    uid: String,
}

pub(crate) fn run(args: SubscriptionsArgs) -> Result<(), Failure> {
    let api = &args.api;
    match args.command {
        SubscriptionsCommand::List => list(api),
        SubscriptionsCommand::Register(register_args) => register(api, &register_args),
        SubscriptionsCommand::Remove(remove_args) => remove(api, &remove_args.uid),
        SubscriptionsCommand::Test(test_args) => send_test(api, &test_args.uid),
        SubscriptionsCommand::Rotate(rotate_args) => rotate::run(api, &rotate_args),
    }
}

fn list(api: &ApiArgs) -> Result<(), Failure> {
    let client = api.client()?;
    let subscriptions = crate::commands::runtime()?
        .block_on(client.list())
        .map_err(|err| api.report(&err, ""))?;
    if api.json {
        say(serde_json::to_string(&subscriptions).unwrap_or_else(|_| String::from("[]")));
        return Ok(());
    }
    print_table(&subscriptions);
    say(format!(
        "{} subscription{} on the {} at {}{}",
        subscriptions.len(),
        if subscriptions.len() == 1 { "" } else { "s" },
        api.api_name(),
        client.base_url().trim_end_matches('/'),
        client.collection_path()
    ));
    Ok(())
}

fn print_table(subscriptions: &[Subscription]) {
    if subscriptions.is_empty() {
        return;
    }
    let uid_width = column_width("UID", subscriptions.iter().map(|sub| sub.uid.as_str()));
    let type_width = column_width(
        "EVENT TYPE",
        subscriptions
            .iter()
            .map(|sub| sub.notification_type.as_str()),
    );
    say(format!(
        "{:uid_width$}  {:type_width$}  TARGET",
        "UID", "EVENT TYPE"
    ));
    for sub in subscriptions {
        say(format!(
            "{:uid_width$}  {:type_width$}  {}",
            sub.uid, sub.notification_type, sub.target
        ));
    }
}

fn column_width<'a>(header: &str, values: impl Iterator<Item = &'a str>) -> usize {
    values
        .map(|value| value.chars().count())
        .chain(std::iter::once(header.len()))
        .max()
        .unwrap_or(0)
}

/// Where a new secret goes: a 0600 file opened before the request (so that an unwritable path
/// fails before a subscription exists), or standard output.
enum SecretDestination {
    File(SecretFile),
    Print,
}

impl SecretDestination {
    fn open(path: Option<&std::path::Path>, api: &ApiArgs) -> Result<Self, Failure> {
        match path {
            Some(path) => SecretFile::create(path).map(SecretDestination::File),
            None => {
                if !api.json {
                    // Said first, so that it is above the secret in a terminal.
                    eprintln!(
                        "warning: --print-secret: the signing secret appears below; it stays in \
                         your terminal's scrollback and any log of this output"
                    );
                }
                Ok(SecretDestination::Print)
            }
        }
    }
}

fn register(api: &ApiArgs, args: &RegisterArgs) -> Result<(), Failure> {
    // The target is checked before anything else, key and secret file included: a non-HTTPS
    // target is refused with the spec's reason and nothing is created or sent.
    let mut new =
        NewSubscription::new(&args.target, &args.event).map_err(|err| api.report(&err, ""))?;
    if let Some(version) = &args.payload_version {
        new = new.payload_version(version.clone());
    }
    let client = api.client()?;
    let destination = SecretDestination::open(args.secret_out.as_deref(), api)?;
    let registration = match crate::commands::runtime()?.block_on(client.register(&new)) {
        Ok(registration) => registration,
        Err(err) => {
            if let SecretDestination::File(file) = destination {
                file.discard();
            }
            return Err(api.report(&err, ""));
        }
    };
    let (subscription, secret) = registration.into_parts();
    let fingerprint = secret.fingerprint();
    let stored = match destination {
        SecretDestination::File(file) => Some(file.write(&secret).inspect_err(|_| {
            eprintln!(
                "error: subscription {} exists, but its secret could not be stored; remove it \
                 with `rxscale-webhooks subscriptions remove {}` and register again",
                subscription.uid, subscription.uid
            );
        })?),
        SecretDestination::Print => None,
    };
    if api.json {
        let mut out = json!({
            "ok": true,
            "api": client.api().as_str(),
            "subscription": subscription,
            "fingerprint": fingerprint.to_string(),
            "secret_file": stored.as_ref().map(|path| path.display().to_string()),
        });
        if stored.is_none() {
            out["signing_secret"] = json!(secret.expose_secret());
        }
        say(out);
        return Ok(());
    }
    say(format!(
        "registered {} on the {}: {} -> {}",
        subscription.uid,
        api.api_name(),
        subscription.notification_type,
        subscription.target
    ));
    match &stored {
        Some(path) => say(format!(
            "signing secret {fingerprint} written to {} (mode 0600)",
            path.display()
        )),
        None => {
            say(format!("signing secret {fingerprint}:"));
            say(secret.expose_secret());
        }
    }
    say(
        "RxScale shows a subscription's secret only once, in this response: it cannot be listed \
         or fetched again. Keep it now.",
    );
    Ok(())
}

fn remove(api: &ApiArgs, uid: &str) -> Result<(), Failure> {
    let client = api.client()?;
    crate::commands::runtime()?
        .block_on(client.remove(uid))
        .map_err(|err| api.report(&err, ""))?;
    if api.json {
        say(json!({ "ok": true, "api": client.api().as_str(), "removed": uid }));
    } else {
        say(format!("removed {uid} from the {}", api.api_name()));
    }
    Ok(())
}

fn send_test(api: &ApiArgs, uid: &str) -> Result<(), Failure> {
    let client = api.client()?;
    let outcome = crate::commands::runtime()?
        .block_on(client.send_test(&TestDelivery::for_subscription(uid)))
        .map_err(|err| api.report(&err, ""))?;
    if api.json {
        say(json!({
            "ok": true,
            "api": client.api().as_str(),
            "uid": uid,
            "status": outcome.status,
            "message": outcome.message,
        }));
    } else {
        say(format!(
            "test delivery for {uid} requested: {}{}",
            outcome.status,
            outcome
                .message
                .as_deref()
                .map(|message| format!(" ({message})"))
                .unwrap_or_default()
        ));
        say(
            "RxScale now POSTs a test event to the subscription's target; the shape of test \
             events is not documented (spec §5), so a receiver should answer 200 to any delivery \
             whose signature verifies",
        );
    }
    Ok(())
}
