//! The PROXY protocol, v1 and v2: decode a header from received bytes (borrowing them), and
//! encode one to send.
//!
//! ```
//! use liblb::proxy::{self, Endpoint, Family};
//! let buf = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET /";
//! let h = proxy::decode(buf, &proxy::Options::default()).unwrap();
//! assert_eq!(h.family(), Family::Inet);
//! assert_eq!(h.src(), Endpoint::Inet("192.0.2.1:56324".parse().unwrap()));
//! assert_eq!(&buf[h.len()..], b"GET /");
//!
//! match proxy::decode(&buf[..10], &proxy::Options::default()) {
//!     Err(proxy::DecodeError::NeedMore { need }) => assert!(need >= 1),
//!     other => panic!("{:?}", other.map(|h| h.len())),
//! }
//! ```
use crate::{check, Code, Error};
use liblb_sys as sys;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ptr;

/// Decoder options (`lb_proxy_options`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Versions to accept, a bit set of `LB_PROXY_V1` and `LB_PROXY_V2` (0: both).
    pub versions: u32,
    /// Accept a v2 PROXY header of family UNSPEC.
    pub allow_unspec: bool,
    /// The largest header accepted (0: liblb's default, `LB_PROXY_DEFAULT_MAX_HEADER`).
    pub max_header_size: u32,
}

/// Why [`decode`] gave no header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes are a valid but incomplete header: read at least `need` more bytes.
    NeedMore {
        /// Bytes still needed, at least.
        need: usize,
    },
    /// Not a valid PROXY header (e.g. `LB_E_PROXY_NOT_PROXY`).
    Invalid(Error),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NeedMore { need } => write!(f, "PROXY header incomplete: {} more bytes", need),
            DecodeError::Invalid(e) => write!(f, "PROXY header: {}", e),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The command of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// LOCAL: the connection is the proxy's own (health checks); no addresses.
    Local,
    /// PROXY: on behalf of the client whose addresses the header carries.
    Proxy,
}

/// The address family of a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// No addresses.
    Unspec,
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
    /// UNIX socket paths.
    Unix,
}

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// No address (UNSPEC, LOCAL, v1 UNKNOWN).
    None,
    /// An IP address and port.
    Inet(SocketAddr),
    /// A UNIX socket path (bytes, borrowed from the header).
    Unix(&'a [u8]),
}

/// A decoded header. It borrows the decoded buffer: TLV values and UNIX paths point into it.
pub struct Header<'a> {
    h: sys::lb_proxy_header,
    len: usize,
    _buf: PhantomData<&'a [u8]>,
}

/// A TLV of a v2 header: its type and value (borrowed from the decoded buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The type byte (`LB_PROXY_TLV_...`).
    pub kind: u8,
    /// The value.
    pub value: &'a [u8],
}

/// Decodes the PROXY header at the start of `buf` (read in place).
pub fn decode<'a>(buf: &'a [u8], opts: &Options) -> Result<Header<'a>, DecodeError> {
    // SAFETY: plain C structs; all-zero is valid for both.
    let mut o: sys::lb_proxy_options = unsafe { std::mem::zeroed() };
    o.struct_size = std::mem::size_of_val(&o) as u32;
    o.versions = opts.versions;
    o.allow_unspec = opts.allow_unspec as u32;
    o.max_header_size = opts.max_header_size;
    let mut h: sys::lb_proxy_header = unsafe { std::mem::zeroed() };
    h.struct_size = std::mem::size_of_val(&h) as u32;
    let mut need = 0;
    let rc = unsafe { sys::lb_proxy_decode(buf.as_ptr(), buf.len() as _, &o, &mut h, &mut need) };
    if rc < 0 {
        return Err(match Error::from_raw(rc) {
            Error::Lb(Code::NeedMore) => DecodeError::NeedMore { need: need as usize },
            e => DecodeError::Invalid(e),
        });
    }
    Ok(Header { h, len: rc as usize, _buf: PhantomData })
}

