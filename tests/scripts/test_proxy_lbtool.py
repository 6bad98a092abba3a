#!/usr/bin/env python3
"""lbtool proxy decode/encode: JSON fields, exit codes, options, and encode -> decode round trips
(every vector of tests/data/proxy_vectors.txt is decoded through lbtool too)."""
import os
import sys

from lbtool_common import check, error_name, finish, run, run_json, usage_error

DATA = os.environ.get("LB_TEST_DATA", "tests/data")


def proxy(args, stdin=b""):
    """lbtool proxy ARGS: bytes in and out."""
    return run("proxy", *args, stdin=stdin, binary=True)


def decode(args, stdin=b""):
    return run_json("proxy", "decode", *args, stdin=stdin, binary=True)


def encode(args):
    rc, out, err = proxy(["encode"] + args)
    check(rc == 0, "encode %s: rc %d %s" % (args, rc, err))
    return out


# --help, usage errors
rc, out, _ = proxy(["--help"])
check(rc == 0 and b"lbtool proxy decode" in out, "--help")
rc, out, _ = proxy(["decode", "--help"])
check(rc == 0 and out, "decode --help")
check(usage_error("proxy", "decode", "--bogus"), "usage error exits 2 on stderr")
rc, _, _ = proxy(["frobnicate"])
check(rc == 2, "unknown subcommand")
rc, _, _ = proxy(["decode", "--hex", "zz"])
check(rc == 2, "bad hex is a usage error")
rc, _, _ = proxy(["encode", "--src", "1.2.3.4:1", "--dst", "1.2.3.4:2"])
check(rc == 2, "encode without --version")
rc, _, _ = proxy(["encode", "--version", "2"])
check(rc == 2, "encode PROXY without addresses")
rc, _, _ = proxy(["encode", "--version", "3", "--local"])
check(rc == 2, "encode --version 3")

