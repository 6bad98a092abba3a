package liblb

// The same answers as the C library: every PROXY, Maglev and hash vector of tests/data (the
// files the C unit tests read).

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func vectorLines(t *testing.T, name string) []string {
	dir := os.Getenv("LB_TEST_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "tests", "data")
	}
	raw, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func hex64(t *testing.T, s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t *testing.T, s string) []byte {
	if s == "-" {
		return []byte{}
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func atoi(t *testing.T, s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestHashVectors(t *testing.T) {
	n := 0
	for _, l := range vectorLines(t, "hash_vectors.txt") {
		f := strings.Fields(l)
		seed, want := hex64(t, f[len(f)-2]), hex64(t, f[len(f)-1])
		var got uint64
		switch f[0] {
		case "flow4", "flow6":
			got = HashFlow(netip.MustParseAddr(f[2]), netip.MustParseAddr(f[3]), uint16(atoi(t, f[4])),
				uint16(atoi(t, f[5])), uint8(atoi(t, f[1])), seed)
		case "src4", "src6":
			got = HashSrc(netip.MustParseAddr(f[1]), seed)
		default:
			got = HashKey(unhex(t, f[1]), seed)
		}
		if got != want {
			t.Errorf("%s: got %#x", l, got)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("only %d hash vectors", n)
	}
}

func splitmix64(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

// generated makes the targets of a "generated" line as tests/data/gen_maglev_vectors.py does.
func generated(t *testing.T, n int, spec string) []Target {
	out := make([]Target, n)
	var seed, wmax uint64
	if strings.HasPrefix(spec, "random:") {
		p := strings.Split(spec, ":")
		seed, wmax = uint64(atoi(t, p[1])), uint64(atoi(t, p[2]))
	}
	for i := range out {
		out[i].Key = fmt.Sprintf("backend-%d", i)
		switch {
		case spec == "equal":
			out[i].Weight = 1
		case spec == "skew" && i == 0:
			out[i].Weight = 65535
		case spec == "skew":
			out[i].Weight = 1
		default:
			out[i].Weight = uint32(splitmix64(&seed)%wmax + 1)
		}
	}
	return out
}

func TestMaglevVectors(t *testing.T) {
	n := 0
	for _, l := range vectorLines(t, "maglev_vectors.txt") {
		f := strings.Fields(l)
		size := uint32(atoi(t, f[1]))
		var targets []Target
		var want uint64
		if f[0] == "explicit" {
			want = hex64(t, f[2])
			if f[3] != "-" {
				for _, kv := range strings.Split(f[3], ",") {
					i := strings.LastIndex(kv, "=")
					targets = append(targets, Target{kv[:i], uint32(atoi(t, kv[i+1:]))})
				}
			}
		} else {
			targets, want = generated(t, atoi(t, f[2]), f[3]), hex64(t, f[4])
		}
		m, err := NewMaglev(targets, size)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if m.Digest() != want {
			t.Errorf("%s: digest %#x", l, m.Digest())
		}
		m.Close()
		n++
	}
	if n < 15 {
		t.Fatalf("only %d maglev vectors", n)
	}
}

// describe writes a header as the vector file's OK column does (tests/unit/test_proxy.c).
func describe(h *ProxyHeader) string {
	side := func(ap netip.AddrPort, path []byte) (string, string) {
		switch h.Family {
		case FamilyInet, FamilyInet6:
			return ap.Addr().String(), strconv.Itoa(int(ap.Port()))
		case FamilyUnix:
			return "unix:" + string(path), "-"
		}
		return "-", "-"
	}
	s, sp := side(h.Src, h.SrcPath)
	d, dp := side(h.Dst, h.DstPath)
	cmd := map[uint8]string{CommandLocal: "LOCAL", CommandProxy: "PROXY"}[h.Command]
	fam := map[uint8]string{FamilyUnspec: "UNSPEC", FamilyInet: "INET", FamilyInet6: "INET6", FamilyUnix: "UNIX"}[h.Family]
	tr := []string{"UNSPEC", "STREAM", "DGRAM"}[h.Transport]
	crc := 0
	if h.CRC32C {
		crc = 1
	}
	return fmt.Sprintf("OK %d %d %s %s %s %s %s %s %s %d %d", h.Len, h.Version, cmd, fam, tr, s, sp, d, dp, crc, len(h.TLVs))
}

func TestProxyVectors(t *testing.T) {
	n, needMore := 0, 0
	for _, l := range vectorLines(t, "proxy_vectors.txt") {
		f := strings.Split(l, "\t")
		buf := unhex(t, f[1])
		o := &ProxyOptions{}
		opt := ""
		if len(f) > 3 {
			opt = f[3]
		}
		if strings.Contains(opt, "v1only") {
			o.Versions = ProxyV1
		}
		if strings.Contains(opt, "v2only") {
			o.Versions = ProxyV2
		}
		o.AllowUnspec = strings.Contains(opt, "unspec")
		if i := strings.Index(opt, "max="); i >= 0 {
			o.MaxHeaderLen = uint32(atoi(t, strings.Fields(opt[i+4:])[0]))
		}
		h, err := DecodeProxy(buf, o)
		var got string
		var nm *NeedMoreError
		var le *Error
		switch {
		case err == nil:
			got = describe(h)
		case errors.As(err, &nm):
			if nm.Need < 1 || !errors.Is(err, ErrNeedMore) {
				t.Errorf("%s: need %d", f[0], nm.Need)
			}
			needMore++
			// the name liblb gives the code, as the C test prints it
			got = "ERR " + ErrNeedMore.Name
		case errors.As(err, &le):
			got = "ERR " + le.Name
		default:
			t.Fatalf("%s: %v", f[0], err)
		}
		if got != f[2] {
			t.Errorf("%s: got %q want %q", f[0], got, f[2])
		}
		n++
	}
	if n < 150 || needMore == 0 {
		t.Fatalf("%d vectors, %d need-more", n, needMore)
	}
}
