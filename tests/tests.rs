//! The one integration test binary (ripgrep's layout: one link step).

mod android;
mod cli;
mod daemon_crash;
mod daemon_hooks;
mod daemon_receive;
mod daemon_receive_crash;
mod daemon_receive_golden;
mod daemon_send;
mod destinations;
mod files;
mod gammu_crosscheck;
mod hilink;
mod inbox_full;

mod instance;
mod logs;
mod migrate_from_gammu;
mod migration;
mod modem;
mod outbox;
mod packaging;
mod pdu_properties;
mod pdu_vectors;
mod pin;
mod pin_sources;
mod reference_tools;
mod scripted;
mod scripted_device;
mod send_command;
mod send_faults;
mod smart_messages;
mod support;
mod timing;