# v1 from stdin, application bytes after it
rc, j, _ = decode([], b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET / HTTP/1.1\r\n")
check(rc == 0, "v1 stdin rc")
check(j == {"version": 1, "command": "PROXY", "family": "INET", "transport": "STREAM",
            "src_addr": "192.0.2.1", "dst_addr": "198.51.100.7", "src_port": 56324,
            "dst_port": 443, "header_length": 45, "crc32c": "absent", "tlvs": []}, "v1 json %s" % j)
rc, j, _ = decode(["--hex", b"PROXY TCP6 2001:db8::1 ::1 1 2\r\n".hex()])
check(rc == 0 and j["family"] == "INET6" and j["src_addr"] == "2001:db8::1" and
      j["dst_addr"] == "::1", "v1 tcp6")
rc, j, _ = decode([], b"PROXY UNKNOWN\r\n")
check(rc == 0 and j["command"] == "LOCAL" and j["family"] == "UNSPEC" and
      j["transport"] == "UNSPEC" and j["src_addr"] is None and j["src_port"] is None and
      j["dst_port"] is None, "v1 unknown %s" % j)

# errors: an error object on stdout, exit 1
for data, name in [(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "LB_E_NEED_MORE"),
                   (b"GET / HTTP/1.1\r\n", "LB_E_PROXY_NOT_PROXY"),
                   (b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", "LB_E_PROXY_BAD_ADDRESS"),
                   (b"", "LB_E_NEED_MORE")]:
    rc, j, _ = decode([], data)
    check(rc == 1 and j["error"] == name and j["message"], "error %s: %s" % (name, j))

# options
v1 = b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"
rc, j, _ = decode(["--v2-only"], v1)
check(rc == 1 and j["error"] == "LB_E_PROXY_VERSION_REFUSED", "--v2-only")
rc, j, _ = decode(["--v1-only"], v1)
check(rc == 0, "--v1-only")
rc, _, _ = decode(["--v1-only", "--v2-only"], v1)
check(rc == 2, "--v1-only with --v2-only is a usage error")
rc, _, _ = decode(["--v2-only", "--v1-only"], v1)
check(rc == 2, "--v2-only with --v1-only is a usage error")
rc, j, _ = decode(["--max-size", "20"], v1)
check(rc == 1 and j["error"] == "LB_E_PROXY_TOO_LARGE", "--max-size")
rc, _, _ = decode(["--max-size", "3"], v1)
check(rc == 2, "--max-size too small is a usage error")
unspec = "0d0a0d0a000d0a515549540a21000000"
rc, j, _ = decode(["--hex", unspec])
check(rc == 1 and j["error"] == "LB_E_PROXY_UNSPEC_REFUSED", "unspec refused")
rc, j, _ = decode(["--hex", unspec, "--allow-unspec"])
check(rc == 0 and j["command"] == "PROXY" and j["family"] == "UNSPEC" and j["src_addr"] is None,
      "--allow-unspec")

# encode -> decode with every TLV option, in the order given, CRC32C first
out = encode(["--version", "2", "--src", "[2001:db8::5]:1234", "--dst", "[2001:db8::6]:443",
              "--unique-id", "00ff", "--authority", "example.com", "--alpn", "h2", "--tlv",
              "0xEA=01767063652d31", "--tlv", "238=0178563412", "--tlv", "0xe0=0102030405060708",
              "--tlv", "0xF0=", "--crc32c", "--noop-align", "32", "--hex"])
check(out.endswith(b"\n") and out.strip() == out.strip().lower(), "hex output")
rc, j, _ = decode(["--hex", out.strip().decode()])
check(rc == 0, "decode encoded")
check(j["family"] == "INET6" and j["src_port"] == 1234 and j["dst_port"] == 443 and
      j["crc32c"] == "valid" and j["header_length"] % 32 == 0, "v2 fields %s" % j)
names = [t["name"] for t in j["tlvs"]]
check(names == ["CRC32C", "UNIQUE_ID", "AUTHORITY", "ALPN", "AWS", "AZURE", "GCP", "UNKNOWN",
                "NOOP"], "tlv order %s" % names)
byname = {t["name"]: t for t in j["tlvs"]}
check(byname["UNIQUE_ID"]["value"] == "00ff", "unique id hex")
check(byname["AUTHORITY"]["value"] == "example.com", "authority text")
check(byname["ALPN"]["value"] == "h2", "alpn text")
check(byname["AWS"]["value"] == {"vpce_id": "vpce-1"}, "aws %s" % byname["AWS"])
check(byname["AZURE"]["value"] == {"linkid": 0x12345678}, "azure")
check(byname["GCP"]["value"] == {"psc_connection_id": "72623859790382856"}, "gcp")
check(byname["UNKNOWN"]["type"] == 0xF0 and byname["UNKNOWN"]["length"] == 0, "custom")
check(all(set(t) >= {"type", "name", "length"} for t in j["tlvs"]), "tlv keys")

# raw output, v1, LOCAL, unix, mapped addresses
check(encode(["--version", "1", "--src", "1.2.3.4:5", "--dst", "6.7.8.9:10"]) ==
      b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n", "v1 raw")
check(encode(["--version", "1", "--local"]) == b"PROXY UNKNOWN\r\n", "v1 local")
check(encode(["--version", "1", "--src", "[::ffff:1.2.3.4]:5", "--dst", "6.7.8.9:10"]) ==
      b"PROXY TCP4 1.2.3.4 6.7.8.9 5 10\r\n", "mapped is TCP4")
raw = encode(["--version", "2", "--local"])
check(raw == bytes.fromhex("0d0a0d0a000d0a515549540a20000000"), "v2 local")
raw = encode(["--version", "2", "--src", "unix:/run/a.sock", "--dst", "unix:/run/b.sock"])
rc, j, _ = decode([], raw)
check(rc == 0 and j["family"] == "UNIX" and j["src_addr"] == "/run/a.sock" and
      j["dst_addr"] == "/run/b.sock" and j["src_port"] is None, "unix %s" % j)

# malformed vendor TLVs: the header is accepted, the TLV carries an error
raw = encode(["--version", "2", "--src", "1.2.3.4:5", "--dst", "6.7.8.9:10", "--tlv", "0xEE=01",
              "--tlv", "0xEA=02ab", "--tlv", "0xE0=00"])
rc, j, _ = decode([], raw)
check(rc == 0 and all(t.get("error") == "LB_E_PROXY_TLV_MALFORMED" and "value" not in t
                      for t in j["tlvs"]), "malformed vendor %s" % j)

# encode failures
for args, name, what in (
        (["--version", "1", "--src", "1.2.3.4:5", "--dst", "6.7.8.9:10", "--crc32c"],
         "LB_E_PROXY_V1_UNSUPPORTED", "v1 crc"),
        (["--version", "2", "--src", "1.2.3.4:5", "--dst", "[::1]:10"],
         "LB_E_PROXY_FAMILY_MISMATCH", "mismatch"),
        (["--version", "2", "--local", "--tlv", "3=00000000"], "LB_E_PROXY_BAD_CRC_TLV",
         "manual crc tlv"),
        (["--version", "2", "--local", "--unique-id", "00" * 129], "LB_E_PROXY_TLV_MALFORMED",
         "unique id > 128")):
    check(error_name("proxy", "encode", *args) == name, what)

# every vector through lbtool: same verdict as the vector file
with open(os.path.join(DATA, "proxy_vectors.txt")) as f:
    for line in f:
        if line.startswith("#"):
            continue
        parts = line.rstrip("\n").split("\t")
        name, hexdata, expect = parts[0], parts[1], parts[2]
        opts = parts[3] if len(parts) > 3 else ""
        data = b"" if hexdata == "-" else bytes.fromhex(hexdata)
        args = []
        if "v1only" in opts:
            args.append("--v1-only")
        if "v2only" in opts:
            args.append("--v2-only")
        if "unspec" in opts:
            args.append("--allow-unspec")
        if "max=" in opts:
            args += ["--max-size", opts.split("max=")[1]]
        rc, j, _ = decode(args, data)
        if expect.startswith("ERR"):
            check(rc == 1 and j["error"] == expect.split()[1], "vector %s: %s" % (name, j))
        else:
            f_ = expect.split()
            check(rc == 0 and j["header_length"] == int(f_[1]) and j["version"] == int(f_[2])
                  and j["command"] == f_[3] and j["family"] == f_[4] and
                  j["transport"] == f_[5] and len(j["tlvs"]) == int(f_[11]) and
                  j["crc32c"] == ("valid" if f_[10] == "1" else "absent"),
                  "vector %s: %s" % (name, j))

sys.exit(finish())
