package liblb

/*
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <lb.h>

// The decoded header without pointers: the cgo rules forbid Go memory that holds Go
// pointers to cross into C, and lb_proxy_header points into the (Go) input buffer. Offsets
// into that buffer replace the pointers; the TLVs are walked here, in the same call.
typedef struct {
	int rc;
	uint32_t need;
	uint8_t version, command, family, transport, crc32c_present;
	uint16_t src_port, dst_port;
	uint8_t src_addr[16], dst_addr[16];
	uint32_t src_path_off, src_path_len, dst_path_off, dst_path_len;
	uint32_t n_tlvs;
	int tlv_rc;
} lbgo_proxy_result;

typedef struct {
	uint32_t type, off, len;
} lbgo_tlv;

static void lbgo_proxy_decode(const uint8_t *buf, size_t len, uint32_t versions,
                              uint32_t allow_unspec, uint32_t max_header, lbgo_proxy_result *r,
                              lbgo_tlv *tlvs, uint32_t tlv_cap)
{
	lb_proxy_options o;
	memset(&o, 0, sizeof(o));
	o.struct_size = sizeof(o);
	o.versions = versions;
	o.allow_unspec = allow_unspec;
	o.max_header_size = max_header;
	lb_proxy_header h;
	memset(&h, 0, sizeof(h));
	h.struct_size = sizeof(h);
	size_t need = 0;
	memset(r, 0, sizeof(*r));
	r->rc = lb_proxy_decode(buf, len, &o, &h, &need);
	r->need = (uint32_t)need;
	if (r->rc < 0)
		return;
	r->version = h.version;
	r->command = h.command;
	r->family = h.family;
	r->transport = h.transport;
	r->crc32c_present = h.crc32c_present;
	r->src_port = h.src_port;
	r->dst_port = h.dst_port;
	memcpy(r->src_addr, h.src_addr, 16);
	memcpy(r->dst_addr, h.dst_addr, 16);
	if (h.src_path) {
		r->src_path_off = (uint32_t)(h.src_path - buf);
		r->src_path_len = h.src_path_len;
	}
	if (h.dst_path) {
		r->dst_path_off = (uint32_t)(h.dst_path - buf);
		r->dst_path_len = h.dst_path_len;
	}
	size_t cursor = 0;
	lb_proxy_tlv t;
	while ((r->tlv_rc = lb_proxy_tlv_next(&h, &cursor, &t)) == 1) {
		if (r->n_tlvs < tlv_cap) {
			tlvs[r->n_tlvs].type = t.type;
			tlvs[r->n_tlvs].off = (uint32_t)(t.value - buf);
			tlvs[r->n_tlvs].len = t.length;
		}
		r->n_tlvs++;
	}
}

// The encoder's pointer-holding structs live on this C stack only.
static int lbgo_proxy_encode(uint8_t *out, size_t cap, uint8_t version, uint8_t command,
                             uint8_t dgram, uint8_t crc32c, const struct sockaddr_storage *src,
                             const struct sockaddr_storage *dst, const uint8_t *tlv_types,
                             const uint32_t *tlv_lens, const uint8_t *tlv_values, size_t n_tlvs,
                             uint8_t *tlv_storage, size_t tlv_cap, size_t *need)
{
	lb_proxy_tlv_builder b;
	lb_proxy_tlvb_init(&b, sizeof(b), tlv_storage, tlv_cap);
	for (size_t i = 0, off = 0; i < n_tlvs; off += tlv_lens[i], i++) {
		int rc = lb_proxy_tlvb_add(&b, tlv_types[i], tlv_values + off, tlv_lens[i]);
		if (rc < 0)
			return rc;
	}
	lb_proxy_encode_params p;
	memset(&p, 0, sizeof(p));
	p.struct_size = sizeof(p);
	p.version = version;
	p.command = command;
	p.dgram = dgram;
	p.crc32c = crc32c;
	p.src = (const struct sockaddr *)src;
	p.dst = (const struct sockaddr *)dst;
	p.tlvs = n_tlvs ? tlv_storage : NULL;
	p.tlvs_len = b.len;
	return lb_proxy_encode(out, cap, &p, need);
}
*/
import "C"

