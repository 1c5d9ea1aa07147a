//! `subscriptions rotate`: RxScale has no rotation endpoint (spec §2.2), so a secret is rotated by
//! a second subscription for the same target and event type, both secrets in the receiver's
//! verifier, and the old subscription removed once deliveries verify with the new secret.
//!
//! The first step writes the new secret (mode 0600) and, next to it, a state file
//! `<secret>.rotation.json` naming both uids, the API, the host and the new secret's fingerprint
//! (no secret). `--finish STATE --verified-fingerprint FP` reads it back, so the old uid never
//! has to be typed twice, and refuses unless the fingerprint the operator saw in the receiver's
//! logs is the new secret's.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use rxscale_webhooks::SigningSecret;
use rxscale_webhooks_api::{Client, NewSubscription, Subscription};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::secret_file::{SecretFile, create_private};
use super::{ApiArgs, ApiChoice};
use crate::failure::{Failure, say};

#[derive(Debug, Args)]
pub(crate) struct RotateArgs {
    /// The uid of the subscription whose secret is replaced.
    #[arg(value_name = "OLD_UID", required_unless_present = "finish")]
    old_uid: Option<String>,

    /// Write the new signing secret to this new file (mode 0600). The rotation's state goes next
    /// to it, in PATH.rotation.json.
    #[arg(
        long,
        value_name = "PATH",
        required_unless_present = "finish",
        conflicts_with = "finish"
    )]
    secret_out: Option<PathBuf>,

    /// Finish the rotation recorded in this state file: remove the old subscription.
    #[arg(
        long,
        value_name = "STATE_FILE",
        conflicts_with = "old_uid",
        requires = "verified_fingerprint"
    )]
    finish: Option<PathBuf>,

    /// With --finish: the fingerprint (fp_...) your receiver logged for deliveries that verified
    /// with the new secret. It must be the new secret's.
    #[arg(long, value_name = "FP", requires = "finish")]
    verified_fingerprint: Option<String>,
}

/// What `rotate` leaves for `rotate --finish`. No secret: the fingerprint identifies it.
#[derive(Debug, Serialize, Deserialize)]
struct RotationState {
    api: String,
    base_url: String,
    old_uid: String,
    new_uid: String,
    target: String,
    notification_type: String,
    secret_file: PathBuf,
    new_fingerprint: String,
}

pub(crate) fn run(api: &ApiArgs, args: &RotateArgs) -> Result<(), Failure> {
    match (&args.finish, &args.old_uid, &args.secret_out) {
        (Some(state), _, _) => finish(
            api,
            state,
            args.verified_fingerprint.as_deref().unwrap_or_default(),
        ),
        (None, Some(old_uid), Some(secret_out)) => start(api, old_uid, secret_out),
        _ => Err(Failure::usage(
            "rotate needs OLD_UID and --secret-out PATH, or --finish STATE_FILE",
        )),
    }
}

fn state_path(secret_out: &Path) -> PathBuf {
    let mut name = secret_out.as_os_str().to_owned();
    name.push(".rotation.json");
    PathBuf::from(name)
}

