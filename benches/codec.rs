//! Codec benchmarks: `cargo bench --bench codec`.
//!
//! Each case runs in 31 samples of enough iterations to last about 20 ms;
//! the figure reported is the median time per iteration, with the ratio to a
//! baseline (copying the same PDU's octets into a fresh Vec) measured in the
//! same invocation, since the machines are shared and noisy.
//!
//! Targets (issue 2): decode of a single-part PDU under 2 µs, plan + encode
//! of a 1,000-character message under 10 µs.

use simgate::pdu::{self, plan_text, Address, EncodingPolicy, Incoming, SmsSubmit, SubmitOptions};
use std::hint::black_box;
use std::time::{Duration, Instant};

const SAMPLES: usize = 31;
const SAMPLE_TIME: Duration = Duration::from_millis(20);

/// Median nanoseconds per call of `f`.
fn median_ns(mut f: impl FnMut()) -> f64 {
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
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / iterations as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[SAMPLES / 2]
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
}
