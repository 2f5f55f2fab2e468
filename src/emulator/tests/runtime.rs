//! The runner over a `tokio::io::duplex` stream with paused time
//! (deterministic latency, RING repetition, hangs), and over a real pty
//! opened the way the driver opens a serial port (tokio-serial), with
//! unplug and replug. Synchronisation is by bytes and events; timeouts
//! are only guards.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio::time::{timeout, Instant};
use tokio_serial::SerialPortBuilderExt;

use super::{bytes, submit, DELIVER};
use crate::at;
use crate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Fault, Profile, Times};

const GUARD: Duration = Duration::from_secs(20);

/// Reads until the received text contains `needle`; returns everything
/// read up to and including it, keeping the rest in `pending`.
async fn read_until<S: AsyncRead + Unpin>(
    s: &mut S,
    pending: &mut Vec<u8>,
    needle: &str,
) -> String {
    let work = async {
        loop {
            let text = String::from_utf8_lossy(pending).into_owned();
            if let Some(i) = text.find(needle) {
                let end = i + needle.len();
                let head = text[..end].to_owned();
                pending.drain(..head.len().min(pending.len()));
                return head;
            }
            let mut buf = [0u8; 512];
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "EOF while waiting for {needle:?}; got {text:?}");
            pending.extend_from_slice(&buf[..n]);
        }
    };
    timeout(GUARD, work)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {needle:?}"))
}