fn bytes<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if p.is_null() || n == 0 {
        &[]
    } else {
        // SAFETY: liblb points into the decoded buffer, which outlives 'a.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
}

impl<'a> Header<'a> {
    /// The header's size in bytes: the payload starts at `buf[len()..]`.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// 1 or 2.
    pub fn version(&self) -> u8 {
        self.h.version
    }

    /// LOCAL or PROXY.
    pub fn command(&self) -> Command {
        if u32::from(self.h.command) == sys::LB_PROXY_CMD_PROXY as u32 {
            Command::Proxy
        } else {
            Command::Local
        }
    }

    /// The address family.
    pub fn family(&self) -> Family {
        match u32::from(self.h.family) {
            f if f == sys::LB_PROXY_FAM_INET as u32 => Family::Inet,
            f if f == sys::LB_PROXY_FAM_INET6 as u32 => Family::Inet6,
            f if f == sys::LB_PROXY_FAM_UNIX as u32 => Family::Unix,
            _ => Family::Unspec,
        }
    }

    /// `LB_PROXY_TRANSPORT_...` (0 UNSPEC, 1 STREAM, 2 DGRAM).
    pub fn transport(&self) -> u8 {
        self.h.transport
    }

    fn endpoint(&self, addr: &[u8; 16], port: u16, path: *const u8, path_len: u16) -> Endpoint<'a> {
        match self.family() {
            Family::Inet => {
                let a = Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]);
                Endpoint::Inet(SocketAddr::new(IpAddr::V4(a), port))
            }
            Family::Inet6 => Endpoint::Inet(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(*addr)), port)),
            Family::Unix => Endpoint::Unix(bytes(path, path_len as usize)),
            Family::Unspec => Endpoint::None,
        }
    }

    /// The source (client) address.
    pub fn src(&self) -> Endpoint<'a> {
        self.endpoint(&self.h.src_addr, self.h.src_port, self.h.src_path, self.h.src_path_len)
    }

    /// The destination address.
    pub fn dst(&self) -> Endpoint<'a> {
        self.endpoint(&self.h.dst_addr, self.h.dst_port, self.h.dst_path, self.h.dst_path_len)
    }

    /// Whether the header carried a CRC32C TLV (which the decoder verified).
    pub fn crc32c_valid(&self) -> bool {
        self.h.crc32c_present != 0
    }

    /// The TLVs, in order (v2).
    pub fn tlvs(&self) -> Tlvs<'_, 'a> {
        Tlvs { h: self, cursor: 0 }
    }

    /// The raw C header (its pointers point into the decoded buffer).
    pub fn raw(&self) -> &sys::lb_proxy_header {
        &self.h
    }
}

/// Iterator over a header's TLVs.
pub struct Tlvs<'h, 'a> {
    h: &'h Header<'a>,
    cursor: usize,
}

