//! The same answers as the C library: every PROXY, Maglev and hash vector of tests/data (the
//! files the C unit tests read).
use liblb::proxy::{self, DecodeError, Endpoint, Family, Options};
use std::net::IpAddr;
use std::path::PathBuf;

fn data(name: &str) -> Vec<String> {
    let dir = std::env::var("LB_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/data"));
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {}", name, e))
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn h64(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn hash_vectors() {
    let mut n = 0;
    for line in data("hash_vectors.txt") {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (seed, want) = (h64(f[f.len() - 2]), h64(f[f.len() - 1]));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let got = match f[0] {
            "flow4" | "flow6" => liblb::hash_flow(ip(f[2]), ip(f[3]), f[4].parse().unwrap(), f[5].parse().unwrap(), f[1].parse().unwrap(), seed),
            "src4" | "src6" => liblb::hash_src(ip(f[1]), seed),
            _ => liblb::hash_key(&hex(f[1]), seed),
        };
        assert_eq!(got, want, "{}", line);
        n += 1;
    }
    assert!(n > 100);
}

struct SplitMix(u64);
impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
}

/// The targets of a "generated" line, as tests/data/gen_maglev_vectors.py makes them.
fn generated(n: usize, spec: &str) -> Vec<(String, u32)> {
    let keys = (0..n).map(|i| format!("backend-{}", i));
    match spec {
        "equal" => keys.map(|k| (k, 1)).collect(),
        "skew" => keys.enumerate().map(|(i, k)| (k, if i == 0 { 65535 } else { 1 })).collect(),
        _ => {
            let p: Vec<&str> = spec.split(':').collect();
            assert_eq!(p[0], "random");
            let mut rng = SplitMix(p[1].parse().unwrap());
            let wmax: u64 = p[2].parse().unwrap();
            keys.map(|k| (k, (rng.next() % wmax + 1) as u32)).collect()
        }
    }
}

#[test]
fn maglev_vectors() {
    let mut n = 0;
    for line in data("maglev_vectors.txt") {
        let f: Vec<&str> = line.split_whitespace().collect();
        let size: u32 = f[1].parse().unwrap();
        let (targets, want) = if f[0] == "explicit" {
            let t: Vec<(String, u32)> = if f[3] == "-" {
                Vec::new()
            } else {
                f[3].split(',')
                    .map(|kv| {
                        let (k, w) = kv.rsplit_once('=').unwrap();
                        (k.to_string(), w.parse().unwrap())
                    })
                    .collect()
            };
            (t, h64(f[2]))
        } else {
            (generated(f[2].parse().unwrap(), f[3]), h64(f[4]))
        };
        let m = liblb::Maglev::new(&targets, size).unwrap();
        assert_eq!(m.digest(), want, "{}", line);
        if targets.iter().any(|t| t.1 > 0) {
            assert_eq!(m.entries().iter().map(|e| e.1).sum::<u32>(), size);
        }
        n += 1;
    }
    assert!(n >= 15);
}

/// A decoded header as the vector file's OK column writes it (tests/unit/test_proxy.c).
fn describe(h: &proxy::Header) -> String {
    let side = |e: Endpoint| match e {
        Endpoint::Inet(sa) => (sa.ip().to_string(), sa.port().to_string()),
        Endpoint::Unix(p) => (format!("unix:{}", String::from_utf8_lossy(p)), "-".to_string()),
        Endpoint::None => ("-".to_string(), "-".to_string()),
    };
    let (s, sp) = side(h.src());
    let (d, dp) = side(h.dst());
    let fam = match h.family() {
        Family::Unspec => "UNSPEC",
        Family::Inet => "INET",
        Family::Inet6 => "INET6",
        Family::Unix => "UNIX",
    };
    let tr = ["UNSPEC", "STREAM", "DGRAM"][h.transport() as usize];
    let cmd = if h.command() == proxy::Command::Proxy { "PROXY" } else { "LOCAL" };
    let tlvs = h.tlvs().map(|t| t.unwrap()).count();
    format!("OK {} {} {} {} {} {} {} {} {} {} {}", h.len(), h.version(), cmd, fam, tr, s, sp, d, dp,
            h.crc32c_valid() as u8, tlvs)
}

#[test]
fn proxy_vectors() {
    let (mut n, mut need_more) = (0, 0);
    for line in data("proxy_vectors.txt") {
        let f: Vec<&str> = line.split('\t').collect();
        let buf = hex(f[1]);
        let o = f.get(3).copied().unwrap_or("");
        let mut opts = Options::default();
        if o.contains("v1only") {
            opts.versions = liblb_sys::LB_PROXY_V1;
        }
        if o.contains("v2only") {
            opts.versions = liblb_sys::LB_PROXY_V2;
        }
        opts.allow_unspec = o.contains("unspec");
        if let Some(m) = o.split("max=").nth(1) {
            opts.max_header_size = m.split_whitespace().next().unwrap().parse().unwrap();
        }
        let got = match proxy::decode(&buf, &opts) {
            Ok(h) => {
                assert!(h.len() <= buf.len());
                describe(&h)
            }
            Err(DecodeError::NeedMore { need }) => {
                assert!(need >= 1, "{}", f[0]);
                need_more += 1;
                // the name liblb gives the code, as the C test prints it
                format!("ERR {}", liblb::Code::NeedMore.name())
            }
            Err(DecodeError::Invalid(e)) => format!("ERR {}", e.name()),
        };
        assert_eq!(got, f[2], "{}", f[0]);
        n += 1;
    }
    assert!(n > 150 && need_more > 0);
}
