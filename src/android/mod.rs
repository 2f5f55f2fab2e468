//! An Android phone running the open-source "SMS Gateway for Android" app
//! (capcom6/android-sms-gateway) in its Local Server mode: a small REST
//! server on the phone (port 8080, Basic auth), and webhooks the app posts
//! to simgate, signed with a key both sides know.
//!
//! - `api`: the requests, answers, states and webhook events, and the
//!   webhook signature check, pure.
//! - `client`: one HTTP conversation with the phone, on hyper.
//! - `webhooks`: the small HTTP server the app posts its webhooks to.
//!
//! The [`crate::device::Device`] built on them is `crate::device::android`;
//! the emulator the tests run it against is `crate::emulator::android`.

pub mod api;
pub mod client;
pub mod webhooks;
