//! Where this tool may send traffic: loopback, unless the user says otherwise.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use crate::failure::Failure;

/// Parses a target URL and refuses anything but plain HTTP to a loopback host unless
/// `allow_remote`, so that a typo never fires test deliveries at someone else's server.
/// `option` names the flag in messages.
pub(crate) fn target_url(raw: &str, option: &str, allow_remote: bool) -> Result<Url, Failure> {
    // `localhost:3000/hook` is what people type; it is no URL without a scheme.
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|err| Failure::usage(format!("{option} {raw}: not a URL ({err})")))?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(Failure::usage(format!(
                "{option} {raw}: this build speaks plain HTTP only; local receivers need no TLS, \
                 use http://"
            )));
        }
        other => {
            return Err(Failure::usage(format!(
                "{option} {raw}: unsupported scheme {other}; use http://"
            )));
        }
    }
    if !allow_remote && !is_loopback(&url) {
        return Err(Failure::usage(format!(
            "{option} {raw}: {} is not a loopback host (localhost, 127.0.0.0/8, [::1]); pass \
             --allow-remote to send there anyway",
            url.host_str().unwrap_or("(no host)")
        )));
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.is_loopback();
    }
    let domain = host.trim_end_matches('.').to_ascii_lowercase();
    domain == "localhost" || domain.ends_with(".localhost")
}

/// The HTTP client for deliveries: no proxy (a proxy would take loopback traffic off the
/// machine), no redirects (RxScale counts a 3xx as a failure), and a timeout well past
/// RxScale's 5-second limit so that slow answers are reported rather than cut short.
pub(crate) fn client() -> Result<reqwest::Client, Failure> {
    reqwest::Client::builder()
        .no_proxy()
        // Header names capitalised as RxScale documents them, so that deliveries look like
        // the real ones on the wire.
        .http1_title_case_headers()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|err| Failure::usage(format!("cannot set up the HTTP client: {err}")))
}

/// The innermost cause, which is the part that says what happened ("Connection refused").
pub(crate) fn describe_error(err: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = err;
    while let Some(inner) = source.source() {
        source = inner;
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {source}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_pass() {
        for ok in [
            "http://127.0.0.1:8080/hook",
            "http://127.1.2.3/",
            "localhost:3000/webhooks",
            "http://LOCALHOST./",
            "http://app.localhost:1/",
            "http://[::1]:9/",
        ] {
            assert!(target_url(ok, "--to", false).is_ok(), "{ok}");
        }
    }

    #[test]
    fn remote_hosts_need_allow_remote() {
        for remote in [
            "http://example.com/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "http://localhost.example.com/",
            "http://0.0.0.0/",
        ] {
            let Err(Failure::Usage(message)) = target_url(remote, "--to", false) else {
                panic!("{remote} accepted");
            };
            assert!(message.contains("--allow-remote"), "{message}");
            assert!(target_url(remote, "--to", true).is_ok(), "{remote}");
        }
        assert!(target_url("https://127.0.0.1/", "--to", true).is_err());
        assert!(target_url("ftp://127.0.0.1/", "--to", true).is_err());
    }
}
