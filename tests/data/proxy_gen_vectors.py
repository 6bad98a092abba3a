#!/usr/bin/env python3
"""Generates tests/data/proxy_vectors.txt: PROXY protocol v1/v2 test vectors, valid and invalid,
one per line: NAME <TAB> HEX <TAB> EXPECT [<TAB> OPTIONS].

EXPECT is either `ERR <LB_E_...>` or
`OK <len> <version> <command> <family> <transport> <src> <sport> <dst> <dport> <crc> <ntlvs>`
(addresses as text, `-` when none; UNIX paths as unix:PATH). OPTIONS is a comma-separated list
of decoder options: v1only, v2only, unspec, max=N.

Everything here is computed independently of liblb (CRC-32C included), from the rules of
HAProxy's doc/proxy-protocol.txt. Usage: proxy_gen_vectors.py OUT [CORPUS_DIR]
(CORPUS_DIR: also write each vector as a file for the fuzzer's corpus), or
proxy_gen_vectors.py --check VECTORS CORPUS_DIR (are the committed files up to date?)."""
import ipaddress
import os
import struct
import sys

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def tlv(t, v):
    return bytes([t]) + struct.pack(">H", len(v)) + v


def count_tlvs(b):
    n = i = 0
    while i < len(b):
        i += 3 + struct.unpack(">H", b[i + 1:i + 3])[0]
        n += 1
    return n


def v2(cmd=1, fam=0x11, body=b"", length=None, ver=2, sig=SIG):
    if length is None:
        length = len(body)
    return sig + bytes([ver << 4 | cmd, fam]) + struct.pack(">H", length) + body


def inet(src="192.0.2.1", sp=56324, dst="198.51.100.7", dp=443):
    return (ipaddress.IPv4Address(src).packed + ipaddress.IPv4Address(dst).packed +
            struct.pack(">HH", sp, dp))


def inet6(src="2001:db8::1", sp=1234, dst="2001:db8:1::ff", dp=8443):
    return (ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed +
            struct.pack(">HH", sp, dp))


def unix(src=b"/run/src.sock", dst=b"/run/dst.sock"):
    return src.ljust(108, b"\0") + dst.ljust(108, b"\0")


def with_crc(fam, addr, tlvs_after=b"", cmd=1, corrupt=False, big_endian=True):
    """A v2 header with CRC32C first among the TLVs."""
    body = addr + tlv(3, b"\0\0\0\0") + tlvs_after
    h = bytearray(v2(cmd, fam, body))
    c = crc32c(bytes(h))
    if corrupt:
        c ^= 1
    off = 16 + len(addr) + 3
    h[off:off + 4] = struct.pack(">I" if big_endian else "<I", c)
    return bytes(h)


V = []


def ok(name, data, length, ver, cmd, fam, tr, src="-", sp="-", dst="-", dp="-", crc=0, ntlv=0,
       opts=""):
    V.append((name, data, "OK %d %d %s %s %s %s %s %s %s %d %d" %
              (length, ver, cmd, fam, tr, src, sp, dst, dp, crc, ntlv), opts))


def err(name, data, code, opts=""):
    V.append((name, data, "ERR " + code, opts))


# ---- v1 valid ----
l = b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n"
ok("v1_tcp4", l, len(l), 1, "PROXY", "INET", "STREAM", "192.0.2.1", 56324, "198.51.100.7", 443)
ok("v1_tcp4_app_bytes_after", l + b"GET / HTTP/1.1\r\n\r\n", len(l), 1, "PROXY", "INET",
   "STREAM", "192.0.2.1", 56324, "198.51.100.7", 443)
l = b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"
ok("v1_tcp4_extremes", l, len(l), 1, "PROXY", "INET", "STREAM", "0.0.0.0", 0,
   "255.255.255.255", 65535)
l = b"PROXY TCP6 2001:db8::1 2001:db8:1::ff 1234 8443\r\n"
ok("v1_tcp6", l, len(l), 1, "PROXY", "INET6", "STREAM", "2001:db8::1", 1234, "2001:db8:1::ff",
   8443)
