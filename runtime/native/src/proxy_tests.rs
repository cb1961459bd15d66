#![expect(clippy::unwrap_used, reason = "tests")]

use super::*;

fn ok(head: &str) -> Request {
    match check_request(head.as_bytes()) {
        Ok(Some((r, n))) => {
            assert_eq!(n, head.find("\r\n\r\n").unwrap() + 4);
            r
        }
        other => panic!("{head:?}: {other:?}"),
    }
}

fn refused(head: &str) -> Refusal {
    match check_request(head.as_bytes()) {
        Err(r) => r,
        other => panic!("{head:?} was not refused: {other:?}"),
    }
}

#[test]
fn one_host_equal_to_the_url_is_forwarded_as_the_only_host() {
    let Request::Forward { host, port, head, body, .. } =
        ok("GET http://A.test:8080/x?q HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n")
    else {
        panic!()
    };
    assert_eq!((host, port, body), (Host::Name("a.test".into()), 8080, Body::None));
    let text = String::from_utf8(head).unwrap();
    assert_eq!(text, "GET /x?q HTTP/1.1\r\nAccept: */*\r\nHost: A.test:8080\r\nConnection: close\r\n\r\n");
    // The default port and a spelling that parses to the same host are the same Host.
    ok("GET http://a.test/ HTTP/1.1\r\nHost: A.TEST.:80\r\n\r\n");
    ok("GET http://127.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
}

#[test]
fn a_second_or_missing_or_different_host_is_refused() {
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nHost: evil.test\r\n\r\n");
    assert_eq!((r.status, r.rule.as_str()), (400, "(proxy: more than one Host header)"));
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n");
    assert_eq!(r.status, 400);
    let r = refused("GET http://a.test/ HTTP/1.1\r\n\r\n");
    assert_eq!((r.status, r.rule.as_str()), (400, "(proxy: no Host header)"));
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n");
    assert_eq!((r.status, r.rule.as_str()), (403, "(Host header differs from the URL)"));
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: a.test:81\r\n\r\n");
    assert_eq!(r.status, 403);
    // CONNECT: no Host is fine, one must match, two are refused.
    ok("CONNECT a.test:443 HTTP/1.1\r\n\r\n");
    ok("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n");
    assert_eq!(refused("CONNECT a.test:443 HTTP/1.1\r\nHost: b.test:443\r\n\r\n").status, 403);
    assert_eq!(refused("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nHost: a.test:443\r\n\r\n").status, 400);
}

#[test]
fn conflicting_lengths_and_encodings_are_refused_and_one_length_frames_the_body() {
    let Request::Forward { body, .. } = ok("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\n")
    else {
        panic!()
    };
    assert_eq!(body, Body::Length(5));
    let Request::Forward { body, .. } =
        ok("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n")
    else {
        panic!()
    };
    assert_eq!(body, Body::Chunked);
    for (head, rule) in [
        ("Content-Length: 5\r\nContent-Length: 6", "(proxy: more than one Content-Length)"),
        ("Content-Length: 5\r\nContent-Length: 5", "(proxy: more than one Content-Length)"),
        ("Content-Length: 5, 5", "(proxy: malformed Content-Length)"),
        ("Content-Length: +5", "(proxy: malformed Content-Length)"),
        ("Content-Length: 5\r\nTransfer-Encoding: chunked", "(proxy: Transfer-Encoding with Content-Length)"),
        ("Transfer-Encoding: gzip, chunked", "(proxy: Transfer-Encoding other than chunked)"),
        ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "(proxy: more than one Transfer-Encoding)"),
    ] {
        let r = refused(&format!("POST http://a.test/ HTTP/1.1\r\nHost: a.test\r\n{head}\r\n\r\n"));
        assert_eq!((r.status, r.rule.as_str()), (400, rule), "{head}");
    }
}

