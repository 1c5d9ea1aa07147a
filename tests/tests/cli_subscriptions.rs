//! The `rxscale-webhooks subscriptions` commands, the real binary, against the stand-in for
//! RxScale's subscription APIs (`rxscale_webhooks_tests::rxscale_api_standin`) over HTTP on
//! 127.0.0.1: every subcommand on both APIs and both path spellings, `--json` parsed, the 0600
//! secret file, refusals before any request, every error status with its kind, and a whole
//! rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use rxscale_webhooks::testing::fixture;
use rxscale_webhooks::{EventType, OffsetDateTime, SigningSecret, Verifier, sign};
use rxscale_webhooks_tests::rxscale_api_standin::{
    MANAGEMENT_KEY, MANAGEMENT_PATH, MANAGEMENT_READ_ONLY_KEY, PHARMACY_KEY, PHARMACY_PATH_V1,
    PHARMACY_PATH_V3, PHARMACY_READ_ONLY_KEY, RxscaleApiStandin, StandinApi,
};
use serde_json::Value;

const TARGET: &str = "https://receiver.example/webhooks/rxscale";

/// The `rxscale-webhooks` binary, built once per test process.
fn cli_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| rxscale_webhooks_tests::workspace_executable("--bin", "rxscale-webhooks"))
}

/// One API as the CLI selects it, with the stand-in's read-write and read-only keys.
#[derive(Clone, Copy, Debug)]
struct Flavour {
    flags: &'static [&'static str],
    key: &'static str,
    read_only_key: &'static str,
    path: &'static str,
    standin_api: StandinApi,
    uid_prefix: &'static str,
    write_permission: &'static str,
}

const PHARMACY_V3: Flavour = Flavour {
    flags: &["--api", "external-pharmacy"],
    key: PHARMACY_KEY,
    read_only_key: PHARMACY_READ_ONLY_KEY,
    path: PHARMACY_PATH_V3,
    standin_api: StandinApi::Pharmacy,
    uid_prefix: "sub-",
    write_permission: "webhooks_write",
};
const PHARMACY_V1: Flavour = Flavour {
    flags: &["--path-spelling", "hyphen-v1"],
    path: PHARMACY_PATH_V1,
    ..PHARMACY_V3
};
const MANAGEMENT: Flavour = Flavour {
    flags: &["--api", "management"],
    key: MANAGEMENT_KEY,
    read_only_key: MANAGEMENT_READ_ONLY_KEY,
    path: MANAGEMENT_PATH,
    standin_api: StandinApi::Management,
    uid_prefix: "ns-",
    write_permission: "notification_subscription:write",
};
const FLAVOURS: &[Flavour] = &[PHARMACY_V3, PHARMACY_V1, MANAGEMENT];

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|err| {
            panic!("stdout is not one JSON document ({err}): {}", self.stdout)
        })
    }

    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit {} instead of {code}\nstdout: {}\nstderr: {}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `rxscale-webhooks subscriptions ARGS` in `dir` against the stand-in, with `key` in
/// `RXSCALE_API_KEY` (none inherited from the developer's environment).
fn run(standin: &RxscaleApiStandin, dir: &Path, key: Option<&str>, args: &[&str]) -> Outcome {
    let mut command = Command::new(cli_binary());
    command
        .current_dir(dir)
        .env_remove("RXSCALE_API_KEY")
        .env_remove("RXSCALE_WEBHOOK_SECRET")
        .arg("subscriptions")
        .args(args)
        .args(["--base-url", standin.base_url()])
        .stdin(Stdio::null());
    if let Some(key) = key {
        command.env("RXSCALE_API_KEY", key);
    }
    let output = command.output().expect("the CLI runs");
    Outcome {
        code: output.status.code().expect("the CLI exits"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rxscale-cli-subscriptions-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args<'a>(flavour: &Flavour, rest: &[&'a str]) -> Vec<&'a str> {
    flavour
        .flags
        .iter()
        .copied()
        .chain(rest.iter().copied())
        .collect()
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_path: &Path) {}

/// The secret in `file` is the one the stand-in issued for `uid`, and `fingerprint` is its.
fn assert_stored_secret(standin: &RxscaleApiStandin, uid: &str, file: &Path, fingerprint: &str) {
    assert_private(file);
    let issued = standin.subscription(uid).unwrap().signing_secret;
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        format!("{issued}\n")
    );
    let from_file = SigningSecret::from_file(file).unwrap();
    assert_eq!(from_file.fingerprint().to_string(), fingerprint);
    assert_eq!(
        SigningSecret::new(issued).fingerprint().to_string(),
        fingerprint
    );
}