l = b"PROXY TCP6 ::1 :: 1 2\r\n"
ok("v1_tcp6_short_forms", l, len(l), 1, "PROXY", "INET6", "STREAM", "::1", 1, "::", 2)
l = b"PROXY TCP6 ::ffff:192.0.2.1 FE80:0000:0000:0000:0202:B3FF:FE1E:8329 80 81\r\n"
ok("v1_tcp6_mapped_and_full_upper", l, len(l), 1, "PROXY", "INET6", "STREAM",
   "::ffff:192.0.2.1", 80, "fe80::202:b3ff:fe1e:8329", 81)
l = b"PROXY TCP6 1:2:3:4:5:6:7:: 1::8 80 81\r\n"
ok("v1_tcp6_gap_at_ends", l, len(l), 1, "PROXY", "INET6", "STREAM", "1:2:3:4:5:6:7:0", 80,
   "1::8", 81)
l = b"PROXY TCP6 0000:0000:0000:0000:0000:ffff:255.255.255.255 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
err("v1_tcp6_longest_is_too_long", l, "LB_E_PROXY_V1_TOO_LONG")
l = b"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
ok("v1_tcp6_104_bytes", l, 104, 1, "PROXY", "INET6", "STREAM",
   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
   65535)
l = b"PROXY UNKNOWN\r\n"
ok("v1_unknown_bare", l, 15, 1, "LOCAL", "UNSPEC", "UNSPEC")
l = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"
ok("v1_unknown_with_junk", l, len(l), 1, "LOCAL", "UNSPEC", "UNSPEC")
l = b"PROXY UNKNOWN a\rb\nc\r\r\n"
ok("v1_unknown_lone_cr_lf_ignored", l, len(l), 1, "LOCAL", "UNSPEC", "UNSPEC")
# The spec's v1 limit: 107 bytes with the CRLF. After UNKNOWN the receiver ignores the rest of
# the line, so filler bytes ("x") reach the limit exactly, go one past it, or never end.
l = b"PROXY UNKNOWN " + b"x" * (107 - 16) + b"\r\n"
ok("v1_unknown_107_bytes", l, 107, 1, "LOCAL", "UNSPEC", "UNSPEC")
err("v1_unknown_108_bytes", b"PROXY UNKNOWN " + b"x" * (108 - 16) + b"\r\n",
    "LB_E_PROXY_V1_TOO_LONG")
err("v1_no_crlf_in_107", b"PROXY UNKNOWN " + b"x" * 200, "LB_E_PROXY_V1_TOO_LONG")
err("v1_unknown_cr_at_107", b"PROXY UNKNOWN " + b"x" * (106 - 14) + b"\r\n",
    "LB_E_PROXY_V1_TOO_LONG")
