//! The safe API: errors, balancer lifecycle, picks from several threads, PROXY round trips.
use liblb::proxy::{self, DecodeError, Encode, Endpoint, Tlv};
use liblb::{Balancer, Code, Error};
use std::sync::Arc;

fn balancer(alg: &str) -> Balancer {
    let mut cfg = liblb::balancer_config();
    cfg.algorithm = Balancer::algorithm(alg).expect("known algorithm");
    cfg.table_size = 1009;
    cfg.deregistration_delay_ms = 1000;
    Balancer::new(&cfg).unwrap()
}

#[test]
fn handles_are_send_and_sync() {
    // derived from abi/liblb.api.json's thread classes (src/threads.rs): every call on a
    // balancer or a Maglev table is `reader` or `pure`
    fn shared<T: Send + Sync>() {}
    shared::<Balancer>();
    shared::<liblb::Maglev>();
}

#[test]
fn errors_have_names() {
    assert_eq!(Code::NeedMore.name(), "LB_E_NEED_MORE");
    for c in Code::ALL {
        assert!(c.name().starts_with("LB_E_"), "{:?}", c);
        assert_eq!(Code::from_raw(c.raw()), Some(*c));
    }
    let b = balancer("maglev");
    assert_eq!(b.pick(1), Err(Error::Lb(Code::NoTarget)));
    b.add(1, b"a", 1, 0, 0, 0).unwrap();
    let e = b.add(1, b"b", 1, 0, 0, 0).unwrap_err();
    assert_eq!(e.name(), "EEXIST");
    assert!(e.to_string().starts_with("EEXIST: "));
    let mut cfg = liblb::balancer_config();
    cfg.table_size = 1000;
    assert_eq!(Balancer::new(&cfg).unwrap_err(), Error::Lb(Code::MaglevNotPrime));
}

#[test]
fn drain_and_events() {
    let b = balancer("maglev");
    for i in 1..=3u32 {
        b.add(i, format!("10.0.0.{}:80", i).as_bytes(), 1, 0, 0, 0).unwrap();
    }
    let mut ids = b.targets();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3]);
    let first: Vec<u32> = (0..300).map(|k| b.pick(liblb::hash_key(format!("c{}", k).as_bytes(), 0)).unwrap()).collect();
    b.tick(0);
    let victim = first[7];
    b.drain(victim, 10).unwrap();
    for k in 0..300 {
        assert_ne!(b.pick(liblb::hash_key(format!("c{}", k).as_bytes(), 0)).unwrap(), victim);
    }
    let ev = b.tick(10);
    assert_eq!(ev[0].target_id, victim);
    assert_eq!(liblb::state_name(ev[0].new_state), "draining");
    assert_eq!(liblb::reason_name(ev[0].reason), "deregistered");
    let held = first.iter().filter(|&&t| t == victim).count() as u32;
    assert_eq!(b.target_stats(victim).unwrap().active, held);
    for _ in 0..held {
        b.release(victim, 20).unwrap();
    }
    assert_eq!(b.target_stats(victim).unwrap().active, 0);
    // a release without a pick left, and one for an unknown id: errors, counted
    assert_eq!(b.release(victim, 20).unwrap_err().name(), "ERANGE");
    assert_eq!(b.release(99, 20).unwrap_err().name(), "ENOENT");
    let s = b.stats().unwrap();
    assert_eq!((s.picks, s.bad_releases, s.events_dropped), (600, 2, 0));
    b.undrain(victim, 30).unwrap();
    b.set_weight(1, 5, 30).unwrap();
    b.remove(2, 40).unwrap();
}

#[test]
fn picks_from_threads() {
    let b = Arc::new(balancer("p2c"));
    for i in 1..=8u32 {
        b.add(i, format!("t{}", i).as_bytes(), 1, 0, 0, 0).unwrap();
    }
    let threads: Vec<_> = (0..4u64)
        .map(|s| {
            let b = Arc::clone(&b);
            std::thread::spawn(move || {
                for k in 0..5000u64 {
                    let t = b.pick(liblb::hash_key(&(s * 100000 + k).to_le_bytes(), 0)).unwrap();
                    b.release(t, 0).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(b.stats().unwrap().picks, 20000);
    for i in 1..=8 {
        assert_eq!(b.target_stats(i).unwrap().active, 0);
    }
}

#[test]
fn proxy_round_trips() {
    let raw = proxy::encode(&Encode {
        version: 2,
        src: Some(Endpoint::Inet("[2001:db8::1]:1234".parse().unwrap())),
        dst: Some(Endpoint::Inet("[2001:db8::2]:443".parse().unwrap())),
        tlvs: vec![Tlv { kind: 0x05, value: b"id-1" }],
        crc32c: true,
        ..Default::default()
    })
    .unwrap();
    let mut framed = raw.clone();
    framed.extend_from_slice(b"payload");
    let h = proxy::decode(&framed, &Default::default()).unwrap();
    assert_eq!(&framed[h.len()..], b"payload");
    assert!(h.crc32c_valid());
    let tlvs: Vec<Tlv> = h.tlvs().collect::<Result<_, _>>().unwrap();
    assert!(tlvs.contains(&Tlv { kind: 0x05, value: b"id-1" }));
    // Each TLV value borrows from `framed`.
    let p = tlvs[0].value.as_ptr() as usize;
    assert!(p >= framed.as_ptr() as usize && p < framed.as_ptr() as usize + framed.len());

    for k in 0..raw.len() {
        match proxy::decode(&raw[..k], &Default::default()) {
            Err(DecodeError::NeedMore { need }) => assert!(need >= 1 && k + need <= raw.len()),
            Err(e) => panic!("prefix {}: {}", k, e),
            Ok(_) => panic!("prefix {} decoded", k),
        }
    }
    let mut bad = raw.clone();
    *bad.last_mut().unwrap() ^= 0xff;
    match proxy::decode(&bad, &Default::default()) {
        Err(DecodeError::Invalid(e)) => assert!(e.name().starts_with("LB_E_PROXY_"), "{}", e),
        _ => panic!("corrupt header accepted"),
    }

    let unix = proxy::encode(&Encode {
        version: 2,
        src: Some(Endpoint::Unix(b"/run/a.sock")),
        dst: Some(Endpoint::Unix(b"/run/b.sock")),
        ..Default::default()
    })
    .unwrap();
    let h = proxy::decode(&unix, &Default::default()).unwrap();
    assert_eq!(h.src(), Endpoint::Unix(b"/run/a.sock"));
    let e = proxy::encode(&Encode {
        version: 1,
        src: Some(Endpoint::Inet("10.0.0.1:1".parse().unwrap())),
        dst: Some(Endpoint::Inet("[::1]:2".parse().unwrap())),
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(e, Error::Lb(Code::ProxyFamilyMismatch));
}
