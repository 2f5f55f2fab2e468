//! HiLink benchmarks: `cargo bench --bench hilink` (issue 13): the release
//! `simgate` on the emulated HiLink web interface
//! (`simgate::emulator::hilink`); what is measured and how is in
//! `support/web_stick.rs`, which the ZTE bench shares.

#[path = "support/web_stick.rs"]
mod web_stick;

use simgate::emulator::hilink::{HilinkConfig, HilinkEmulator};
use std::collections::HashMap;
use std::time::Instant;
use web_stick::{Result, Stick};

impl Stick for HilinkEmulator {
    fn transport(&self) -> &'static str {
        "hilink"
    }

    fn url(&self) -> String {
        HilinkEmulator::url(self)
    }

    fn send_requests(&self) -> Vec<Instant> {
        self.snapshot().send_requests
    }

    fn requests(&self) -> HashMap<String, u32> {
        self.snapshot().requests
    }

    fn send_request_name(&self) -> &'static str {
        "send-sms"
    }
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let stick = HilinkEmulator::start(HilinkConfig::default()).await?;
            web_stick::bench(&stick).await
        })
}