err("v1_refused", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_VERSION_REFUSED", "v2only")
l = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
ok("v1_accepted_v1only", l, len(l), 1, "PROXY", "INET", "STREAM", "1.2.3.4", 1, "5.6.7.8", 2,
   opts="v1only")
err("v1_max_size_smaller", l, "LB_E_PROXY_TOO_LARGE", "max=20")
ok("v1_max_size_exact", l, len(l), 1, "PROXY", "INET", "STREAM", "1.2.3.4", 1, "5.6.7.8", 2,
   opts="max=%d" % len(l))

# ---- v1 invalid ----
for name, line, code in [
    ("v1_lowercase_keyword", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_NOT_PROXY"),
    ("v1_http", b"POST / HTTP/1.1\r\n\r\n", "LB_E_PROXY_NOT_PROXY"),
    ("v1_proxy_no_space", b"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_two_spaces_after_proxy", b"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_lowercase_proto", b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_tcp5", b"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_udp4", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_unknownx", b"PROXY UNKNOWNX\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_unknown_lone_cr", b"PROXY UNKNOWN\rX\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_unknown_lone_lf", b"PROXY UNKNOWN\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_tcp4_no_space_after", b"PROXY TCP4\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_double_space_between_addrs", b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
     "LB_E_PROXY_V1_SYNTAX"),
    ("v1_double_space_before_ports", b"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_double_space_between_ports", b"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
     "LB_E_PROXY_V1_SYNTAX"),
    ("v1_trailing_space", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_tab_separator", b"PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_missing_dport", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_missing_ports", b"PROXY TCP4 1.2.3.4 5.6.7.8\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_missing_dst", b"PROXY TCP4 1.2.3.4\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_lf_only", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_cr_only_then_data", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rGET", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_cr_cr_lf", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "LB_E_PROXY_V1_SYNTAX"),
    ("v1_leading_zero_octet", b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_leading_zero_last_octet", b"PROXY TCP4 1.2.3.4 5.6.7.08 1 2\r\n",
     "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_octet_256", b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_octet_four_digits", b"PROXY TCP4 1.2.3.1000 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_three_octets", b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_five_octets", b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_empty_octet", b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_hex_ipv4", b"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_in_tcp4", b"PROXY TCP4 ::1 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv4_in_tcp6", b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_zone_id", b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_two_gaps", b"PROXY TCP6 1::2::3 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_nine_groups", b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_seven_groups", b"PROXY TCP6 1:2:3:4:5:6:7 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_gap_with_eight", b"PROXY TCP6 1:2:3:4::5:6:7:8 ::1 1 2\r\n",
     "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_five_hex_digits", b"PROXY TCP6 12345::1 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_single_leading_colon", b"PROXY TCP6 :1::2 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_single_trailing_colon", b"PROXY TCP6 1::2: ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_bad_embedded_v4", b"PROXY TCP6 ::ffff:1.2.3.04 ::1 1 2\r\n",
     "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_v4_not_last", b"PROXY TCP6 ::1.2.3.4:1 ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_v4_too_late", b"PROXY TCP6 1:2:3:4:5:6:7:1.2.3.4 ::1 1 2\r\n",
     "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_single_colon", b"PROXY TCP6 : ::1 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_ipv6_too_long_text", b"PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000 ::1 1 2\r\n",
     "LB_E_PROXY_BAD_ADDRESS"),
    ("v1_port_leading_zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_double_zero", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_65536", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_six_digits", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 100000\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_plus_sign", b"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_minus_sign", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_port_hex", b"PROXY TCP4 1.2.3.4 5.6.7.8 0x50 2\r\n", "LB_E_PROXY_BAD_PORT"),
    ("v1_nul_in_line", b"PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
]:
    err(name, line, code)

# partial v1 lines stay LB_E_NEED_MORE
err("v1_partial_signature", b"PROX", "LB_E_NEED_MORE")
err("v1_partial_line", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", "LB_E_NEED_MORE")
err("v1_partial_unknown", b"PROXY UNKNOWN some junk", "LB_E_NEED_MORE")

# ---- v2 valid ----
ok("v2_inet_stream", v2(1, 0x11, inet()), 28, 2, "PROXY", "INET", "STREAM", "192.0.2.1", 56324,
   "198.51.100.7", 443)
ok("v2_inet_dgram", v2(1, 0x12, inet()), 28, 2, "PROXY", "INET", "DGRAM", "192.0.2.1", 56324,
   "198.51.100.7", 443)
ok("v2_inet6_stream", v2(1, 0x21, inet6()), 52, 2, "PROXY", "INET6", "STREAM", "2001:db8::1",
   1234, "2001:db8:1::ff", 8443)
ok("v2_inet6_dgram", v2(1, 0x22, inet6()), 52, 2, "PROXY", "INET6", "DGRAM", "2001:db8::1",
   1234, "2001:db8:1::ff", 8443)
ok("v2_unix_stream", v2(1, 0x31, unix()), 232, 2, "PROXY", "UNIX", "STREAM",
   "unix:/run/src.sock", "-", "unix:/run/dst.sock", "-")
ok("v2_unix_dgram", v2(1, 0x32, unix()), 232, 2, "PROXY", "UNIX", "DGRAM", "unix:/run/src.sock",
   "-", "unix:/run/dst.sock", "-")
ok("v2_unix_full_108", v2(1, 0x31, unix(b"a" * 108, b"b" * 108)), 232, 2, "PROXY", "UNIX",
   "STREAM", "unix:" + "a" * 108, "-", "unix:" + "b" * 108, "-")
ok("v2_app_bytes_after_are_not_tlvs", v2(1, 0x11, inet()) + tlv(1, b"h2") + b"\x03\x00",
   28, 2, "PROXY", "INET", "STREAM", "192.0.2.1", 56324, "198.51.100.7", 443)
ok("v2_local_bare", v2(0, 0x00, b""), 16, 2, "LOCAL", "UNSPEC", "UNSPEC")
ok("v2_local_inet_no_address_block", v2(0, 0x11, b""), 16, 2, "LOCAL", "UNSPEC", "UNSPEC")
ok("v2_local_inet_short_block", v2(0, 0x21, b"\x01" * 12), 28, 2, "LOCAL", "UNSPEC", "UNSPEC")
ok("v2_local_with_addresses", v2(0, 0x11, inet()), 28, 2, "LOCAL", "UNSPEC", "UNSPEC")
ok("v2_local_bad_family_ignored", v2(0, 0xFF, b"xyz"), 19, 2, "LOCAL", "UNSPEC", "UNSPEC")
aws = tlv(0xEA, b"\x01vpce-08d2bf15fac5001c9")
h = with_crc(0x00, b"", aws + tlv(4, b"\0" * 5), cmd=0)
ok("v2_local_aws_health_check", h, len(h), 2, "LOCAL", "UNSPEC", "UNSPEC", crc=1, ntlv=3)
ok("v2_proxy_unspec_allowed", v2(1, 0x00, tlv(2, b"x")), 20, 2, "PROXY", "UNSPEC", "UNSPEC",
   ntlv=1, opts="unspec")
tl = tlv(1, b"h2") + tlv(2, b"example.com") + tlv(5, b"\x01" * 32) + tlv(0x30, b"blue")
ok("v2_inet_tlvs", v2(1, 0x11, inet() + tl), 28 + len(tl), 2, "PROXY", "INET", "STREAM",
   "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=4)
h = with_crc(0x11, inet(), tlv(2, b"example.com") + tlv(5, b"id-1") + aws)
ok("v2_inet_crc_authority_uid_aws", h, len(h), 2, "PROXY", "INET", "STREAM", "192.0.2.1", 56324,
   "198.51.100.7", 443, crc=1, ntlv=4)
h = with_crc(0x21, inet6(), b"")
ok("v2_inet6_crc_only", h, len(h), 2, "PROXY", "INET6", "STREAM", "2001:db8::1", 1234,
   "2001:db8:1::ff", 8443, crc=1, ntlv=1)
ssl = tlv(0x20, b"\x07\0\0\0\0" + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"client") +
          tlv(0x23, b"TLS_AES_128_GCM_SHA256"))
ok("v2_ssl_subtlvs", v2(1, 0x11, inet() + ssl), 28 + len(ssl), 2, "PROXY", "INET", "STREAM",
   "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=1)
vend = tlv(0xEE, b"\x01\x78\x56\x34\x12") + tlv(0xE0, bytes.fromhex("0102030405060708"))
ok("v2_azure_gcp", v2(1, 0x11, inet() + vend), 28 + len(vend), 2, "PROXY", "INET", "STREAM",
   "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=2)
bad_vendor = tlv(0xEA, b"\x02xyz") + tlv(0xEE, b"\x01\x00") + tlv(0xE0, b"\x01") + \
    tlv(0x20, b"\x01\0") + tlv(5, b"u" * 129) + tlv(2, b"\xff\xfe")
ok("v2_malformed_vendor_tlvs_accepted", v2(1, 0x11, inet() + bad_vendor), 28 + len(bad_vendor),
   2, "PROXY", "INET", "STREAM", "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=6)
ok("v2_empty_tlv_values", v2(1, 0x11, inet() + tlv(4, b"") + tlv(0xF0, b"")), 34, 2, "PROXY",
   "INET", "STREAM", "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=2)
ok("v2_accepted_v2only", v2(1, 0x11, inet()), 28, 2, "PROXY", "INET", "STREAM", "192.0.2.1",
   56324, "198.51.100.7", 443, opts="v2only")
big = tlv(4, b"\0" * (4096 - 28 - 3))
ok("v2_exactly_default_max", v2(1, 0x11, inet() + big), 4096, 2, "PROXY", "INET", "STREAM",
   "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=1)
big = tlv(4, b"\0" * (65535 - 12 - 3))
ok("v2_largest_header", v2(1, 0x11, inet() + big), 16 + 65535, 2, "PROXY", "INET", "STREAM",
   "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=1, opts="max=%d" % (16 + 65535))

for i, (name, val) in enumerate([
        ("utf8_2byte", "bücher.example".encode()), ("utf8_3byte", "例え.jp".encode()),
        ("utf8_4byte", "\U0001F600.example".encode()), ("overlong", b"\xc0\xaf"),
        ("surrogate", b"\xed\xa0\x80"), ("above_10ffff", b"\xf4\x90\x80\x80"),
        ("cut_sequence", b"ab\xe2\x82"), ("bad_continuation", b"\xe2\x28\xa1"),
        ("invalid_byte", b"\xff"), ("empty", b"")]):
    body = inet() + tlv(2, val)
    ok("v2_authority_" + name, v2(1, 0x11, body), 16 + len(body), 2, "PROXY", "INET", "STREAM",
       "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=1)
for name, val in [("ssl_sub_overrun", b"\x01\0\0\0\0" + b"\x21\x00\x09ab"),
                  ("ssl_sub_cut", b"\x03\0\0\0\x01" + b"\x21\x00"),
                  ("ssl_no_subs", b"\x01\0\0\0\x01"),
                  ("ssl_client_cert", b"\x03\0\0\0\0" + tlv(0x28, b"\x30\x82") +
                   tlv(0x26, b"X25519") + tlv(0x27, b"ecdsa_secp256r1_sha256") +
                   tlv(0x24, b"SHA256") + tlv(0x25, b"RSA2048") + tlv(0x99, b"?"))]:
    body = inet() + tlv(0x20, val)
    ok("v2_" + name, v2(1, 0x11, body), 16 + len(body), 2, "PROXY", "INET", "STREAM",
       "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=1)
for name, val in [("aws_nonprintable", tlv(0xEA, b"\x01vpce\x01")),
                  ("aws_subtype_only", tlv(0xEA, b"\x01")),
                  ("aws_empty", tlv(0xEA, b"")),
                  ("azure_subtype_2", tlv(0xEE, b"\x02\x78\x56\x34\x12")),
                  ("azure_6_bytes", tlv(0xEE, b"\x01\x78\x56\x34\x12\x00")),
                  ("gcp_9_bytes", tlv(0xE0, b"\x01" * 9)),
                  ("uid_128", tlv(5, b"u" * 128)),
                  ("two_authorities", tlv(2, b"a.example") + tlv(2, b"b.example")),
                  ("noops", tlv(4, b"") + tlv(4, b"\0\0") + tlv(4, b"x")),
                  ("netns_binary", tlv(0x30, b"\x00ns")),
                  ("alpn_binary", tlv(1, b"\x00\xff"))]:
    body = inet() + val
    ok("v2_" + name, v2(1, 0x11, body), 16 + len(body), 2, "PROXY", "INET", "STREAM",
       "192.0.2.1", 56324, "198.51.100.7", 443, ntlv=count_tlvs(val))
ok("v2_unix_abstract_and_nul", v2(1, 0x31, unix(b"\0abstract", b"/a\0junk")), 232, 2, "PROXY",
   "UNIX", "STREAM", "unix:", "-", "unix:/a", "-")
ok("v2_inet6_mapped_pair", v2(1, 0x21, inet6("::ffff:1.2.3.4", 1, "::ffff:5.6.7.8", 2)), 52, 2,
   "PROXY", "INET6", "STREAM", "::ffff:1.2.3.4", 1, "::ffff:5.6.7.8", 2)
l = b"PROXY TCP6 ::ffff:1.2.3.4 ::ffff:5.6.7.8 1 2\r\n"
ok("v1_tcp6_mapped_pair", l, len(l), 1, "PROXY", "INET6", "STREAM", "::ffff:1.2.3.4", 1,
   "::ffff:5.6.7.8", 2)
h = with_crc(0x31, unix(), tlv(2, b"example.com"))
ok("v2_unix_crc", h, len(h), 2, "PROXY", "UNIX", "STREAM", "unix:/run/src.sock", "-",
   "unix:/run/dst.sock", "-", crc=1, ntlv=2)
h = with_crc(0x12, inet(), tlv(4, b"\0" * 9))
ok("v2_dgram_crc_noop", h, len(h), 2, "PROXY", "INET", "DGRAM", "192.0.2.1", 56324,
   "198.51.100.7", 443, crc=1, ntlv=2)

# ---- v2 invalid ----
err("v2_signature_bad_tail", SIG[:11] + b"X" + bytes([0x21, 0x11, 0, 12]) + inet(),
    "LB_E_PROXY_BAD_SIGNATURE")
err("v2_signature_bad_after_nul", SIG[:5] + b"Z", "LB_E_PROXY_BAD_SIGNATURE")
err("v2_crlf_crlf_not_proxy", b"\r\n\r\nhello", "LB_E_PROXY_NOT_PROXY")
err("v2_binary_junk", b"\x16\x03\x01\x02\x00", "LB_E_PROXY_NOT_PROXY")
err("v2_version_1", v2(1, 0x11, inet(), ver=1), "LB_E_PROXY_BAD_VERSION")
err("v2_version_3", v2(1, 0x11, inet(), ver=3), "LB_E_PROXY_BAD_VERSION")
err("v2_version_0", v2(1, 0x11, inet(), ver=0), "LB_E_PROXY_BAD_VERSION")
err("v2_command_2", v2(2, 0x11, inet()), "LB_E_PROXY_BAD_COMMAND")
err("v2_command_15", v2(15, 0x11, inet()), "LB_E_PROXY_BAD_COMMAND")
err("v2_family_4", v2(1, 0x41, inet()), "LB_E_PROXY_BAD_FAMILY")
err("v2_family_f", v2(1, 0xF1, inet()), "LB_E_PROXY_BAD_FAMILY")
err("v2_unspec_family_with_stream", v2(1, 0x01, inet()), "LB_E_PROXY_BAD_FAMILY")
err("v2_transport_3", v2(1, 0x13, inet()), "LB_E_PROXY_BAD_TRANSPORT")
err("v2_inet_unspec_transport", v2(1, 0x10, inet()), "LB_E_PROXY_BAD_TRANSPORT")
err("v2_unix_unspec_transport", v2(1, 0x30, unix()), "LB_E_PROXY_BAD_TRANSPORT")
err("v2_proxy_unspec_refused", v2(1, 0x00, b""), "LB_E_PROXY_UNSPEC_REFUSED")
err("v2_refused", v2(1, 0x11, inet()), "LB_E_PROXY_VERSION_REFUSED", "v1only")
err("v2_inet_len_11", v2(1, 0x11, inet()[:11]), "LB_E_PROXY_SHORT_LENGTH")
err("v2_inet_len_0", v2(1, 0x11, b""), "LB_E_PROXY_SHORT_LENGTH")
err("v2_inet6_len_12", v2(1, 0x21, inet()), "LB_E_PROXY_SHORT_LENGTH")
err("v2_unix_len_215", v2(1, 0x31, unix()[:215]), "LB_E_PROXY_SHORT_LENGTH")
err("v2_over_default_max", v2(1, 0x11, inet(), length=4096 - 15), "LB_E_PROXY_TOO_LARGE")
err("v2_over_max_option", v2(1, 0x11, inet() + tlv(4, b"\0" * 10)), "LB_E_PROXY_TOO_LARGE",
    "max=40")
err("v2_tlv_header_cut_1", v2(1, 0x11, inet() + b"\x01"), "LB_E_PROXY_TLV_TRUNCATED")
err("v2_tlv_header_cut_2", v2(1, 0x11, inet() + tlv(2, b"ab") + b"\x01\x00"),
    "LB_E_PROXY_TLV_TRUNCATED")
err("v2_tlv_value_past_end", v2(1, 0x11, inet() + b"\x02\x00\x05abcd"), "LB_E_PROXY_TLV_OVERRUN")
err("v2_tlv_value_past_end_into_app", v2(1, 0x11, inet() + b"\x02\x00\x05ab") + b"cdefgh",
    "LB_E_PROXY_TLV_OVERRUN")
err("v2_local_tlv_overrun", v2(0, 0x00, b"\x02\x00\x09ab"), "LB_E_PROXY_TLV_OVERRUN")
err("v2_crc_mismatch", with_crc(0x11, inet(), corrupt=True), "LB_E_PROXY_CRC_MISMATCH")
err("v2_crc_little_endian", with_crc(0x11, inet(), tlv(2, b"example.org"), big_endian=False),
    "LB_E_PROXY_CRC_MISMATCH")
h = bytearray(with_crc(0x11, inet(), tlv(2, b"example.org")))
h[-1] ^= 0x20
err("v2_crc_covers_tlvs", bytes(h), "LB_E_PROXY_CRC_MISMATCH")
h = bytearray(with_crc(0x11, inet()))
h[17] ^= 1
err("v2_crc_covers_address", bytes(h), "LB_E_PROXY_CRC_MISMATCH")
err("v2_crc_length_3", v2(1, 0x11, inet() + tlv(3, b"\0\0\0")), "LB_E_PROXY_BAD_CRC_TLV")
err("v2_crc_length_5", v2(1, 0x11, inet() + tlv(3, b"\0\0\0\0\0")), "LB_E_PROXY_BAD_CRC_TLV")
err("v2_two_crc_tlvs", v2(1, 0x11, inet() + tlv(3, b"\0" * 4) + tlv(3, b"\0" * 4)),
    "LB_E_PROXY_BAD_CRC_TLV")
h = with_crc(0x11, inet(), tlv(1, b"h2"))
ok("v2_crc_then_alpn", h, len(h), 2, "PROXY", "INET", "STREAM", "192.0.2.1", 56324,
   "198.51.100.7", 443, crc=1, ntlv=2)
err("v2_partial_fixed", v2(1, 0x11, inet())[:15], "LB_E_NEED_MORE")
err("v2_partial_body", v2(1, 0x11, inet())[:27], "LB_E_NEED_MORE")
err("v2_partial_sig", SIG[:7], "LB_E_NEED_MORE")
err("empty", b"", "LB_E_NEED_MORE")


def check(vectors_path, corpus_dir):
    """The committed vector file and corpus hold exactly what this script generates."""
    want = "# generated by tests/data/proxy_gen_vectors.py; do not edit\n" + "".join(
        "%s\t%s\t%s%s\n" % (n, d.hex() or "-", e, "\t" + o if o else "") for n, d, e, o in V)
    with open(vectors_path) as f:
        if f.read() != want:
            print("%s is out of date: rerun the generator" % vectors_path)
            return 1
    for name, data, _, _ in V:
        path = os.path.join(corpus_dir, name)
        if not os.path.exists(path) or open(path, "rb").read() != data:
            print("corpus file %s missing or different" % path)
            return 1
    print("%d vectors in sync" % len(V))
    return 0


def main():
    if sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    names = set()
    with open(sys.argv[1], "w") as f:
        f.write("# generated by tests/data/proxy_gen_vectors.py; do not edit\n")
        for name, data, expect, opts in V:
            assert name not in names, name
            names.add(name)
            f.write("%s\t%s\t%s%s\n" % (name, data.hex() or "-", expect, "\t" + opts if opts else ""))
    if len(sys.argv) > 2:
        for name, data, expect, opts in V:
            with open(os.path.join(sys.argv[2], name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
