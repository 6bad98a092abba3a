// Package liblb is the Go binding of liblb, the embeddable L4 load-balancing library: flow
// hashing, Maglev tables, the balancer (targets, health, draining, lock-free picks) and the
// PROXY protocol.
//
// Every call goes to liblb's C functions through cgo (found with pkg-config). Handles have a
// Close method; a finalizer frees a handle that was never closed, as a safety net only.
// Errors are *Error values, comparable with errors.Is against the Err... sentinels (one per
// LB_E_ code) and against syscall.Errno for the errno codes liblb returns.
package liblb

/*
#cgo pkg-config: liblb
#include <stdlib.h>
#include <lb.h>

// Picks and releases n times in C (the benchmark's baseline: the same calls without cgo in
// between).
static uint32_t lbgo_pick_loop(lb_balancer *b, uint64_t n)
{
	uint32_t id = 0, acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (lb_balancer_pick(b, i * 0x9E3779B97F4A7C15ull, &id) == 0) {
			acc += id;
			lb_balancer_release(b, id, 0);
		}
	}
	return acc;
}
*/
import "C"

import (
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"syscall"
	"unsafe"
)

// Error is a failed liblb call: Code is the C return value (negative), Name liblb's stable
// name for it ("LB_E_PROXY_CRC_MISMATCH", "EINVAL", ...).
type Error struct {
	Code int
	Name string
}

func (e *Error) Error() string {
	return e.Name + ": " + C.GoString(C.lb_strerror(C.int(e.Code)))
}

// Is matches an *Error of the same code, and a syscall.Errno for errno codes.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Code == e.Code
	case syscall.Errno:
		return e.Code == -int(t)
	}
	return false
}

func sentinel(code C.int) *Error {
	return &Error{Code: int(code), Name: C.GoString(C.lb_err_name(code))}
}

// check turns a C return value into nil or an *Error.
func check(rc C.int) error {
	if rc >= 0 {
		return nil
	}
	return sentinel(rc)
}

// Version is the library's version, "major.minor.patch".
func Version() string { return C.GoString(C.lb_version_string()) }

// VersionNumber is the library's version as major*10000 + minor*100 + patch.
func VersionNumber() uint32 { return uint32(C.lb_version_number()) }

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// HashKey is liblb's 64-bit hash of a key (the same value in every language).
func HashKey(data []byte, seed uint64) uint64 {
	return uint64(C.lb_hash_key(bytesPtr(data), C.size_t(len(data)), C.uint64_t(seed)))
}

// HashFlow is the hash of a connection's 5-tuple; an IPv4 address hashes like its
// IPv4-mapped IPv6 form, so families may be mixed.
func HashFlow(src, dst netip.Addr, sport, dport uint16, proto uint8, seed uint64) uint64 {
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		return uint64(C.lb_hash_flow4((*C.uint8_t)(&s[0]), (*C.uint8_t)(&d[0]), C.uint16_t(sport),
			C.uint16_t(dport), C.uint8_t(proto), C.uint64_t(seed)))
	}
	s, d := src.As16(), dst.As16()
	return uint64(C.lb_hash_flow6((*C.uint8_t)(&s[0]), (*C.uint8_t)(&d[0]), C.uint16_t(sport),
		C.uint16_t(dport), C.uint8_t(proto), C.uint64_t(seed)))
}

// HashSrc is the hash of a source address alone (source affinity).
func HashSrc(src netip.Addr, seed uint64) uint64 {
	if src.Is4() {
		s := src.As4()
		return uint64(C.lb_hash_src4((*C.uint8_t)(&s[0]), C.uint64_t(seed)))
	}
	s := src.As16()
	return uint64(C.lb_hash_src6((*C.uint8_t)(&s[0]), C.uint64_t(seed)))
}

// Target is a Maglev input: a key and its weight (0 keeps it in the list with no slots).
type Target struct {
	Key    string
	Weight uint32
}

// Maglev is an immutable Maglev lookup table (doc/maglev.md); safe for concurrent lookups.
type Maglev struct {
	t    *C.lb_maglev
	keys []string
}

// NewMaglev builds a table of size slots (a prime) from targets.
func NewMaglev(targets []Target, size uint32) (*Maglev, error) {
	var pool *C.lb_pool
	if err := check(C.lb_pool_new(&pool)); err != nil {
		return nil, err
	}
	defer C.lb_pool_free(pool)
	m := &Maglev{}
	for i, t := range targets {
		k := []byte(t.Key)
		if err := check(C.lb_pool_add(pool, C.uint32_t(i+1), bytesPtr(k), C.size_t(len(k)),
			C.uint32_t(t.Weight), 0)); err != nil {
			return nil, fmt.Errorf("target %q: %w", t.Key, err)
		}
		m.keys = append(m.keys, t.Key)
	}
	if err := check(C.lb_maglev_build(&m.t, pool, C.uint32_t(size))); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(m, (*Maglev).Close)
	return m, nil
}

