package liblb

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"testing"
)

func newBalancer(t testing.TB, alg string) *Balancer {
	b, err := NewBalancer(alg, Config{"table_size": 1009, "deregistration_delay_ms": 1000})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestErrors(t *testing.T) {
	if ErrNeedMore.Name != "LB_E_NEED_MORE" {
		t.Fatal(ErrNeedMore.Name)
	}
	_, err := NewMaglev([]Target{{"a", 1}}, 1000)
	if !errors.Is(err, ErrMaglevNotPrime) || errors.Is(err, ErrNoTarget) {
		t.Fatalf("%v", err)
	}
	b := newBalancer(t, "maglev")
	defer b.Close()
	if _, err := b.Pick(1); !errors.Is(err, ErrNoTarget) {
		t.Fatalf("pick on empty: %v", err)
	}
	if err := b.Add(1, []byte("a"), 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	err = b.Add(1, []byte("b"), 1, 0, 0, 0)
	if !errors.Is(err, syscall.EEXIST) || err.(*Error).Name != "EEXIST" {
		t.Fatalf("duplicate id: %v", err)
	}
	if _, err := NewBalancer("maglev", Config{"no_such": 1}); err == nil {
		t.Fatal("unknown option accepted")
	}
	if _, err := NewBalancer("nope", nil); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
}

func TestMaglevLookup(t *testing.T) {
	m, err := NewMaglev([]Target{{"10.0.0.1:80", 1}, {"10.0.0.2:80", 3}, {"off", 0}}, 101)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	e := m.Entries()
	if e["off"] != 0 || e["10.0.0.1:80"]+e["10.0.0.2:80"] != 101 || e["10.0.0.2:80"] <= e["10.0.0.1:80"] {
		t.Fatal(e)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		k, err := m.Lookup(HashKey([]byte(fmt.Sprintf("client-%d", i)), 0))
		if err != nil {
			t.Fatal(err)
		}
		seen[k] = true
	}
	if len(seen) != 2 || seen["off"] {
		t.Fatal(seen)
	}
}

func TestBalancerDrainEvents(t *testing.T) {
	b := newBalancer(t, "maglev")
	defer b.Close()
	for i := uint32(1); i <= 3; i++ {
		if err := b.Add(i, []byte(fmt.Sprintf("10.0.0.%d:80", i)), 1, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(b.Targets()) != 3 {
		t.Fatal(b.Targets())
	}
	first := make([]uint32, 300)
	for k := range first {
		first[k], _ = b.Pick(HashKey([]byte(fmt.Sprint("c", k)), 0))
	}
	b.Tick(0)
	victim := first[7]
	if err := b.Drain(victim, 10); err != nil {
		t.Fatal(err)
	}
	for k := range first {
		if id, _ := b.Pick(HashKey([]byte(fmt.Sprint("c", k)), 0)); id == victim {
			t.Fatal("picked a draining target")
		}
	}
	ev := b.Tick(10)
	if len(ev) == 0 || ev[0].Type != EventState || ev[0].NewState != "draining" || ev[0].Reason != "deregistered" {
		t.Fatalf("%+v", ev)
	}
	held := uint64(0)
	for _, id := range first {
		if id == victim {
			held++
		}
	}
	ts, _ := b.TargetStats(victim)
	if ts["active"] != held {
		t.Fatalf("active %d, held %d", ts["active"], held)
	}
	for i := uint64(0); i < held; i++ {
		if err := b.Release(victim, 20); err != nil {
			t.Fatal(err)
		}
	}
	// a release without a pick left, and one for an unknown id: errors, counted
	if err := b.Release(victim, 20); !errors.Is(err, syscall.ERANGE) {
		t.Fatalf("second release: %v", err)
	}
	if err := b.Release(99, 20); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("unknown release: %v", err)
	}
	ts, _ = b.TargetStats(victim)
	st, _ := b.Stats()
	if ts["active"] != 0 || st["picks"] != 600 || st["targets"] != 3 ||
		st["bad_releases"] != 2 || st["events_dropped"] != 0 {
		t.Fatal(ts, st)
	}
	if b.Undrain(victim, 30) != nil || b.SetWeight(1, 5, 30) != nil || b.Remove(2, 40) != nil {
		t.Fatal("undrain/set_weight/remove")
	}
}

func TestPickFromGoroutines(t *testing.T) {
	b := newBalancer(t, "p2c")
	defer b.Close()
	for i := uint32(1); i <= 8; i++ {
		if err := b.Add(i, []byte(fmt.Sprint("t", i)), 1, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k := 0; k < 5000; k++ {
				id, err := b.Pick(uint64(g*100000+k) * 0x9E3779B97F4A7C15)
				if err != nil {
					t.Error(err)
					return
				}
				if err := b.Release(id, 0); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	st, _ := b.Stats()
	if st["picks"] != 20000 {
		t.Fatal(st)
	}
}

func TestProxyRoundTrip(t *testing.T) {
	raw, err := EncodeProxy(&ProxyEncode{Version: 2, Src: netip.MustParseAddrPort("[2001:db8::1]:1234"),
		Dst: netip.MustParseAddrPort("[2001:db8::2]:443"), TLVs: []TLV{{0x05, []byte("id-1")}}, CRC32C: true})
	if err != nil {
		t.Fatal(err)
	}
	framed := append(append([]byte{}, raw...), "payload"...)
	h, err := DecodeProxy(framed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(framed[h.Len:]) != "payload" || !h.CRC32C || h.Src.String() != "[2001:db8::1]:1234" {
		t.Fatalf("%+v", h)
	}
	found := false
	for _, tlv := range h.TLVs {
		if tlv.Type == 0x05 && string(tlv.Value) == "id-1" {
			// a slice of framed, not a copy
			found = &tlv.Value[0] == &framed[bytes.Index(framed, []byte("id-1"))]
		}
	}
	if !found {
		t.Fatal(h.TLVs)
	}
	for k := 0; k < len(raw); k++ {
		_, err := DecodeProxy(raw[:k], nil)
		var nm *NeedMoreError
		if !errors.As(err, &nm) || !errors.Is(err, ErrNeedMore) || nm.Need < 1 || k+nm.Need > len(raw) {
			t.Fatalf("prefix %d: %v", k, err)
		}
	}
	bad := append([]byte{}, raw...)
	bad[len(bad)-1] ^= 0xff
	if _, err := DecodeProxy(bad, nil); err == nil || errors.Is(err, ErrNeedMore) {
		t.Fatalf("corrupt header: %v", err)
	}
	u, err := EncodeProxy(&ProxyEncode{Version: 2, SrcPath: "/run/a.sock", DstPath: "/run/b.sock"})
	if err != nil {
		t.Fatal(err)
	}
	h, err = DecodeProxy(u, nil)
	if err != nil || h.Family != FamilyUnix || string(h.SrcPath) != "/run/a.sock" {
		t.Fatalf("%+v %v", h, err)
	}
	_, err = EncodeProxy(&ProxyEncode{Version: 1, Src: netip.MustParseAddrPort("10.0.0.1:1"),
		Dst: netip.MustParseAddrPort("[::1]:2")})
	if !errors.Is(err, ErrProxyFamilyMismatch) {
		t.Fatal(err)
	}
}

func benchBalancer(b *testing.B) *Balancer {
	bal, err := NewBalancer("maglev", nil) // liblb's defaults, as bench/bench_balancer.c
	if err != nil {
		b.Fatal(err)
	}
	for i := uint32(1); i <= 100; i++ {
		if err := bal.Add(i, []byte(fmt.Sprintf("10.0.%d.%d:80", i/256, i%256)), 1, 0, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	return bal
}

// BenchmarkPick: Pick + Release through cgo per iteration (Maglev, 100 targets), as
// bench/bench_balancer's balancer_maglev_n100_t1 does in C.
func BenchmarkPick(b *testing.B) {
	bal := benchBalancer(b)
	defer bal.Close()
	b.ResetTimer()
	var acc uint32
	for i := 0; i < b.N; i++ {
		id, err := bal.Pick(uint64(i) * 0x9E3779B97F4A7C15)
		if err == nil {
			acc += id
			_ = bal.Release(id, 0)
		}
	}
	_ = acc
}

// BenchmarkPickC: the baseline, the same calls in a C loop (one cgo call for all of them).
func BenchmarkPickC(b *testing.B) {
	bal := benchBalancer(b)
	defer bal.Close()
	b.ResetTimer()
	bal.pickLoopC(b.N)
}
