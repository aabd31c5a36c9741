//! How an SMTP session of the delivery machine ends, step by step: the server closes the
//! connection at each step of the dialogue, and a probe's QUIT (RFC 5321 §4.1.1.10) waits for
//! the 221 no longer than the step limit or the delivery's deadline. Each `poll` is checked, so a
//! machine that keeps waiting for a peer that has gone fails here at once instead of hanging.

use mtasts::delivery::{AddressAnswer, Delivery, Limits, MxAnswer, Options, Step};

const LIMITS: Limits = Limits {
    max_addresses: 8,
    max_sessions: 8,
    deadline_ms: 10_000,
    connect_ms: 3_000,
    reply_ms: 5_000,
    tls_ms: 8_000,
};

fn options() -> Options {
    Options {
        helo_name: "relay.example.org".into(),
        port: 25,
        require_tls: false,
        limits: LIMITS,
    }
}

/// Polls at `now`, answering the connection's `Close` (the host closes its socket).
fn poll(d: &mut Delivery, now: u64) -> Step {
    match d.poll(now) {
        Step::Close => d.poll(now),
        step => step,
    }
}

fn expect_connect(d: &mut Delivery, now: u64, want: &str) {
    match poll(d, now) {
        Step::Connect { address, .. } => assert_eq!(address, want),
        other => panic!("expected Connect {want}, got {other:?}"),
    }
    d.on_connected(None);
}

fn expect_read(d: &mut Delivery, now: u64) -> u64 {
    match poll(d, now) {
        Step::Read { timeout_ms } => timeout_ms,
        other => panic!("expected Read, got {other:?}"),
    }
}

fn expect_send(d: &mut Delivery, now: u64, prefix: &str) {
    match poll(d, now) {
        Step::Send(bytes) => assert!(
            bytes.starts_with(prefix.as_bytes()),
            "expected {prefix}, sent {:?}",
            String::from_utf8_lossy(&bytes)
        ),
        other => panic!("expected Send {prefix}, got {other:?}"),
    }
}

/// Greeting, EHLO with STARTTLS offered, and the server's go-ahead.
fn up_to_tls(d: &mut Delivery, now: u64) {
    expect_read(d, now);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(d, now, "EHLO ");
    expect_read(d, now);
    d.on_data(b"250-mx\r\n250 STARTTLS\r\n");
    expect_send(d, now, "STARTTLS");
    expect_read(d, now);
    d.on_data(b"220 go ahead\r\n");
}

fn results(d: &Delivery) -> Vec<&str> {
    d.attempts().iter().map(|a| a.result.as_str()).collect()
}

#[test]
fn a_server_that_closes_at_any_step_is_that_attempts_failure_and_the_next_address_is_dialled() {
    let addresses: Vec<String> = (1..=5).map(|i| format!("192.0.2.{i}")).collect();
    let mut d = Delivery::new("example.com", None, options()).unwrap();
    assert!(matches!(poll(&mut d, 1_000), Step::ResolveMx { .. }));
    d.on_mx(MxAnswer::NoRecords);
    assert!(matches!(poll(&mut d, 1_000), Step::ResolveAddresses { .. }));
    d.on_addresses(AddressAnswer::Addresses(addresses.clone()));

    // 1: closes before the greeting.
    expect_connect(&mut d, 1_000, &addresses[0]);
    expect_read(&mut d, 1_000);
    d.on_close();
    // 2: closes after EHLO was sent.
    expect_connect(&mut d, 1_000, &addresses[1]);
    expect_read(&mut d, 1_000);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(&mut d, 1_000, "EHLO ");
    expect_read(&mut d, 1_000);
    d.on_close();
    // 3: closes after STARTTLS was sent, before its reply.
    expect_connect(&mut d, 1_000, &addresses[2]);
    expect_read(&mut d, 1_000);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(&mut d, 1_000, "EHLO ");
    expect_read(&mut d, 1_000);
    d.on_data(b"250-mx\r\n250 STARTTLS\r\n");
    expect_send(&mut d, 1_000, "STARTTLS");
    expect_read(&mut d, 1_000);
    d.on_close();
    // 4: closes during the TLS handshake.
    expect_connect(&mut d, 1_000, &addresses[3]);
    up_to_tls(&mut d, 1_000);
    assert!(matches!(poll(&mut d, 1_000), Step::StartTls { .. }));
    d.on_close();
    // 5: a working server, which ends the delivery.
    expect_connect(&mut d, 1_000, &addresses[4]);
    up_to_tls(&mut d, 1_000);
    assert!(matches!(poll(&mut d, 1_000), Step::StartTls { .. }));
    d.on_tls_verified(Ok(()), "TLSv1.3");
    match poll(&mut d, 1_000) {
        Step::Ready(r) => assert_eq!(r.mx.host, "example.com"),
        other => panic!("expected Ready, got {other:?}"),
    }
    assert_eq!(
        results(&d),
        [
            "smtp-closed",
            "smtp-closed",
            "smtp-closed",
            "tls-handshake-failed",
            "success"
        ]
    );
    let a = d.attempts();
    assert!(a[0].message.as_deref().unwrap().contains("greeting"));
    assert!(a[1].message.as_deref().unwrap().contains("EHLO"));
    assert!(a[2].message.as_deref().unwrap().contains("STARTTLS"));
    assert_eq!(
        a[3].detail.as_deref(),
        Some("the connection closed during the TLS handshake"),
        "{:?}",
        a[3]
    );
}

