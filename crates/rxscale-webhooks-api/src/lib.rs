#![doc = include_str!("../README.md")]
//!
//! ## Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | *(none)* | | An async client on reqwest with rustls (ring provider, webpki roots); needs a tokio runtime. |
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

mod client;
mod error;
mod key;
mod types;

pub use client::{
    Api, Client, ClientBuilder, DEVELOPMENT_BASE_URL, PRODUCTION_BASE_URL, PathSpelling,
};
pub use error::{Error, ErrorKind};
pub use key::{API_KEY_ENV, ApiKey};
pub use types::{NewSubscription, Registration, Subscription, TestDelivery, TestDeliveryOutcome};