#[test]
fn every_subcommand_on_both_apis_and_both_path_spellings_with_json() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("json");
    for (n, flavour) in FLAVOURS.iter().enumerate() {
        let secret_file = format!("secret-{n}");
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "pharmacy_order_updated",
                    "--secret-out",
                    &secret_file,
                    "--json",
                ],
            ),
        );
        out.assert_code(0);
        let json = out.json();
        assert_eq!(json["ok"], true);
        let uid = json["subscription"]["uid"].as_str().unwrap().to_owned();
        assert!(uid.starts_with(flavour.uid_prefix), "{uid}");
        assert_eq!(json["subscription"]["target"], TARGET);
        assert_eq!(
            json["subscription"]["notification_type"],
            "pharmacy_order_updated"
        );
        assert_eq!(json["secret_file"], secret_file.as_str());
        assert!(json.get("signing_secret").is_none(), "{json}");
        let fingerprint = json["fingerprint"].as_str().unwrap();
        assert_stored_secret(&standin, &uid, &dir.join(&secret_file), fingerprint);
        let issued = standin.subscription(&uid).unwrap().signing_secret;
        assert!(!out.all().contains(&issued), "the secret was printed");
        assert!(!out.all().contains(flavour.key), "the API key was printed");
        let register_request = standin.requests().pop().unwrap();
        assert_eq!(
            (
                register_request.method.as_str(),
                register_request.path.as_str()
            ),
            ("POST", flavour.path)
        );

        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["list", "--json"]),
        );
        out.assert_code(0);
        let listed = out.json();
        let listed = listed.as_array().unwrap();
        assert!(
            listed.iter().any(|sub| sub["uid"] == uid.as_str()),
            "{listed:?}"
        );
        assert!(!out.stdout.contains("whsec_"), "{}", out.stdout);
        assert_eq!(standin.requests().pop().unwrap().path, flavour.path);

        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["test", &uid, "--json"]),
        );
        match flavour.standin_api {
            StandinApi::Management => {
                out.assert_code(0);
                let json = out.json();
                assert_eq!(json["status"], 200);
                assert_eq!(json["message"], "Test webhook sent");
                let request = standin.requests().pop().unwrap();
                assert_eq!(request.path, format!("{MANAGEMENT_PATH}/test"));
                assert_eq!(
                    serde_json::from_str::<Value>(&request.body).unwrap()["uid"],
                    uid.as_str()
                );
            }
            StandinApi::Pharmacy => {
                // No test facility is documented for the External Pharmacy API (spec §5): refused
                // locally, nothing sent.
                let before = standin.requests().len();
                out.assert_code(2);
                assert_eq!(out.json()["error"], "config");
                assert!(
                    out.stderr.contains("documents no test delivery"),
                    "{}",
                    out.stderr
                );
                assert_eq!(standin.requests().len(), before);
            }
        }

        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["remove", &uid, "--json"]),
        );
        out.assert_code(0);
        assert_eq!(out.json()["removed"], uid.as_str());
        assert!(standin.subscription(&uid).is_none());
        let request = standin.requests().pop().unwrap();
        assert_eq!((request.method.as_str(), request.status), ("DELETE", 204));

        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["list", "--json"]),
        );
        assert!(
            !out.json()
                .as_array()
                .unwrap()
                .iter()
                .any(|sub| sub["uid"] == uid.as_str())
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_output_names_the_fingerprint_and_prints_the_secret_only_when_asked() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("text");
    let out = run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &[
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
            "--secret-out",
            "orders.secret",
        ],
    );
    out.assert_code(0);
    let sub = standin.subscriptions().pop().unwrap();
    let fingerprint = SigningSecret::new(sub.signing_secret.clone())
        .fingerprint()
        .to_string();
    assert!(
        out.stdout.contains(&format!("registered {}", sub.uid)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "signing secret {fingerprint} written to orders.secret (mode 0600)"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("only once"), "{}", out.stdout);
    assert!(!out.all().contains(&sub.signing_secret));
    assert_stored_secret(&standin, &sub.uid, &dir.join("orders.secret"), &fingerprint);

    let out = run(&standin, &dir, Some(PHARMACY_KEY), &["list"]);
    out.assert_code(0);
    assert!(out.stdout.starts_with("UID "), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("{}  pharmacy_order_created  {TARGET}", sub.uid)),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("1 subscription on the External Pharmacy API"),
        "{}",
        out.stdout
    );

    for json in [false, true] {
        let mut argv = vec![
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_sku_stock_updated",
            "--print-secret",
        ];
        if json {
            argv.push("--json");
        }
        let out = run(&standin, &dir, Some(PHARMACY_KEY), &argv);
        out.assert_code(0);
        let printed = standin.subscriptions().pop().unwrap();
        if json {
            assert_eq!(
                out.json()["signing_secret"],
                printed.signing_secret.as_str()
            );
            assert_eq!(out.json()["secret_file"], Value::Null);
        } else {
            assert!(
                out.stdout
                    .lines()
                    .any(|line| line == printed.signing_secret),
                "{}",
                out.stdout
            );
            assert!(
                out.stderr.contains("warning: --print-secret"),
                "{}",
                out.stderr
            );
        }
    }
    // Neither --secret-out nor --print-secret: a usage error before anything is sent, since the
    // secret would be lost.
    let before = standin.requests().len();
    let out = run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &[
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
        ],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("--secret-out"), "{}", out.stderr);
    assert_eq!(standin.requests().len(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn refusals_before_any_request_http_target_existing_file_missing_key() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("refusals");
    for target in [
        "http://receiver.example/webhooks/rxscale",
        "http://127.0.0.1:8080/hook",
        "receiver.example/hook",
    ] {
        for flavour in [PHARMACY_V3, MANAGEMENT] {
            let out = run(
                &standin,
                &dir,
                Some(flavour.key),
                &args(
                    &flavour,
                    &[
                        "register",
                        "--target",
                        target,
                        "--event",
                        "pharmacy_order_created",
                        "--secret-out",
                        "never.secret",
                    ],
                ),
            );
            out.assert_code(2);
            assert!(
                out.stderr.contains("error: insecure_target: "),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("is not an HTTPS URL") || out.stderr.contains("not a URL"),
                "{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("before any request") || out.stderr.contains("HTTPS URL"),
                "{}",
                out.stderr
            );
            assert!(!dir.join("never.secret").exists());
        }
    }
    let out = run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &[
            "register",
            "--target",
            "http://receiver.example/h",
            "--event",
            "pharmacy_order_created",
            "--print-secret",
            "--json",
        ],
    );
    out.assert_code(2);
    assert_eq!(out.json()["error"], "insecure_target");
    assert!(
        out.json()["detail"]
            .as_str()
            .unwrap()
            .contains("spec §1.1, §1.6.2")
    );

    // An existing file is never overwritten, and nothing is registered.
    std::fs::write(dir.join("taken.secret"), "whsec_keep_me\n").unwrap();
    let out = run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &[
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
            "--secret-out",
            "taken.secret",
        ],
    );
    out.assert_code(2);
    assert!(out.stderr.contains("never overwritten"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("taken.secret")).unwrap(),
        "whsec_keep_me\n"
    );
    // A directory that does not exist: also before the request.
    let out = run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &[
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
            "--secret-out",
            "no/such/dir/x.secret",
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("cannot create the secret file"),
        "{}",
        out.stderr
    );

    // No key: exit 2 naming the variable.
    let out = run(&standin, &dir, None, &["list"]);
    out.assert_code(2);
    assert!(out.stderr.contains("RXSCALE_API_KEY"), "{}", out.stderr);
    assert!(out.stderr.contains("--api-key-file"), "{}", out.stderr);
    assert!(standin.requests().is_empty(), "{:?}", standin.requests());
    assert!(standin.subscriptions().is_empty());

    // A key from a file works, and one from another variable.
    std::fs::write(dir.join("key"), format!("{MANAGEMENT_KEY}\n")).unwrap();
    run(
        &standin,
        &dir,
        None,
        &["list", "--api", "management", "--api-key-file", "key"],
    )
    .assert_code(0);
    let out = Command::new(cli_binary())
        .current_dir(&dir)
        .env_remove("RXSCALE_API_KEY")
        .env("ORG_KEY", MANAGEMENT_KEY)
        .args([
            "subscriptions",
            "--api",
            "management",
            "--api-key-env",
            "ORG_KEY",
            "list",
            "--json",
        ])
        .args(["--base-url", standin.base_url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A group-wide key's pharmacy_uid goes along as a query parameter.
    run(
        &standin,
        &dir,
        Some(PHARMACY_KEY),
        &["list", "--pharmacy-uid", "ph-xyz"],
    )
    .assert_code(0);
    let request = standin.requests().pop().unwrap();
    assert_eq!(
        (request.path.as_str(), request.query.as_deref()),
        (PHARMACY_PATH_V3, Some("pharmacy_uid=ph-xyz"))
    );
    // --dev and --base-url exclude each other.
    run(&standin, &dir, Some(PHARMACY_KEY), &["list", "--dev"]).assert_code(2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn error_statuses_are_surfaced_with_their_kinds() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("errors");
    for flavour in FLAVOURS {
        // 401: a key the API does not know; the key itself never appears.
        let wrong_key = "not-a-key-0123456789";
        let out = run(&standin, &dir, Some(wrong_key), &args(flavour, &["list"]));
        out.assert_code(1);
        assert!(
            out.stderr
                .contains("error: unauthorized: list subscriptions: 401"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("hint: the key came from the environment variable RXSCALE_API_KEY"),
            "{}",
            out.stderr
        );
        assert!(!out.all().contains(wrong_key));
        let out = run(
            &standin,
            &dir,
            Some(wrong_key),
            &args(flavour, &["list", "--json"]),
        );
        out.assert_code(1);
        assert_eq!(out.json()["error"], "unauthorized");
        assert_eq!(out.json()["status"], 401);

        // 403: a read-only key registering names the missing permission, and leaves no file.
        let out = run(
            &standin,
            &dir,
            Some(flavour.read_only_key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "pharmacy_order_created",
                    "--secret-out",
                    "ro.secret",
                    "--json",
                ],
            ),
        );
        out.assert_code(1);
        let json = out.json();
        assert_eq!(json["error"], "permission_denied");
        assert_eq!(json["status"], 403);
        assert_eq!(json["required_permission"], flavour.write_permission);
        assert_eq!(json["message"], "Permission Denied");
        assert!(
            out.stderr
                .contains(&format!("permission {}", flavour.write_permission)),
            "{}",
            out.stderr
        );
        assert!(
            !dir.join("ro.secret").exists(),
            "a failed registration left its secret file"
        );

        // 404: an unknown uid.
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["remove", "sub-nosuch", "--json"]),
        );
        out.assert_code(1);
        assert_eq!(out.json()["error"], "not_found");
        assert_eq!(out.json()["status"], 404);

        // 422: an event type the APIs do not offer, with RxScale's message (its loc and msg).
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "prescription_signed",
                    "--print-secret",
                ],
            ),
        );
        out.assert_code(1);
        assert!(
            out.stderr
                .contains("error: unprocessable: register subscription: 422"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("body.notification_type: not an event type offered for subscriptions"),
            "{}",
            out.stderr
        );

        // 5xx: list is retried (twice) and then reported; register is never retried.
        standin.fail_next(503, 3);
        let before = standin.requests().len();
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["list", "--json"]),
        );
        out.assert_code(1);
        assert_eq!(out.json()["error"], "server");
        assert_eq!(out.json()["status"], 503);
        assert_eq!(standin.requests().len() - before, 3);
        standin.fail_next(500, 1);
        let before = standin.requests().len();
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "pharmacy_order_created",
                    "--secret-out",
                    "x.secret",
                ],
            ),
        );
        out.assert_code(1);
        assert!(
            out.stderr
                .contains("error: server: register subscription: 500"),
            "{}",
            out.stderr
        );
        assert_eq!(standin.requests().len() - before, 1);
        assert!(!dir.join("x.secret").exists());
    }
    assert!(standin.subscriptions().is_empty());

    // A Management API registration without signing_secret (the published example): an error
    // naming the created uid, with the command that removes it, and no secret file.
    standin.omit_management_secret(true);
    let out = run(
        &standin,
        &dir,
        Some(MANAGEMENT_KEY),
        &[
            "register",
            "--api",
            "management",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
            "--secret-out",
            "m.secret",
        ],
    );
    out.assert_code(1);
    let created = standin.subscriptions().pop().unwrap();
    assert!(
        out.stderr.contains("error: missing_signing_secret: "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "rxscale-webhooks subscriptions remove {}",
            created.uid
        )),
        "{}",
        out.stderr
    );
    assert!(!dir.join("m.secret").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Verifies `body` signed with `signer` through a key ring of both files' secrets, and returns
/// the fingerprint of the secret that matched.
fn verify_through_key_ring(old: &Path, new: &Path, signer: &str) -> String {
    let verifier = Verifier::builder()
        .secret(SigningSecret::from_file(old).unwrap())
        .secret(SigningSecret::from_file(new).unwrap())
        .no_max_age()
        .build()
        .unwrap();
    let body = fixture(EventType::PharmacyOrderCreated);
    let signature = sign(&SigningSecret::new(signer), body);
    verifier
        .verify_at(body, signature, OffsetDateTime::now_utc())
        .unwrap()
        .fingerprint()
        .to_string()
}

#[test]
fn whole_rotation_on_both_apis() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("rotation");
    for (n, flavour) in [PHARMACY_V3, MANAGEMENT].iter().enumerate() {
        let old_file = format!("old-{n}.secret");
        let new_file = format!("new-{n}.secret");
        // Another subscription that the rotation must leave alone.
        run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "pharmacy_sku_stock_updated",
                    "--print-secret",
                ],
            ),
        )
        .assert_code(0);
        let bystander = standin.subscriptions().pop().unwrap();
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "register",
                    "--target",
                    TARGET,
                    "--event",
                    "pharmacy_order_created",
                    "--secret-out",
                    &old_file,
                    "--json",
                ],
            ),
        );
        out.assert_code(0);
        let old_uid = out.json()["subscription"]["uid"]
            .as_str()
            .unwrap()
            .to_owned();
        let old_fingerprint = out.json()["fingerprint"].as_str().unwrap().to_owned();

        // 1. rotate: a second subscription for the same target and type, its secret in a 0600
        // file, the state next to it.
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &["rotate", &old_uid, "--secret-out", &new_file, "--json"],
            ),
        );
        out.assert_code(0);
        let json = out.json();
        assert_eq!(json["old_uid"], old_uid.as_str());
        let new_uid = json["new_uid"].as_str().unwrap().to_owned();
        assert_ne!(new_uid, old_uid);
        let new_fingerprint = json["fingerprint"].as_str().unwrap().to_owned();
        assert_ne!(new_fingerprint, old_fingerprint);
        let state_file = json["state_file"].as_str().unwrap().to_owned();
        assert_eq!(state_file, format!("{new_file}.rotation.json"));
        assert_stored_secret(&standin, &new_uid, &dir.join(&new_file), &new_fingerprint);
        assert_private(&dir.join(&state_file));
        let state = std::fs::read_to_string(dir.join(&state_file)).unwrap();
        assert!(
            !state.contains("whsec_"),
            "the state file holds a secret: {state}"
        );
        let old = standin.subscription(&old_uid).unwrap();
        let new = standin.subscription(&new_uid).unwrap();
        assert_eq!(
            (new.target.as_str(), new.notification_type.as_str()),
            (old.target.as_str(), old.notification_type.as_str())
        );
        assert_eq!(new.api, flavour.standin_api);
        assert!(!out.all().contains(&new.signing_secret));

        // 2. both secrets in the key ring: a delivery signed with either verifies, and the
        // fingerprint tells which.
        let (old_path, new_path) = (dir.join(&old_file), dir.join(&new_file));
        assert_eq!(
            verify_through_key_ring(&old_path, &new_path, &new.signing_secret),
            new_fingerprint
        );
        assert_eq!(
            verify_through_key_ring(&old_path, &new_path, &old.signing_secret),
            old_fingerprint
        );

        // 3. --finish refuses a fingerprint that is not the new secret's (here the old one's),
        // and a different API or host; nothing is removed.
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "rotate",
                    "--finish",
                    &state_file,
                    "--verified-fingerprint",
                    &old_fingerprint,
                ],
            ),
        );
        out.assert_code(2);
        assert!(
            out.stderr.contains("is not the new secret's fingerprint"),
            "{}",
            out.stderr
        );
        let other_api = if flavour.standin_api == StandinApi::Management {
            PHARMACY_V3
        } else {
            MANAGEMENT
        };
        let out = run(
            &standin,
            &dir,
            Some(other_api.key),
            &args(
                &other_api,
                &[
                    "rotate",
                    "--finish",
                    &state_file,
                    "--verified-fingerprint",
                    &new_fingerprint,
                ],
            ),
        );
        out.assert_code(2);
        assert!(
            out.stderr.contains("this rotation was started on"),
            "{}",
            out.stderr
        );
        assert!(standin.subscription(&old_uid).is_some());

        // 4. --finish with the new fingerprint removes the old subscription, and only it.
        let out = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "rotate",
                    "--finish",
                    &state_file,
                    "--verified-fingerprint",
                    &new_fingerprint,
                    "--json",
                ],
            ),
        );
        out.assert_code(0);
        assert_eq!(out.json()["removed"], old_uid.as_str());
        assert_eq!(out.json()["already_removed"], false);
        assert!(standin.subscription(&old_uid).is_none());
        assert!(standin.subscription(&new_uid).is_some());
        assert!(standin.subscription(&bystander.uid).is_some());
        assert!(!dir.join(&state_file).exists());
        let listed = run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(flavour, &["list", "--json"]),
        )
        .json();
        let uids: Vec<&str> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|sub| sub["uid"].as_str().unwrap())
            .collect();
        assert!(
            uids.contains(&new_uid.as_str()) && !uids.contains(&old_uid.as_str()),
            "{uids:?}"
        );
        // The new secret alone now verifies the new subscription's deliveries.
        assert_eq!(
            verify_through_key_ring(&new_path, &new_path, &new.signing_secret),
            new_fingerprint
        );

        // A second --finish has no state left.
        run(
            &standin,
            &dir,
            Some(flavour.key),
            &args(
                flavour,
                &[
                    "rotate",
                    "--finish",
                    &state_file,
                    "--verified-fingerprint",
                    &new_fingerprint,
                ],
            ),
        )
        .assert_code(2);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotation_text_explains_the_key_ring_and_guards_its_steps() {
    let standin = RxscaleApiStandin::start();
    let dir = scratch("rotation-text");
    let key = Some(PHARMACY_KEY);
    // An unknown old uid: exit 1, nothing registered, no file.
    let out = run(
        &standin,
        &dir,
        key,
        &["rotate", "sub-nosuch", "--secret-out", "n.secret"],
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("no subscription sub-nosuch"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("n.secret").exists() && !dir.join("n.secret.rotation.json").exists());
    assert!(
        standin
            .requests()
            .iter()
            .all(|request| request.method == "GET")
    );

    run(
        &standin,
        &dir,
        key,
        &[
            "register",
            "--target",
            TARGET,
            "--event",
            "pharmacy_order_created",
            "--secret-out",
            "old.secret",
        ],
    )
    .assert_code(0);
    let old = standin.subscriptions().pop().unwrap();
    let out = run(
        &standin,
        &dir,
        key,
        &["rotate", &old.uid, "--secret-out", "new.secret"],
    );
    out.assert_code(0);
    let new = standin.subscriptions().pop().unwrap();
    let fingerprint = SigningSecret::new(new.signing_secret.clone())
        .fingerprint()
        .to_string();
    let absolute = std::path::absolute(dir.join("new.secret")).unwrap();
    for expected in [
        format!("registered {} on the External Pharmacy API", new.uid),
        format!("next to {}", old.uid),
        format!("new signing secret {fingerprint} written to new.secret (mode 0600)"),
        "Verifier::builder()".to_owned(),
        "SigningSecret::from_env(\"RXSCALE_WEBHOOK_SECRET\")".to_owned(),
        format!(
            "SigningSecret::from_file({:?})",
            absolute.display().to_string()
        ),
        "rotate --finish new.secret.rotation.json".to_owned(),
        format!(
            "--verified-fingerprint {fingerprint} --base-url {}",
            standin.base_url()
        ),
    ] {
        assert!(
            out.stdout.contains(&expected),
            "missing {expected:?} in\n{}",
            out.stdout
        );
    }
    assert!(!out.all().contains(&new.signing_secret));

    // The new subscription disappeared meanwhile: --finish keeps the old one, which is then the
    // only one delivering.
    run(&standin, &dir, key, &["remove", &new.uid]).assert_code(0);
    let out = run(
        &standin,
        &dir,
        key,
        &[
            "rotate",
            "--finish",
            "new.secret.rotation.json",
            "--verified-fingerprint",
            &fingerprint,
        ],
    );
    out.assert_code(1);
    assert!(
        out.stderr.contains("is no longer listed, so the old one"),
        "{}",
        out.stderr
    );
    assert!(standin.subscription(&old.uid).is_some());
    assert!(dir.join("new.secret.rotation.json").exists());

    // A secret file replaced since the rotation started: refused.
    std::fs::remove_file(dir.join("new.secret")).unwrap();
    std::fs::write(dir.join("new.secret"), "whsec_something_else\n").unwrap();
    let out = run(
        &standin,
        &dir,
        key,
        &[
            "rotate",
            "--finish",
            "new.secret.rotation.json",
            "--verified-fingerprint",
            &fingerprint,
        ],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("now holds the secret"),
        "{}",
        out.stderr
    );
    assert!(standin.subscription(&old.uid).is_some());
    std::fs::remove_dir_all(&dir).unwrap();
}