#[test]
fn a_probe_waits_for_the_221_no_longer_than_the_deadline_and_moves_on_when_it_comes_or_the_server_goes(
) {
    let mut d = Delivery::probe("example.com", None, "mx.example.com", options()).unwrap();
    // The deadline counts from the first poll: 1_000 + 10_000 = 11_000.
    assert!(matches!(poll(&mut d, 1_000), Step::ResolveAddresses { .. }));
    d.on_addresses(AddressAnswer::Addresses(vec![
        "192.0.2.1".into(),
        "192.0.2.2".into(),
    ]));
    let now = 10_000;
    expect_connect(&mut d, now, "192.0.2.1");
    expect_read(&mut d, now);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(&mut d, now, "EHLO ");
    expect_read(&mut d, now);
    d.on_data(b"250 mx\r\n"); // no STARTTLS: judged, then QUIT
    expect_send(&mut d, now, "QUIT");
    // The QUIT wait is 2_000 ms, but only 1_000 are left before the deadline.
    assert_eq!(expect_read(&mut d, now), 1_000);
    // An empty read is no answer yet; the 221 is.
    d.on_data(b"");
    assert_eq!(expect_read(&mut d, now), 1_000);
    d.on_data(b"221 bye\r\n");
    expect_connect(&mut d, now, "192.0.2.2");
    expect_read(&mut d, now);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(&mut d, now, "EHLO ");
    expect_read(&mut d, now);
    d.on_data(b"250 mx\r\n");
    expect_send(&mut d, now, "QUIT");
    expect_read(&mut d, now);
    // The server closes instead of answering QUIT: nothing more to wait for.
    d.on_close();
    assert!(matches!(poll(&mut d, now), Step::Probed));
    // No policy: a session without STARTTLS is a usable one (RFC 8461 §5), seen as such.
    assert_eq!(results(&d), ["success", "success"]);
    assert!(d.attempts().iter().all(|a| a.starttls == Some(false)));
}

#[test]
fn a_quit_answered_by_silence_ends_at_its_own_wait() {
    let mut d = Delivery::probe("example.com", None, "mx.example.com", options()).unwrap();
    assert!(matches!(poll(&mut d, 1_000), Step::ResolveAddresses { .. }));
    d.on_addresses(AddressAnswer::Addresses(vec!["192.0.2.1".into()]));
    expect_connect(&mut d, 1_000, "192.0.2.1");
    expect_read(&mut d, 1_000);
    d.on_data(b"220 mx ESMTP\r\n");
    expect_send(&mut d, 1_000, "EHLO ");
    expect_read(&mut d, 1_000);
    d.on_data(b"250 mx\r\n");
    expect_send(&mut d, 1_000, "QUIT");
    // RFC 5321 §4.1.1.10: the wait for the 221 is brief (2 s), far inside the deadline.
    assert_eq!(expect_read(&mut d, 1_000), 2_000);
    assert_eq!(expect_read(&mut d, 2_500), 500, "the wait counts down");
    d.on_timeout();
    assert!(matches!(poll(&mut d, 3_000), Step::Probed));
}
