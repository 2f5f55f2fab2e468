//! ZTE benchmarks: `cargo bench --bench zte` (issue 13): the release
//! `simgate` on the emulated ZTE goform interface
//! (`simgate::emulator::zte`); what is measured and how is in
//! `support/web_stick.rs`, which the HiLink bench shares.

#[path = "support/web_stick.rs"]
mod web_stick;

use simgate::emulator::zte::{ZteConfig, ZteEmulator};
use std::collections::HashMap;
use std::time::Instant;
use web_stick::{Result, Stick};

impl Stick for ZteEmulator {
    fn transport(&self) -> &'static str {
        "zte"
    }

    fn url(&self) -> String {
        ZteEmulator::url(self)
    }

    fn send_requests(&self) -> Vec<Instant> {
        self.snapshot().send_requests
    }

    fn requests(&self) -> HashMap<String, u32> {
        self.snapshot().requests
    }

    fn send_request_name(&self) -> &'static str {
        "SEND_SMS"
    }
}

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let stick = ZteEmulator::start(ZteConfig::default()).await?;
            web_stick::bench(&stick).await
        })
}