async fn wait_for(
    events: &mut broadcast::Receiver<EmulatorEvent>,
    want: impl Fn(&EmulatorEvent) -> bool,
) -> EmulatorEvent {
    timeout(GUARD, async {
        loop {
            let e = events.recv().await.expect("event stream");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

#[tokio::test(start_paused = true)]
async fn stream_with_realistic_latency_ring_and_replug() {
    let (mut host, modem) = tokio::io::duplex(4096);
    let mut config = EmulatorConfig::new(Profile::QuectelEc25);
    config.realistic_latency = true;
    let emulator = Emulator::on_stream(config, modem);
    assert_eq!(emulator.path(), std::path::PathBuf::new());
    let mut events = emulator.subscribe();
    let mut pending = Vec::new();

    host.write_all(b"ATE0\r").await.unwrap();
    assert_eq!(
        read_until(&mut host, &mut pending, "OK\r\n").await,
        "ATE0\r\r\nOK\r\n"
    );

    // AT+CMGS: prompt at once, +CMGS after the network round trip.
    let pdu = submit("+4917612345678", "hello");
    let start = Instant::now();
    host.write_all(format!("AT+CMGS={}\r", pdu.tpdu_length()).as_bytes())
        .await
        .unwrap();
    read_until(&mut host, &mut pending, "> ").await;
    host.write_all(&at::pdu_body(pdu.bytes())).await.unwrap();
    assert_eq!(
        read_until(&mut host, &mut pending, "OK\r\n").await,
        "\r\n+CMGS: 0\r\n\r\nOK\r\n"
    );
    let took = start.elapsed();
    let send = Profile::QuectelEc25.send_latency();
    let cmd = Profile::QuectelEc25.command_latency();
    assert!(
        took >= send && took < send + cmd * 2 + Duration::from_millis(5),
        "{took:?}"
    );
    wait_for(&mut events, |e| {
        matches!(e, EmulatorEvent::MessageSent { mr: 0, .. })
    })
    .await;
    assert_eq!(emulator.sent().len(), 1);

    // Quectel's default +CNMI=2,1: stored and announced from index 0.
    assert_eq!(emulator.inject_deliver(&bytes(DELIVER)), Ok(Some(0)));
    assert_eq!(
        read_until(&mut host, &mut pending, "\r\n+CMTI: \"SM\",0\r\n").await,
        "\r\n+CMTI: \"SM\",0\r\n"
    );

    // RING repeats every RING_INTERVAL until the host hangs up.
    let start = Instant::now();
    emulator.ring("+4917612345678");
    read_until(&mut host, &mut pending, "RING\r\n").await;
    read_until(&mut host, &mut pending, "RING\r\n").await;
    assert!(start.elapsed() >= crate::emulator::RING_INTERVAL);
    host.write_all(b"ATH\r").await.unwrap();
    read_until(&mut host, &mut pending, "OK\r\n").await;
    wait_for(&mut events, |e| {
        *e == EmulatorEvent::CallEnded { by_host: true }
    })
    .await;

    // Unplug closes the stream: the host reads EOF.
    emulator.unplug(None).await;
    let mut buf = [0u8; 64];
    let n = timeout(GUARD, async {
        loop {
            match host.read(&mut buf).await {
                Ok(0) | Err(_) => return 0,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(n, 0);
    // Injected while unplugged: stored for the host to list later.
    assert_eq!(emulator.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));

    // Replug on a new stream: boot lines, echo on, a fresh session.
    let (mut host, modem) = tokio::io::duplex(4096);
    let mut pending = Vec::new();
    emulator.replug_with(modem);
    wait_for(&mut events, |e| {
        matches!(e, EmulatorEvent::Replugged { .. })
    })
    .await;
    read_until(&mut host, &mut pending, "+QIND: SMS DONE\r\n").await;
    host.write_all(b"AT+CMGL=4\r").await.unwrap();
    let listing = read_until(&mut host, &mut pending, "OK\r\n").await;
    assert!(listing.starts_with("AT+CMGL=4\r"), "{listing:?}");
    assert_eq!(listing.matches("+CMGL:").count(), 2);
    emulator.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_hung_command_leaves_the_next_one_answered() {
    let (mut host, modem) = tokio::io::duplex(4096);
    let emulator = Emulator::on_stream(EmulatorConfig::new(Profile::Sim800l), modem);
    let mut pending = Vec::new();
    host.write_all(b"ATE0\r").await.unwrap();
    read_until(&mut host, &mut pending, "OK\r\n").await;
    emulator.inject_fault(Fault::NoAnswer {
        command_prefix: "AT+CSQ".into(),
        times: Times::Once,
    });
    emulator.set_command_latency("AT", Duration::from_millis(300));
    host.write_all(b"AT+CSQ\r").await.unwrap();
    let mut buf = [0u8; 64];
    // Paused time: the 5 s wait passes at once, deterministically.
    assert!(timeout(Duration::from_secs(5), host.read(&mut buf))
        .await
        .is_err());
    let start = Instant::now();
    host.write_all(b"AT\r").await.unwrap();
    assert_eq!(
        read_until(&mut host, &mut pending, "OK\r\n").await,
        "\r\nOK\r\n"
    );
    assert!(start.elapsed() >= Duration::from_millis(300));
    emulator.inject_fault(Fault::Garbage(b"\xff\xfe junk".to_vec()));
    read_until(&mut host, &mut pending, "junk").await;
    emulator.send_noise("Call Ready");
    read_until(&mut host, &mut pending, "\r\nCall Ready\r\n").await;
    assert_eq!(
        emulator.commands(),
        ["ATE0", "AT+CSQ", "AT"],
        "commands are recorded verbatim"
    );
}

#[tokio::test(start_paused = true)]
async fn noise_fault_emits_at_its_interval() {
    let (mut host, modem) = tokio::io::duplex(4096);
    let emulator = Emulator::on_stream(EmulatorConfig::new(Profile::HuaweiE3372), modem);
    let mut pending = Vec::new();
    let start = Instant::now();
    emulator.inject_fault(Fault::Noise {
        interval: Duration::from_secs(10),
    });
    read_until(&mut host, &mut pending, "^RSSI:20\r\n").await;
    read_until(&mut host, &mut pending, "^MODE:5,4\r\n").await;
    assert!(start.elapsed() >= Duration::from_secs(20));
    emulator.clear_faults();
    host.write_all(b"AT\r").await.unwrap();
    read_until(&mut host, &mut pending, "OK\r\n").await;
    drop(emulator);
    // Dropping the handle ends the runner, which closes the stream.
    let mut buf = [0u8; 64];
    loop {
        match timeout(GUARD, host.read(&mut buf)).await.unwrap() {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

async fn open(path: &std::path::Path) -> tokio_serial::SerialStream {
    tokio_serial::new(path.to_string_lossy(), 115_200)
        .open_native_async()
        .expect("open the emulator's path")
}

#[tokio::test]
async fn pty_speaks_at_and_survives_unplug() {
    let mut config = EmulatorConfig::new(Profile::Generic);
    config.sim_pin = Some("1234".into());
    let emulator = Emulator::start(config).await.unwrap();
    let link = emulator.path();
    let first_tty = emulator.tty_path();
    let name = link.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        name,
        format!(
            "usb-simgate_Emulated_Modem_{}-if00-port0",
            Profile::Generic.default_imei()
        )
    );
    assert_eq!(link.parent().unwrap().file_name().unwrap(), "by-id");
    assert_eq!(std::fs::read_link(&link).unwrap(), first_tty);
    assert!(first_tty.starts_with("/dev/pts"));
    let dir = link.parent().unwrap().parent().unwrap().to_path_buf();

    let mut port = open(&link).await;
    let mut pending = Vec::new();
    port.write_all(b"AT\r").await.unwrap();
    assert_eq!(
        read_until(&mut port, &mut pending, "OK\r\n").await,
        "AT\r\r\nOK\r\n"
    );
    port.write_all(b"AT+CPIN=\"1234\"\r").await.unwrap();
    read_until(&mut port, &mut pending, "OK\r\n").await;
    port.write_all(b"AT+CNMI=2,1,0,2,0\r").await.unwrap();
    read_until(&mut port, &mut pending, "OK\r\n").await;
    assert_eq!(emulator.inject_deliver(&bytes(DELIVER)), Ok(Some(1)));
    read_until(&mut port, &mut pending, "+CMTI: \"SM\",1\r\n").await;

    // Unplug: the host's fd reads EOF or EIO, the link disappears.
    let mut events = emulator.subscribe();
    emulator.unplug(None).await;
    wait_for(&mut events, |e| *e == EmulatorEvent::Unplugged).await;
    let mut buf = [0u8; 64];
    let outcome = timeout(GUARD, async {
        loop {
            match port.read(&mut buf).await {
                Ok(0) => return None,
                Err(e) => return e.raw_os_error(),
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap();
    assert!(
        outcome.is_none() || outcome == Some(nix::libc::EIO),
        "{outcome:?}"
    );
    let write = port.write_all(b"AT\r").await;
    assert!(write.is_err(), "writes to an unplugged port fail");
    assert!(std::fs::symlink_metadata(&link).is_err());
    drop(port);

    // Replug now: a new /dev/pts number behind the same link, fresh
    // session (echo on, SIM locked again), storage kept.
    emulator.replug_now();
    let EmulatorEvent::Replugged { path: new_tty } = wait_for(&mut events, |e| {
        matches!(e, EmulatorEvent::Replugged { .. })
    })
    .await
    else {
        unreachable!()
    };
    assert_ne!(new_tty, first_tty);
    assert_eq!(emulator.tty_path(), new_tty);
    assert_eq!(std::fs::read_link(&link).unwrap(), new_tty);
    let mut port = open(&link).await;
    let mut pending = Vec::new();
    port.write_all(b"AT+CPIN?\r").await.unwrap();
    assert_eq!(
        read_until(&mut port, &mut pending, "OK\r\n").await,
        "AT+CPIN?\r\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    );
    assert_eq!(emulator.stored().len(), 1);

    // A timed unplug comes back by itself.
    emulator.unplug(Some(Duration::from_millis(50))).await;
    wait_for(&mut events, |e| {
        matches!(e, EmulatorEvent::Replugged { .. })
    })
    .await;
    let mut port = open(&link).await;
    port.write_all(b"AT\r").await.unwrap();
    read_until(&mut port, &mut Vec::new(), "OK\r\n").await;
    assert_eq!(
        emulator
            .commands()
            .iter()
            .filter(|c| c.starts_with("AT+CPIN="))
            .count(),
        1
    );

    emulator.stop().await;
    assert!(!dir.exists(), "the emulator removes its directory");
}

#[tokio::test]
async fn pty_emulators_run_side_by_side() {
    let a = Emulator::start(EmulatorConfig::new(Profile::HuaweiE3372))
        .await
        .unwrap();
    let mut config = EmulatorConfig::new(Profile::Sim7600);
    config.imei = Some("123456789012347".into());
    let b = Emulator::start(config).await.unwrap();
    assert_ne!(a.tty_path(), b.tty_path());
    assert!(b
        .path()
        .to_string_lossy()
        .contains("SIM7600_123456789012347"));
    for (emulator, want) in [(&a, "E3372"), (&b, "SIMCOM_SIM7600E-H")] {
        // Opened, closed and opened again, as a driver that re-syncs does.
        for _ in 0..2 {
            let mut port = open(&emulator.path()).await;
            port.write_all(b"AT+CGMM\r").await.unwrap();
            let answer = read_until(&mut port, &mut Vec::new(), "OK\r\n").await;
            assert!(answer.contains(want), "{answer:?}");
        }
    }
    let dir = a.path().parent().unwrap().to_path_buf();
    drop(a);
    assert!(!dir.exists());
    b.stop().await;
}
