//! Codec benchmarks: `cargo bench --bench codec`.
//!
//! Each case runs in 31 samples of enough iterations to last about 20 ms;
//! the figure reported is the median time per iteration, with the ratio to a
//! baseline (copying the same PDU's octets into a fresh Vec) measured in the
//! same invocation, since the machines are shared and noisy.
//!
//! Targets (issue 2): decode of a single-part PDU under 2 µs, plan + encode
//! of a 1,000-character message under 10 µs.
//!
//! Also reading a gammu-smsdrc (issue 9: a 10 MB one took 21 s to check):
//! parse + check of a generated 1 MB and 10 MB configuration, fewer samples
//! of one run each, and the ratio of the two. Linear work does not give 10
//! there: at 10 MB the allocations no longer fit the caches. So the same
//! ratio is measured for a reference that is linear by construction
//! (splitting the same text into lines and copying each), and the reader's
//! ratio is to be read against it.

use simgate::pdu::{self, plan_text, Address, EncodingPolicy, Incoming, SmsSubmit, SubmitOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SAMPLES: usize = 31;
const SAMPLE_TIME: Duration = Duration::from_millis(20);
/// Samples of the configuration cases, each one parse + check.
const CONFIG_SAMPLES: usize = 7;

/// Median nanoseconds per call of `f`.
fn median_ns(f: impl FnMut()) -> f64 {
    median_ns_of(SAMPLES, f)
}

/// A gammu-smsdrc of about `size` bytes: the usual settings, then in equal
/// shares unknown keys in `[smsd]`, sections simgate does not know, an
/// `[include_numbers]` list, and repeated `[smsd]` sections (gammu reads
/// keys from the first that has them), so every part of the reader and
/// checker works on a quarter of the file.
fn gammu_config(size: usize) -> String {
    let mut text = String::from(
        "[gammu]\ndevice = /dev/ttyUSB0\nconnection = at115200\n\n[smsd]\nservice = files\n\
         inboxpath = /var/spool/gammu/inbox/\noutboxpath = /var/spool/gammu/outbox/\n\
         sentsmspath = /var/spool/gammu/sent/\nerrorsmspath = /var/spool/gammu/error/\n\
         CommTimeout = 30\nRunOnReceive = /usr/local/bin/on-receive\n",
    );
    let quarter = size / 4;
    let mut i = 0;
    let start = text.len();
    while text.len() - start < quarter {
        text.push_str(&format!("UserKey{i} = value number {i}\n"));
        i += 1;
    }
    let start = text.len();
    while text.len() - start < quarter {
        text.push_str(&format!("\n[custom{i}]\nalpha = {i}\nbeta = {i}\n"));
        i += 1;
    }
    text.push_str("\n[include_numbers]\n");
    let start = text.len();
    while text.len() - start < quarter {
        text.push_str(&format!("number{i} = +4917{i:08}\n"));
        i += 1;
    }
    let start = text.len();
    while text.len() - start < quarter {
        text.push_str(&format!("\n[smsd]\nCommTimeout = {i}\nOther{i} = x\n"));
        i += 1;
    }
    text
}

/// Median nanoseconds per call of `f` over `samples` samples.
fn median_ns_of(samples: usize, mut f: impl FnMut()) -> f64 {
    // Calibrate: double the iterations until one sample lasts SAMPLE_TIME.
    let mut iterations = 1u64;
    loop {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        if start.elapsed() >= SAMPLE_TIME {
            break;
        }
        iterations *= 2;
    }
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[samples / 2]
}

fn report(name: &str, ns: f64, baseline: f64) {
    println!(
        "{name:<44} median {:>9.1} ns  ({:>5.1}x baseline)",
        ns,
        ns / baseline
    );
}

fn main() {
    // A filter argument (as `cargo bench -- NAME` passes) is accepted and ignored.
    // gammu 1.42's encoding of a 53-character one-time code from "Telegram"
    // (alphanumeric sender), the vector of tests/pdu_vectors.rs.
    let deliver_hex =
        "0791947101670000000ED0D432BB7C9687DB00006211520210950035D432BB7C9687DBA0F19B5C\
                       06D170B2D8CC0522BE41EE371D744EDBCB203A3A3D078DDFE43288FE0685DDF9B7BBEC02";
    let deliver_pdu = pdu::hex::decode(deliver_hex).expect("valid hex");
    let (_, deliver_tpdu) = pdu::split_smsc(&deliver_pdu).expect("valid SMSC");
    assert!(
        Incoming::decode(deliver_tpdu).is_ok(),
        "benchmark PDU must decode"
    );

    let gsm_text: String = "The quick brown fox jumps over the lazy dog, 0123456789! "
        .chars()
        .cycle()
        .take(1000)
        .collect();
    let unicode_text: String = "Привет, мир! 😀 ".chars().cycle().take(1000).collect();
    let options = SubmitOptions::new(Address::parse_number("+4917612345678").unwrap());

    let plan_encode = |text: &str| {
        let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
        let parts: Vec<_> = SmsSubmit::from_plan(&plan, &options)
            .iter()
            .map(|submit| submit.encode(None).unwrap())
            .collect();
        parts
    };

    let baseline = median_ns(|| {
        black_box(black_box(deliver_tpdu).to_vec());
    });
    println!(
        "{:<44} median {baseline:>9.1} ns",
        "baseline: copy a PDU into a Vec"
    );
    report(
        "decode single-part SMS-DELIVER (7-bit)",
        median_ns(|| {
            black_box(Incoming::decode(black_box(deliver_tpdu)).unwrap());
        }),
        baseline,
    );
    report(
        "hex + SMSC + decode single-part SMS-DELIVER",
        median_ns(|| {
            let bytes = pdu::hex::decode(black_box(deliver_hex)).unwrap();
            let (_, tpdu) = pdu::split_smsc(&bytes).unwrap();
            black_box(Incoming::decode(tpdu).unwrap());
        }),
        baseline,
    );
    report(
        "plan + encode 1,000 chars GSM 7-bit (7 parts)",
        median_ns(|| {
            black_box(plan_encode(black_box(&gsm_text)));
        }),
        baseline,
    );
    report(
        "plan + encode 1,000 chars UCS-2 (16 parts)",
        median_ns(|| {
            black_box(plan_encode(black_box(&unicode_text)));
        }),
        baseline,
    );

    let base_dir = std::path::Path::new("/etc");
    let mut config_ms = Vec::new();
    let mut reference_ms = Vec::new();
    for size in [1_000_000, 10_000_000] {
        let text = gammu_config(size);
        let megabytes = text.len() as f64 / 1e6;
        let loaded = simgate::config::parse_gammu(&text, base_dir).expect("the config is valid");
        assert!(!loaded.config.filters.include_numbers.is_empty());
        let ms = median_ns_of(CONFIG_SAMPLES, || {
            black_box(simgate::config::parse_gammu(black_box(&text), base_dir).unwrap());
        }) / 1e6;
        println!(
            "{:<44} median {ms:>9.1} ms  ({} notices)",
            format!("parse + check gammu-smsdrc, {megabytes:.1} MB"),
            loaded.notices.len()
        );
        config_ms.push(ms);
        let ms = median_ns_of(CONFIG_SAMPLES, || {
            let lines: Vec<String> = black_box(&text)
                .split('\n')
                .map(|line| line.trim().to_owned())
                .collect();
            black_box(lines);
        }) / 1e6;
        println!(
            "{:<44} median {ms:>9.1} ms",
            format!("reference: split + copy lines, {megabytes:.1} MB")
        );
        reference_ms.push(ms);
    }
    println!(
        "{:<44} {:>16.1}  (reference {:.1})",
        "ratio 10 MB / 1 MB",
        config_ms[1] / config_ms[0],
        reference_ms[1] / reference_ms[0]
    );
}