#[test]
fn obs_fold_oversized_heads_and_too_many_headers_are_refused() {
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n  folded\r\n\r\n");
    assert_eq!((r.status, r.rule.as_str()), (400, "(proxy: obs-fold)"));
    let r = refused("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX-A: 1\r\n\tfolded\r\n\r\n");
    assert_eq!(r.status, 400);
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
    let r = refused(&format!("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n{many}\r\n"));
    assert_eq!(r.status, 431);
    let big = format!("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: {}", "a".repeat(MAX_HEAD));
    assert_eq!(refused(&big).status, 431);
    // The twin: the same head below the bounds is still incomplete, not refused.
    assert!(matches!(check_request(b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX: aaaa"), Ok(None)));
}

#[test]
fn targets_with_userinfo_percent_encoding_or_other_schemes_are_refused() {
    for head in [
        "GET http://allowed.test@127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET http://%31%32%37.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET http://a.test/#frag HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET http:///x HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "CONNECT a.test HTTP/1.1\r\n\r\n",
        "CONNECT allowed.test@a.test:443 HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(refused(head).status, 400, "{head}");
    }
}

#[test]
fn numeric_and_localhost_targets_parse_to_the_addresses_they_are() {
    for t in ["2130706433", "127.1", "0x7f000001", "017700000001", "0177.1", "localhost", "LOCALHOST.", "x.localhost"] {
        let Request::Forward { host, .. } = ok(&format!("GET http://{t}:9/ HTTP/1.1\r\nHost: {t}:9\r\n\r\n")) else {
            panic!()
        };
        assert!(matches!(host, Host::Ip(_) | Host::Localhost), "{t}: {host:?}");
        let Request::Connect { host, .. } = ok(&format!("CONNECT {t}:9 HTTP/1.1\r\n\r\n")) else { panic!() };
        assert!(matches!(host, Host::Ip(_) | Host::Localhost), "{t}: {host:?}");
    }
}

#[test]
fn header_tricks_are_malformed_requests() {
    for head in [
        // A space before the colon: some servers read `Host`, httparse does not.
        "GET http://a.test/ HTTP/1.1\r\nHost : evil.test\r\nHost: a.test\r\n\r\n",
        "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nX\0: 1\r\n\r\n",
        "GET http://a.test/  HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "CONNECT a.test:0 HTTP/1.1\r\n\r\n",
        "CONNECT [::1] HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(refused(head).status, 400, "{head:?}");
    }
    // An empty Host names no host: it differs from the URL.
    assert_eq!(refused("GET http://a.test/ HTTP/1.1\r\nHost:\r\n\r\n").status, 403);
    // The scheme is case-insensitive; the path may start with a query.
    let Request::Forward { head, .. } = ok("GET HTTP://a.test?x=1 HTTP/1.0\r\nHost: a.test\r\n\r\n") else { panic!() };
    assert!(String::from_utf8(head).unwrap().starts_with("GET /?x=1 HTTP/1.0\r\n"));
}

#[test]
fn bytes_after_the_head_are_not_part_of_it() {
    // A pipelined second request is left in the buffer, never parsed as this one's headers;
    // the relay forwards no body bytes for a request without Content-Length.
    let two =
        "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\nGET http://evil.test/ HTTP/1.1\r\nHost: evil.test\r\n\r\n";
    let Ok(Some((Request::Forward { host, body, .. }, n))) = check_request(two.as_bytes()) else { panic!() };
    assert_eq!((host, body), (Host::Name("a.test".into()), Body::None));
    assert!(two[n..].starts_with("GET http://evil.test/"));
}

#[test]
fn a_chunked_body_ends_after_its_last_chunk_and_trailers() {
    let body = b"5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET http://evil.test/ HTTP/1.1\r\n\r\n";
    let end = body.iter().position(|b| *b == b'G').unwrap();
    assert_eq!(ChunkedEnd::default().feed(body), Ok(Some(end)));
    // Byte by byte, the same end.
    let mut scan = ChunkedEnd::default();
    let at = body.iter().enumerate().find_map(|(i, b)| scan.feed(std::slice::from_ref(b)).unwrap().map(|_| i + 1));
    assert_eq!(at, Some(end));
    assert_eq!(ChunkedEnd::default().feed(b"0\r\n\r\n"), Ok(Some(5)));
    assert_eq!(ChunkedEnd::default().feed(b"5\r\nhel"), Ok(None));
    for bad in [&b"x\r\n"[..], b"5\nhello\r\n", b"5\r\nhelloX", b"\r\n", b"ffffffffffffffff1\r\n", b"0\r\n\n"] {
        assert_eq!(ChunkedEnd::default().feed(bad), Err(()), "{:?}", String::from_utf8_lossy(bad));
    }
}

proptest::proptest! {
    /// Whatever a tool sends, the checker never panics, and what it forwards carries exactly
    /// one Host header and one Connection: close.
    #[test]
    fn any_head_is_refused_or_forwarded_with_one_host(
        lines in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just("Host: a.test".to_string()),
                proptest::strategy::Just("host: b.test".to_string()),
                proptest::strategy::Just("Content-Length: 3".to_string()),
                proptest::strategy::Just("Transfer-Encoding: chunked".to_string()),
                proptest::strategy::Just(" folded".to_string()),
                "[ -~]{0,20}",
            ],
            0..6,
        ),
        target in proptest::prop_oneof![
            proptest::strategy::Just("http://a.test/".to_string()),
            proptest::strategy::Just("a.test:443".to_string()),
            "[ -~]{0,20}",
        ],
        method in proptest::prop_oneof![proptest::strategy::Just("GET"), proptest::strategy::Just("CONNECT")],
    ) {
        let head = format!("{method} {target} HTTP/1.1\r\n{}\r\n\r\n", lines.join("\r\n"));
        if let Ok(Some((Request::Forward { head: out, .. }, _))) = check_request(head.as_bytes()) {
            let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
            proptest::prop_assert_eq!(text.matches("\r\nhost:").count(), 1, "{}", text);
            proptest::prop_assert_eq!(text.matches("\r\nconnection:").count(), 1, "{}", text);
            proptest::prop_assert!(!text.contains("\r\n ") && !text.contains("\r\n\t"), "{}", text);
        }
    }

    /// Arbitrary bytes never panic the checker or the chunk scanner.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
        let _ = check_request(&bytes);
        let _ = ChunkedEnd::default().feed(&bytes);
    }
}

