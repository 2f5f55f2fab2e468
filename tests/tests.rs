//! The one integration test binary (ripgrep's layout: one link step).

mod cli;
mod daemon_crash;
mod daemon_hooks;
mod daemon_receive;
mod daemon_receive_crash;
mod daemon_receive_golden;
mod daemon_send;
mod gammu_crosscheck;
mod modem;
mod pdu_properties;
mod pdu_vectors;
mod reference_tools;
mod smart_messages;
mod support;
