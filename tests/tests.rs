//! The one integration test binary (ripgrep's layout: one link step).

mod cli;
mod gammu_crosscheck;
mod modem;
mod pdu_properties;
mod pdu_vectors;
mod daemon_crash;
mod daemon_send;
mod daemon_receive;