/// An address is allowed by a remembered answer only under the name's rule, re-checked:
/// never a local address, never one a deny covers, never an address cordon did not answer.
#[test]
fn a_remembered_answer_allows_its_address_under_the_names_rule_only() {
    let policy = cordon_policy::Policy::parse(
        r#"{"version":"0.8.0-alpha","network":{"egress":{"deny":[{"to":[{"cidr":"203.0.113.0/28"}]}]}},"cordon":{"network":{"allowDomains":["allowed.test"]}}}"#,
        &cordon_policy::LexicalHost::default(),
    )
    .unwrap();
    let proxy = Proxy::new(policy.network.clone());
    let name = match proxy.network.check_host(&Host::Name("allowed.test".into()), 443, Protocol::Tcp) {
        HostCheck::Resolve(d) => d,
        other => panic!("{other:?}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let decide_as =
        |ip: &str, proto| rt.block_on(proxy.destinations("net", &Host::Ip(ip.parse().unwrap()), 443, proto)).is_ok();
    let decide = |ip: &str| decide_as(ip, Protocol::Tcp);
    // Before any answer: no rule names these addresses.
    assert!(!decide("198.51.100.7"));
    {
        let mut m = proxy.remembered.lock().unwrap();
        for ip in ["198.51.100.7", "127.0.0.9", "203.0.113.5"] {
            m.insert(ip.parse().unwrap(), (name.clone(), std::time::Instant::now()));
        }
        // An answer given longer ago than it vouches for.
        let old = std::time::Instant::now().checked_sub(REMEMBERED_FOR + std::time::Duration::from_secs(1));
        m.insert("198.51.100.9".parse().unwrap(), (name.clone(), old.unwrap()));
    }
    assert!(!decide("198.51.100.9"), "an answer past its time vouches for nothing");
    assert!(decide("::ffff:198.51.100.7"), "the mapped spelling is the same address");
    assert!(decide("198.51.100.7"), "an answer cordon gave for an allowed name");
    assert!(decide_as("198.51.100.7", Protocol::Udp), "a UDP flow to it too: the name allows every protocol");
    assert!(!decide("198.51.100.8"), "an address cordon never answered");
    assert!(!decide_as("198.51.100.8", Protocol::Udp), "an address cordon never answered");
    assert!(!decide("127.0.0.9"), "a local address needs a rule naming it, answer or not");
    assert!(!decide("203.0.113.5"), "a deny covers it, answer or not");
}

/// The refusal log is taken once, and only when the plan expects one: a second descriptor
/// offered (by a tool that reached the socket) is refused, as is one offered to a proxy
/// whose run has no capture.
#[cfg(target_os = "linux")]
#[test]
fn only_the_first_expected_refusal_log_is_kept() {
    let fd = || std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
    let network = cordon_policy::Network::default();
    let expecting = Proxy::with_refusal_log(network.clone(), true);
    assert!(expecting.keep_refusal_log(fd()));
    assert!(!expecting.keep_refusal_log(fd()), "a second log is refused");
    let none = Proxy::with_refusal_log(network, false);
    assert!(!none.keep_refusal_log(fd()), "no capture, no log");
}

/// A UDP flow the capture's relay asks for: granted by the policy's UDP rule for that
/// address and port, carried datagram by datagram both ways; refused (and recorded) for a
/// port only a TCP rule allows, and for a name (the relay asks by address only).
#[cfg(target_os = "linux")]
#[test]
fn a_udp_flow_is_decided_by_the_udp_rules_and_carried_datagram_by_datagram() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let echo = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = echo.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 100];
            while let Ok((n, from)) = echo.recv_from(&mut buf).await {
                let mut r = b"echo:".to_vec();
                r.extend_from_slice(&buf[..n]);
                let _ = echo.send_to(&r, from).await;
            }
        });
        let policy = cordon_policy::Policy::parse(
            &format!(
                r#"{{"version":"0.8.0-alpha","network":{{"egress":{{"allow":[{{"to":[{{"cidr":"127.0.0.1/32"}}],"ports":[{{"protocol":"udp","port":{port}}},{{"protocol":"tcp","port":{}}}]}}]}}}}}}"#,
                port + 1
            ),
            &cordon_policy::LexicalHost::default(),
        )
        .unwrap();
        let proxy = Proxy::new(policy.network.clone());
        let ask = |dest: Vec<u8>| {
            let proxy = proxy.clone();
            async move {
                let (mut relay, cordon) = UnixStream::pair().unwrap();
                tokio::spawn(async move {
                    let _ = handle(&proxy, cordon).await;
                });
                relay.write_all(&[5, 1, 0]).await.unwrap();
                let mut hello = [0u8; 2];
                relay.read_exact(&mut hello).await.unwrap();
                let mut req = vec![5, cordon_plan::helper::SOCKS_UDP_FLOW, 0];
                req.extend(dest);
                relay.write_all(&req).await.unwrap();
                let mut reply = [0u8; 10];
                relay.read_exact(&mut reply).await.unwrap();
                (reply[1], relay)
            }
        };
        let at = |p: u16| [&[1u8, 127, 0, 0, 1][..], &p.to_be_bytes()].concat();
        let (code, mut relay) = ask(at(port)).await;
        assert_eq!(code, 0, "the UDP rule allows it");
        for word in [&b"one"[..], b"two"] {
            relay.write_all(&(word.len() as u16).to_be_bytes()).await.unwrap();
            relay.write_all(word).await.unwrap();
            let len = relay.read_u16().await.unwrap();
            let mut got = vec![0u8; usize::from(len)];
            relay.read_exact(&mut got).await.unwrap();
            assert_eq!(got, [&b"echo:"[..], word].concat());
        }
        assert_eq!(ask(at(port + 1)).await.0, 2, "only a TCP rule names that port");
        let name = [&[3u8, 9][..], b"localhost", &port.to_be_bytes()].concat();
        assert_eq!(ask(name).await.0, 8, "a UDP flow is asked for by address");
        let events = proxy.events();
        let sends: Vec<_> = events.iter().filter(|e| e.op == "send").map(|e| (e.target.clone(), e.decision.allowed)).collect();
        assert_eq!(sends, vec![(format!("127.0.0.1:{port}"), true), (format!("127.0.0.1:{}", port + 1), false)]);
    });
}