// Close frees the table (idempotent); no lookup may run at the same time.
func (m *Maglev) Close() {
	if m.t != nil {
		C.lb_maglev_free(m.t)
		m.t = nil
		runtime.SetFinalizer(m, nil)
	}
}

// Digest is the table's 64-bit digest: equal tables have equal digests in every language.
func (m *Maglev) Digest() uint64 {
	d := uint64(C.lb_maglev_digest(m.t))
	runtime.KeepAlive(m)
	return d
}

// Lookup is the key of the target owning the slot of a flow hash (ErrNoTarget when empty).
func (m *Maglev) Lookup(hash uint64) (string, error) {
	id := uint32(C.lb_maglev_lookup(m.t, C.uint64_t(hash)))
	runtime.KeepAlive(m)
	if id == uint32(C.LB_NO_TARGET) {
		return "", ErrNoTarget
	}
	return m.keys[id-1], nil
}

// Entries is each target's number of slots, by key.
func (m *Maglev) Entries() map[string]uint32 {
	out := make(map[string]uint32, len(m.keys))
	for i, k := range m.keys {
		var n C.uint32_t
		if C.lb_maglev_entries(m.t, C.uint32_t(i+1), &n) == 0 {
			out[k] = uint32(n)
		} else {
			out[k] = 0
		}
	}
	runtime.KeepAlive(m)
	return out
}

// Balancer is liblb's balancer (doc/balancer.md). Every method may be called from any
// number of goroutines at once (picks and releases are lock-free; changes are serialised
// inside liblb), except Close, which must come after every other call has returned.
type Balancer struct {
	b *C.lb_balancer
}

// Config sets fields of lb_balancer_config by their C names ("table_size",
// "deregistration_delay_ms", ...); unset fields keep liblb's defaults.
type Config map[string]uint64

// NewBalancer creates a balancer using algorithm ("maglev", "ring", "ring-bounded", "wrr",
// "leastconn", "p2c": the names lb_balancer_algorithm_name gives).
func NewBalancer(algorithm string, cfg Config) (*Balancer, error) {
	var c C.lb_balancer_config
	c.struct_size = C.uint32_t(unsafe.Sizeof(c))
	alg := -1
	for i := 0; i < 64; i++ {
		if p := C.lb_balancer_algorithm_name(C.uint32_t(i)); p != nil && C.GoString(p) == algorithm {
			alg = i
			break
		}
	}
	if alg < 0 {
		return nil, fmt.Errorf("liblb: unknown algorithm %q", algorithm)
	}
	c.algorithm = C.uint32_t(alg)
	v := reflect.ValueOf(&c).Elem()
	for name, val := range cfg {
		f, ok := v.Type().FieldByName(name)
		if !ok || name == "struct_size" {
			return nil, fmt.Errorf("liblb: no balancer option %q", name)
		}
		// cgo's fields are unexported: set them through their address.
		reflect.NewAt(f.Type, unsafe.Add(unsafe.Pointer(&c), f.Offset)).Elem().SetUint(val)
	}
	b := &Balancer{}
	if err := check(C.lb_balancer_new(&b.b, &c)); err != nil {
		return nil, err
	}
	runtime.SetFinalizer(b, (*Balancer).Close)
	return b, nil
}

// Close frees the balancer (idempotent).
func (b *Balancer) Close() {
	if b.b != nil {
		C.lb_balancer_free(b.b)
		b.b = nil
		runtime.SetFinalizer(b, nil)
	}
}

func (b *Balancer) done(rc C.int) error {
	runtime.KeepAlive(b)
	return check(rc)
}

// Add registers a target: id, key (what hash tables place), weight, zone, connection limit
// (0: none).
func (b *Balancer) Add(id uint32, key []byte, weight, zone, maxConns uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_add(b.b, C.uint32_t(id), bytesPtr(key), C.size_t(len(key)),
		C.uint32_t(weight), C.uint32_t(zone), C.uint32_t(maxConns), C.uint64_t(nowMs)))
}

// Remove removes a target (its connections drain first, as configured).
func (b *Balancer) Remove(id uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_remove(b.b, C.uint32_t(id), C.uint64_t(nowMs)))
}