import (
	"fmt"
	"net/netip"
	"runtime"
	"unsafe"
)

// NeedMoreError says a PROXY header is valid so far but incomplete: read at least Need more
// bytes. errors.Is(err, ErrNeedMore) holds.
type NeedMoreError struct {
	Need int
}

func (e *NeedMoreError) Error() string {
	return fmt.Sprintf("liblb: PROXY header incomplete: %d more bytes needed", e.Need)
}

// Unwrap makes errors.Is(err, ErrNeedMore) true.
func (e *NeedMoreError) Unwrap() error { return ErrNeedMore }

// ProxyOptions are the decoder's options (lb_proxy_options).
type ProxyOptions struct {
	Versions     uint32 // bit set of ProxyV1, ProxyV2; 0 accepts both
	AllowUnspec  bool   // accept a v2 PROXY header of family UNSPEC
	MaxHeaderLen uint32 // 0: liblb's default
}

// PROXY protocol versions (bits of ProxyOptions.Versions).
const (
	ProxyV1 = uint32(C.LB_PROXY_V1)
	ProxyV2 = uint32(C.LB_PROXY_V2)
)

// Address families and commands of a header (enum lb_proxy_family, lb_proxy_command).
const (
	FamilyUnspec = uint8(C.LB_PROXY_FAM_UNSPEC)
	FamilyInet   = uint8(C.LB_PROXY_FAM_INET)
	FamilyInet6  = uint8(C.LB_PROXY_FAM_INET6)
	FamilyUnix   = uint8(C.LB_PROXY_FAM_UNIX)
	CommandLocal = uint8(C.LB_PROXY_CMD_LOCAL)
	CommandProxy = uint8(C.LB_PROXY_CMD_PROXY)
)

// TLV is a v2 TLV; Value is a slice of the decoded buffer (not a copy).
type TLV struct {
	Type  uint8
	Value []byte
}

// ProxyHeader is a decoded header. Src/Dst are set for INET/INET6, SrcPath/DstPath (slices
// of the buffer) for UNIX; Len is the header's size: the payload starts at buf[Len:].
type ProxyHeader struct {
	Version, Command, Family, Transport uint8
	Src, Dst                            netip.AddrPort
	SrcPath, DstPath                    []byte
	Len                                 int
	CRC32C                              bool // a CRC32C TLV was present (and valid)
	TLVs                                []TLV
}

// DecodeProxy decodes the PROXY header at the start of buf (read in place). It returns a
// *NeedMoreError for a valid but incomplete prefix and an *Error otherwise.
func DecodeProxy(buf []byte, opts *ProxyOptions) (*ProxyHeader, error) {
	if opts == nil {
		opts = &ProxyOptions{}
	}
	var r C.lbgo_proxy_result
	tlvs := make([]C.lbgo_tlv, 16)
	unspec := C.uint32_t(0)
	if opts.AllowUnspec {
		unspec = 1
	}
	for {
		C.lbgo_proxy_decode((*C.uint8_t)(bytesPtr(buf)), C.size_t(len(buf)), C.uint32_t(opts.Versions),
			unspec, C.uint32_t(opts.MaxHeaderLen), &r, &tlvs[0], C.uint32_t(len(tlvs)))
		if int(r.n_tlvs) <= len(tlvs) {
			break
		}
		tlvs = make([]C.lbgo_tlv, r.n_tlvs)
	}
	runtime.KeepAlive(buf)
	if r.rc < 0 {
		if r.rc == C.LB_E_NEED_MORE {
			return nil, &NeedMoreError{Need: int(r.need)}
		}
		return nil, sentinel(r.rc)
	}
	if r.tlv_rc < 0 {
		return nil, sentinel(r.tlv_rc)
	}
	h := &ProxyHeader{Version: uint8(r.version), Command: uint8(r.command), Family: uint8(r.family),
		Transport: uint8(r.transport), Len: int(r.rc), CRC32C: r.crc32c_present != 0}
	src := C.GoBytes(unsafe.Pointer(&r.src_addr[0]), 16)
	dst := C.GoBytes(unsafe.Pointer(&r.dst_addr[0]), 16)
	switch h.Family {
	case FamilyInet:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4(*(*[4]byte)(src)), uint16(r.src_port))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4(*(*[4]byte)(dst)), uint16(r.dst_port))
	case FamilyInet6:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16(*(*[16]byte)(src)), uint16(r.src_port))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16(*(*[16]byte)(dst)), uint16(r.dst_port))
	case FamilyUnix:
		h.SrcPath = buf[r.src_path_off : r.src_path_off+r.src_path_len]
		h.DstPath = buf[r.dst_path_off : r.dst_path_off+r.dst_path_len]
	}
	for _, t := range tlvs[:r.n_tlvs] {
		h.TLVs = append(h.TLVs, TLV{uint8(t._type), buf[t.off : t.off+t.len : t.off+t.len]})
	}
	return h, nil
}