fn start(api: &ApiArgs, old_uid: &str, secret_out: &Path) -> Result<(), Failure> {
    let client = api.client()?;
    let runtime = crate::commands::runtime()?;
    let subscriptions = runtime
        .block_on(client.list())
        .map_err(|err| api.report(&err, ""))?;
    let Some(old) = subscriptions.iter().find(|sub| sub.uid == old_uid) else {
        return Err(not_listed(api, &client, old_uid));
    };
    let mut new = NewSubscription::new(&old.target, &old.notification_type)
        .map_err(|err| api.report(&err, ""))?;
    if api.api == ApiChoice::Management {
        // The second subscription must deliver what the first does.
        if let Some(version) = &old.payload_version {
            new = new.payload_version(version.clone());
        }
        if let Some(meta_data) = &old.meta_data {
            new = new.meta_data(meta_data.clone());
        }
    }

    let secret_file = SecretFile::create(secret_out)?;
    let state_file_path = state_path(secret_out);
    let state_file = match create_private(&state_file_path) {
        Ok(file) => file,
        Err(err) => {
            secret_file.discard();
            return Err(Failure::usage(format!(
                "cannot create the rotation state file {}: {err}",
                state_file_path.display()
            )));
        }
    };
    let registration = match runtime.block_on(client.register(&new)) {
        Ok(registration) => registration,
        Err(err) => {
            secret_file.discard();
            drop(state_file);
            let _ = std::fs::remove_file(&state_file_path);
            return Err(api.report(&err, ""));
        }
    };
    let (subscription, secret) = registration.into_parts();
    let fingerprint = secret.fingerprint();
    let stored = secret_file.write(&secret).inspect_err(|_| {
        eprintln!(
            "error: subscription {} exists, but its secret could not be stored; remove it with \
             `rxscale-webhooks subscriptions remove {}`; {old_uid} is untouched",
            subscription.uid, subscription.uid
        );
    })?;
    let state = RotationState {
        api: client.api().as_str().to_owned(),
        base_url: client.base_url().to_owned(),
        old_uid: old_uid.to_owned(),
        new_uid: subscription.uid.clone(),
        target: subscription.target.clone(),
        notification_type: subscription.notification_type.clone(),
        secret_file: std::path::absolute(&stored).unwrap_or_else(|_| stored.clone()),
        new_fingerprint: fingerprint.to_string(),
    };
    write_state(state_file, &state_file_path, &state)?;

    if api.json {
        say(json!({
            "ok": true,
            "api": state.api,
            "old_uid": state.old_uid,
            "new_uid": state.new_uid,
            "subscription": subscription,
            "fingerprint": state.new_fingerprint,
            "secret_file": stored.display().to_string(),
            "state_file": state_file_path.display().to_string(),
        }));
        return Ok(());
    }
    explain_start(api, old, &subscription, &state, &stored, &state_file_path);
    Ok(())
}

fn write_state(mut file: std::fs::File, path: &Path, state: &RotationState) -> Result<(), Failure> {
    let written = serde_json::to_vec_pretty(state)
        .map_err(std::io::Error::other)
        .and_then(|mut bytes| {
            bytes.push(b'\n');
            file.write_all(&bytes)
        })
        .and_then(|()| file.sync_all());
    written.map_err(|err| {
        Failure::usage(format!(
            "the new subscription {} and its secret file exist, but the rotation state file {} \
             cannot be written ({err}); finish by hand: `rxscale-webhooks subscriptions remove {}` \
             once deliveries verify with {}",
            state.new_uid,
            path.display(),
            state.old_uid,
            state.new_fingerprint
        ))
    })
}

fn not_listed(api: &ApiArgs, client: &Client, uid: &str) -> Failure {
    let message = format!(
        "no subscription {uid} on the {} at {}; `subscriptions list` shows the uids",
        api.api_name(),
        client.base_url().trim_end_matches('/')
    );
    if api.json {
        say(json!({ "ok": false, "error": "not_listed", "detail": message }));
    }
    eprintln!("error: {message}");
    Failure::Rejected
}

fn explain_start(
    api: &ApiArgs,
    old: &Subscription,
    new: &Subscription,
    state: &RotationState,
    stored: &Path,
    state_file: &Path,
) {
    let fp = &state.new_fingerprint;
    say(format!(
        "registered {} on the {}: {} -> {}, next to {}",
        new.uid,
        api.api_name(),
        new.notification_type,
        new.target,
        old.uid
    ));
    say(format!(
        "new signing secret {fp} written to {} (mode 0600); RxScale shows it only this once",
        stored.display()
    ));
    say(format!(
        "rotation state (uids and fingerprint, no secret) in {}",
        state_file.display()
    ));
    say("");
    say("Next:");
    say("1. Give the receiver both secrets. A delivery verifies if either matches, and");
    say("   Verified::fingerprint() tells which one did. Several secrets go through the builder");
    say("   (the SDK reads no variable holding a list of them):");
    say("");
    say("       let verifier = Verifier::builder()");
    say(
        "           .secret(SigningSecret::from_env(\"RXSCALE_WEBHOOK_SECRET\")?) // the current one",
    );
    say(format!(
        "           .secret(SigningSecret::from_file({:?})?) // {fp}",
        state.secret_file.display().to_string()
    ));
    say("           .build()?;");
    say("");
    say(format!(
        "   Until step 3, each {} event goes to both subscriptions, each copy signed",
        new.notification_type
    ));
    say("   with its own secret; a ReplayGuard answers the second copy as a duplicate.");
    say(format!(
        "2. Deploy it, and wait until it logs deliveries verified with {fp}."
    ));
    say(format!("3. Remove the old subscription {}:", old.uid));
    say("");
    say(format!(
        "       rxscale-webhooks subscriptions rotate --finish {} \\",
        state_file.display()
    ));
    say(format!(
        "           --verified-fingerprint {fp}{}",
        api.repeat_flags()
    ));
    say("");
    say("4. After the retry horizon (the verifier's max age, 72 h by default), configure the");
    say("   new secret alone: until then, retries signed with the old one may still arrive.");
}