// SetWeight changes a target's weight.
func (b *Balancer) SetWeight(id, weight uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_set_weight(b.b, C.uint32_t(id), C.uint32_t(weight), C.uint64_t(nowMs)))
}

// Drain stops new connections to a target; existing ones end by Release or the deadline.
func (b *Balancer) Drain(id uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_drain(b.b, C.uint32_t(id), C.uint64_t(nowMs)))
}

// Undrain takes a draining target back into service.
func (b *Balancer) Undrain(id uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_undrain(b.b, C.uint32_t(id), C.uint64_t(nowMs)))
}

// Pick is the target for a new connection (it counts one active connection: Release it).
func (b *Balancer) Pick(flowHash uint64) (uint32, error) {
	var id C.uint32_t
	err := b.done(C.lb_balancer_pick(b.b, C.uint64_t(flowHash), &id))
	return uint32(id), err
}

// Release reports the end of a connection picked for id.
func (b *Balancer) Release(id uint32, nowMs uint64) error {
	return b.done(C.lb_balancer_release(b.b, C.uint32_t(id), C.uint64_t(nowMs)))
}

// Targets lists the registered target ids.
func (b *Balancer) Targets() []uint32 {
	ids := make([]uint32, 16)
	for {
		n := int(C.lb_balancer_targets(b.b, (*C.uint32_t)(&ids[0]), C.size_t(len(ids))))
		runtime.KeepAlive(b)
		if n <= len(ids) {
			return ids[:n]
		}
		ids = make([]uint32, n)
	}
}

// Event is a balancer event; States and Reason are liblb's names ("draining", ...).
type Event struct {
	Type        uint32
	TargetID    uint32
	OldState    string
	NewState    string
	Reason      string
	Connections uint32
	AtMs        uint64
}

// Event types (enum lb_event_type).
const (
	EventState   = uint32(C.LB_EVENT_STATE)
	EventClose   = uint32(C.LB_EVENT_CLOSE)
	EventRemoved = uint32(C.LB_EVENT_REMOVED)
)

// Tick advances time and returns the events since the last tick, oldest first.
func (b *Balancer) Tick(nowMs uint64) []Event {
	var out []Event
	var ev [64]C.lb_event
	for {
		for i := range ev {
			ev[i].struct_size = C.uint32_t(unsafe.Sizeof(ev[i]))
		}
		n := int(C.lb_balancer_tick(b.b, C.uint64_t(nowMs), &ev[0], C.size_t(unsafe.Sizeof(ev[0])),
			C.size_t(len(ev))))
		runtime.KeepAlive(b)
		for i := 0; i < n && i < len(ev); i++ {
			e := ev[i]
			out = append(out, Event{uint32(e._type), uint32(e.target_id),
				C.GoString(C.lb_balancer_state_name(e.old_state)),
				C.GoString(C.lb_balancer_state_name(e.new_state)),
				C.GoString(C.lb_balancer_reason_name(e.reason)), uint32(e.connections),
				uint64(e.at_ms)})
		}
		if n < len(ev) {
			return out
		}
	}
}

// NextDeadline is when Tick next has work to do.
func (b *Balancer) NextDeadline() uint64 {
	d := uint64(C.lb_balancer_next_deadline(b.b))
	runtime.KeepAlive(b)
	return d
}

func fields(v reflect.Value) map[string]uint64 {
	out := map[string]uint64{}
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Name
		if name != "struct_size" && v.Field(i).CanUint() {
			out[name] = v.Field(i).Uint()
		}
	}
	return out
}

// Stats returns the balancer's counters, by the field names of lb_balancer_stats.
func (b *Balancer) Stats() (map[string]uint64, error) {
	var s C.lb_balancer_stats
	s.struct_size = C.uint32_t(unsafe.Sizeof(s))
	if err := b.done(C.lb_balancer_get_stats(b.b, &s)); err != nil {
		return nil, err
	}
	return fields(reflect.ValueOf(s)), nil
}

// TargetStats returns one target's counters, by the field names of lb_target_stats.
func (b *Balancer) TargetStats(id uint32) (map[string]uint64, error) {
	var s C.lb_target_stats
	s.struct_size = C.uint32_t(unsafe.Sizeof(s))
	if err := b.done(C.lb_balancer_get_target_stats(b.b, C.uint32_t(id), &s)); err != nil {
		return nil, err
	}
	return fields(reflect.ValueOf(s)), nil
}

// pickLoopC picks and releases n times inside C (the benchmark's baseline); a checksum.
func (b *Balancer) pickLoopC(n int) uint32 {
	r := uint32(C.lbgo_pick_loop(b.b, C.uint64_t(n)))
	runtime.KeepAlive(b)
	return r
}
