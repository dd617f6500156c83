use super::*;

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![tag];
    f.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn collect(s: &mut Splitter, buf: &[u8], peek: usize) -> (Progress, Vec<(u8, Vec<u8>, usize)>) {
    let mut seen = Vec::new();
    let p = s.scan(buf, |_| peek, |t, b, l| seen.push((t, b.to_vec(), l))).expect("valid frames");
    (p, seen)
}

#[test]
fn whole_frames_are_found_in_order() {
    let mut buf = frame(b'Q', b"SELECT 1\0");
    buf.extend(frame(b'S', b""));
    let (p, seen) = collect(&mut Splitter::new(1 << 20), &buf, usize::MAX);
    assert_eq!(p.forward, buf.len());
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], (b'Q', b"SELECT 1\0".to_vec(), 9));
    assert_eq!(seen[1], (b'S', vec![], 0));
}

#[test]
fn partial_frame_waits_for_more_bytes() {
    let buf = frame(b'Q', b"SELECT 1\0");
    let mut s = Splitter::new(1 << 20);
    for cut in 0..buf.len() {
        let (p, seen) = collect(&mut s, &buf[..cut], usize::MAX);
        assert_eq!(p.forward, 0, "cut {cut}");
        assert!(seen.is_empty());
        assert!(p.need > cut);
    }
}

#[test]
fn streamed_body_passes_without_buffering() {
    let body = vec![7u8; 1000];
    let mut buf = frame(b'd', &body);
    buf.extend(frame(b'c', b""));
    let mut s = Splitter::new(1 << 20);
    // Only the header and 10 body bytes have arrived.
    let (p, seen) = collect(&mut s, &buf[..15], 0);
    assert_eq!(p.forward, 15);
    assert_eq!(seen, vec![(b'd', vec![], 1000)]);
    assert!(s.mid_frame());
    // The rest of the body and the next frame.
    let (p, seen) = collect(&mut s, &buf[15..], 0);
    assert_eq!(p.forward, buf.len() - 15);
    assert_eq!(seen, vec![(b'c', vec![], 0)]);
    assert!(!s.mid_frame());
}

#[test]
fn peek_hands_over_only_the_head() {
    let buf = frame(b'B', b"portal\0stmt\0lots of parameter bytes");
    let (p, seen) = collect(&mut Splitter::new(1 << 20), &buf[..5 + 12], 12);
    assert_eq!(p.forward, 17);
    assert_eq!(bind_parts(&seen[0].1), Some((&b"portal"[..], &b"stmt"[..], &b""[..])));
}

#[test]
fn bad_lengths_are_errors_before_any_allocation() {
    let mut s = Splitter::new(100);
    let short = [b'Q', 0, 0, 0, 3];
    assert_eq!(
        s.scan(&short, |_| 0, |_, _, _| {}),
        Err(FrameError::BadLength { tag: Tag(b'Q'), len: 3 })
    );
    let long = [b'Q', 0, 0, 1, 0];
    assert_eq!(
        Splitter::new(100).scan(&long, |_| 0, |_, _, _| {}),
        Err(FrameError::TooLong { tag: Tag(b'Q'), len: 256, max: 100 })
    );
}

#[test]
fn startup_packets_decode() {
    let mut pkt = Vec::new();
    let body = b"user\0app\0database\0appdb\0\0";
    pkt.extend_from_slice(&(8 + body.len() as u32).to_be_bytes());
    pkt.extend_from_slice(&196_608u32.to_be_bytes());
    pkt.extend_from_slice(body);
    assert_eq!(startup_packet_len(&pkt), Ok(Some(pkt.len())));
    let StartupPacket::Startup { major, minor, params } = parse_startup(&pkt).expect("valid")
    else {
        panic!("not a startup message")
    };
    assert_eq!((major, minor), (3, 0));
    assert_eq!(params, vec![("user", "app"), ("database", "appdb")]);

    let ssl = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    assert_eq!(parse_startup(&ssl), Ok(StartupPacket::SslRequest));
    let cancel = cancel_request(&[0, 0, 0, 1, 9, 9, 9, 9]);
    assert_eq!(parse_startup(&cancel), Ok(StartupPacket::CancelRequest(&cancel[..])));
}

#[test]
fn garbage_startup_is_an_error() {
    assert_eq!(
        startup_packet_len(b"GET / HTTP/1.1\r\n"),
        Err(FrameError::BadStartupLength(0x47455420))
    );
    assert_eq!(startup_packet_len(&[0, 0, 0, 2]), Err(FrameError::BadStartupLength(2)));
    assert_eq!(startup_packet_len(&[0, 0]), Ok(None));
    let v2 = [0, 0, 0, 8, 0, 2, 0, 0];
    assert_eq!(parse_startup(&v2), Err(FrameError::UnsupportedProtocol { major: 2, minor: 0 }));
    let unterminated = [0, 0, 0, 12, 0, 3, 0, 0, b'u', b's', b'e', b'r'];
    assert!(matches!(parse_startup(&unterminated), Err(FrameError::MalformedStartup(_))));
}

#[test]
fn decoders_read_the_fields() {
    assert_eq!(command_rows(b"SELECT 5\0"), Some(5));
    assert_eq!(command_rows(b"INSERT 0 12\0"), Some(12));
    assert_eq!(command_rows(b"BEGIN\0"), None);
    assert_eq!(command_rows(b"CREATE TABLE\0"), None);
    assert_eq!(command_rows(b"SELECT 18446744073709551615\0"), Some(u64::MAX));
    assert_eq!(command_rows(b"SELECT 18446744073709551616\0"), None);
    assert_eq!(command_rows(b"SELECT 1x\0"), None);
    assert_eq!(command_rows(b"SELECT \0"), None);
    assert_eq!(command_rows(b"17\0"), None);
    let err = error_response("ERROR", "42P01", "relation \"x\" does not exist");
    assert_eq!(error_sqlstate(&err[5..]), Some(*b"42P01"));
    assert_eq!(error_sqlstate(b"Sx\0"), None);
    assert_eq!(parse_message(b"s1\0SELECT $1\0\0\0"), Some((&b"s1"[..], &b"SELECT $1"[..])));
    assert_eq!(close_target(b"Sfoo\0"), Some((b'S', &b"foo"[..])));
    assert_eq!(
        parameter_status(b"application_name\0web\0"),
        Some((&b"application_name"[..], &b"web"[..]))
    );
}

/// A tiny deterministic generator, so the randomized tests need no extra crate.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_bytes_never_panic_and_progress_stays_in_bounds() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let len = (xorshift(&mut seed) % 64) as usize;
        let buf: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
        let peek = (xorshift(&mut seed) % 40) as usize;
        let mut s = Splitter::new(1 + (xorshift(&mut seed) % 100) as u32);
        if let Ok(p) = s.scan(&buf, |_| peek, |_, body, body_len| assert!(body.len() <= body_len)) {
            assert!(p.forward <= buf.len());
        }
        let _ = startup_packet_len(&buf).map(|_| parse_startup(&buf));
        let _ = (error_sqlstate(&buf), command_rows(&buf), bind_parts(&buf), close_target(&buf));
    }
}