// ProxyEncode describes a header to encode. Src and Dst: both IP (one family), or set
// SrcPath/DstPath for UNIX; none of them gives v1 UNKNOWN / v2 UNSPEC.
type ProxyEncode struct {
	Version          uint8
	Local            bool
	Src, Dst         netip.AddrPort
	SrcPath, DstPath string
	TLVs             []TLV
	CRC32C           bool
	Dgram            bool
}

func sockaddr(ap netip.AddrPort, path string) (*C.struct_sockaddr_storage, error) {
	var text string
	switch {
	case path != "":
		text = "unix:" + path
	case ap.IsValid():
		text = ap.String()
	default:
		return nil, nil
	}
	ss := new(C.struct_sockaddr_storage)
	ct := C.CString(text)
	defer C.free(unsafe.Pointer(ct))
	if err := check(C.lb_addr_parse(ct, ss, nil)); err != nil {
		return nil, fmt.Errorf("address %q: %w", text, err)
	}
	return ss, nil
}

// EncodeProxy encodes a PROXY header.
func EncodeProxy(e *ProxyEncode) ([]byte, error) {
	src, err := sockaddr(e.Src, e.SrcPath)
	if err != nil {
		return nil, err
	}
	dst, err := sockaddr(e.Dst, e.DstPath)
	if err != nil {
		return nil, err
	}
	types := make([]uint8, len(e.TLVs)+1)
	lens := make([]uint32, len(e.TLVs)+1)
	var values []byte
	for i, t := range e.TLVs {
		types[i], lens[i] = t.Type, uint32(len(t.Value))
		values = append(values, t.Value...)
	}
	values = append(values, 0)
	storage := make([]byte, len(values)+3*len(e.TLVs))
	cmd := C.uint8_t(CommandProxy)
	if e.Local {
		cmd = C.uint8_t(CommandLocal)
	}
	b2u := func(b bool) C.uint8_t {
		if b {
			return 1
		}
		return 0
	}
	call := func(out []byte, need *C.size_t) C.int {
		return C.lbgo_proxy_encode((*C.uint8_t)(bytesPtr(out)), C.size_t(len(out)), C.uint8_t(e.Version), cmd,
			b2u(e.Dgram), b2u(e.CRC32C), src, dst, (*C.uint8_t)(&types[0]), (*C.uint32_t)(&lens[0]),
			(*C.uint8_t)(&values[0]), C.size_t(len(e.TLVs)), (*C.uint8_t)(&storage[0]),
			C.size_t(len(storage)-1), need)
	}
	var need C.size_t
	if rc := call(nil, &need); rc < 0 && sentinel(rc).Name != "ENOSPC" {
		return nil, sentinel(rc)
	}
	out := make([]byte, need)
	rc := call(out, &need)
	if err := check(rc); err != nil {
		return nil, err
	}
	return out[:rc], nil
}