fn finish(api: &ApiArgs, state_file: &Path, verified: &str) -> Result<(), Failure> {
    let text = std::fs::read_to_string(state_file).map_err(|err| {
        Failure::usage(format!(
            "cannot read the rotation state file {}: {err}",
            state_file.display()
        ))
    })?;
    let state: RotationState = serde_json::from_str(&text).map_err(|err| {
        Failure::usage(format!(
            "{} is not a rotation state file written by `subscriptions rotate` (line {}, column \
             {})",
            state_file.display(),
            err.line(),
            err.column()
        ))
    })?;
    let client = api.client()?;
    if state.api != client.api().as_str() || state.base_url != client.base_url() {
        return Err(Failure::usage(format!(
            "this rotation was started on the {} API at {}; pass the same --api and --base-url \
             (or --dev) to finish it, not the {} at {}",
            state.api,
            state.base_url.trim_end_matches('/'),
            api.api_name(),
            client.base_url().trim_end_matches('/')
        )));
    }
    let secret = SigningSecret::from_file(&state.secret_file).map_err(|err| {
        Failure::usage(format!(
            "cannot read the new secret back from {}: {err}; the old subscription {} stays",
            state.secret_file.display(),
            state.old_uid
        ))
    })?;
    if secret.fingerprint().to_string() != state.new_fingerprint {
        return Err(Failure::usage(format!(
            "{} now holds the secret {}, not {} that this rotation registered; the old \
             subscription {} stays",
            state.secret_file.display(),
            secret.fingerprint(),
            state.new_fingerprint,
            state.old_uid
        )));
    }
    drop(secret);
    if verified.trim() != state.new_fingerprint {
        return Err(Failure::usage(format!(
            "--verified-fingerprint {} is not the new secret's fingerprint {}; remove the old \
             subscription {} only once your receiver logs deliveries verified with {}",
            verified.trim(),
            state.new_fingerprint,
            state.old_uid,
            state.new_fingerprint
        )));
    }

    let runtime = crate::commands::runtime()?;
    let subscriptions = runtime
        .block_on(client.list())
        .map_err(|err| api.report(&err, ""))?;
    if !subscriptions.iter().any(|sub| sub.uid == state.new_uid) {
        let message = format!(
            "the new subscription {} is no longer listed, so the old one {} stays: it is the only \
             one delivering {} to {}",
            state.new_uid, state.old_uid, state.notification_type, state.target
        );
        if api.json {
            say(json!({ "ok": false, "error": "new_subscription_missing", "detail": message }));
        }
        eprintln!("error: {message}");
        return Err(Failure::Rejected);
    }
    let already_removed = !subscriptions.iter().any(|sub| sub.uid == state.old_uid);
    if !already_removed {
        runtime
            .block_on(client.remove(&state.old_uid))
            .map_err(|err| api.report(&err, ""))?;
    }
    // The rotation is over; a second --finish has nothing left to do.
    let _ = std::fs::remove_file(state_file);

    if api.json {
        say(json!({
            "ok": true,
            "api": state.api,
            "removed": state.old_uid,
            "already_removed": already_removed,
            "new_uid": state.new_uid,
            "fingerprint": state.new_fingerprint,
        }));
        return Ok(());
    }
    if already_removed {
        say(format!(
            "{} was already removed; {} delivers {} to {}",
            state.old_uid, state.new_uid, state.notification_type, state.target
        ));
    } else {
        say(format!(
            "removed {}; {} ({}) alone delivers {} to {}",
            state.old_uid,
            state.new_uid,
            state.new_fingerprint,
            state.notification_type,
            state.target
        ));
    }
    say("Keep the old secret in the receiver until the retry horizon has passed (the verifier's");
    say("max age, 72 h by default), then configure the new one alone.");
    Ok(())
}