impl<'h, 'a> Iterator for Tlvs<'h, 'a> {
    type Item = Result<Tlv<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        // SAFETY: plain C struct.
        let mut t: sys::lb_proxy_tlv = unsafe { std::mem::zeroed() };
        let mut cur = self.cursor as _;
        let rc = unsafe { sys::lb_proxy_tlv_next(&self.h.h, &mut cur, &mut t) };
        self.cursor = cur as usize;
        match check(rc) {
            Ok(1) => Some(Ok(Tlv { kind: t.type_, value: bytes(t.value, t.length as usize) })),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// What to encode (see [`encode`]).
#[derive(Debug, Clone, Default)]
pub struct Encode<'a> {
    /// 1 or 2.
    pub version: u8,
    /// A v2 LOCAL header (no addresses).
    pub local: bool,
    /// The source address; with `dst`, of one family. `None` for both: v1 UNKNOWN, v2 UNSPEC.
    pub src: Option<Endpoint<'a>>,
    /// The destination address.
    pub dst: Option<Endpoint<'a>>,
    /// TLVs (v2), in order.
    pub tlvs: Vec<Tlv<'a>>,
    /// Append a CRC32C TLV (v2).
    pub crc32c: bool,
    /// Datagram transport (v2).
    pub dgram: bool,
}

struct Sockaddr(sys::sockaddr_storage);

fn sockaddr(ep: &Endpoint) -> Result<Option<Sockaddr>, Error> {
    let text = match ep {
        Endpoint::None => return Ok(None),
        Endpoint::Inet(sa) => sa.to_string(),
        Endpoint::Unix(p) => format!("unix:{}", String::from_utf8_lossy(p)),
    };
    let c = std::ffi::CString::new(text).map_err(|_| Error::Lb(crate::Code::AddrSyntax))?;
    // SAFETY: sockaddr_storage is plain bytes.
    let mut ss: sys::sockaddr_storage = unsafe { std::mem::zeroed() };
    check(unsafe { sys::lb_addr_parse(c.as_ptr(), &mut ss, ptr::null_mut()) })?;
    Ok(Some(Sockaddr(ss)))
}

/// Encodes a PROXY header.
///
/// ```
/// use liblb::proxy::{self, Encode, Endpoint, Tlv};
/// let raw = proxy::encode(&Encode {
///     version: 2,
///     src: Some(Endpoint::Inet("192.0.2.1:56324".parse().unwrap())),
///     dst: Some(Endpoint::Inet("198.51.100.7:443".parse().unwrap())),
///     tlvs: vec![Tlv { kind: 0x02, value: b"example.com" }],
///     crc32c: true,
///     ..Default::default()
/// })
/// .unwrap();
/// let h = proxy::decode(&raw, &Default::default()).unwrap();
/// assert!(h.crc32c_valid());
/// ```
pub fn encode(e: &Encode) -> Result<Vec<u8>, Error> {
    let cap: usize = e.tlvs.iter().map(|t| 3 + t.value.len()).sum();
    let mut storage = vec![0u8; cap.max(1)];
    // SAFETY: plain C struct; lb_proxy_tlvb_init fills it.
    let mut b: sys::lb_proxy_tlv_builder = unsafe { std::mem::zeroed() };
    unsafe { sys::lb_proxy_tlvb_init(&mut b, std::mem::size_of_val(&b) as _, storage.as_mut_ptr(), cap as _) };
    for t in &e.tlvs {
        check(unsafe { sys::lb_proxy_tlvb_add(&mut b, t.kind, t.value.as_ptr().cast(), t.value.len() as _) })?;
    }
    let src = sockaddr(e.src.as_ref().unwrap_or(&Endpoint::None))?;
    let dst = sockaddr(e.dst.as_ref().unwrap_or(&Endpoint::None))?;
    let sa = |s: &Option<Sockaddr>| s.as_ref().map_or(ptr::null(), |s| &s.0 as *const _ as *const sys::sockaddr);
    // SAFETY: plain C struct.
    let mut p: sys::lb_proxy_encode_params = unsafe { std::mem::zeroed() };
    p.struct_size = std::mem::size_of_val(&p) as u32;
    p.version = e.version;
    p.command = if e.local { sys::LB_PROXY_CMD_LOCAL as u8 } else { sys::LB_PROXY_CMD_PROXY as u8 };
    p.dgram = e.dgram as u8;
    p.crc32c = e.crc32c as u8;
    p.src = sa(&src);
    p.dst = sa(&dst);
    p.tlvs = if e.tlvs.is_empty() { ptr::null() } else { storage.as_ptr() };
    p.tlvs_len = b.len;
    let mut need = 0;
    let rc = unsafe { sys::lb_proxy_encode(ptr::null_mut(), 0, &p, &mut need) };
    if rc < 0 && Error::from_raw(rc).name() != "ENOSPC" {
        return Err(Error::from_raw(rc));
    }
    let mut out = vec![0u8; need as usize];
    let n = check(unsafe { sys::lb_proxy_encode(out.as_mut_ptr(), out.len() as _, &p, &mut need) })?;
    out.truncate(n as usize);
    Ok(out)
}
