/** @file
 * @brief A fixed-capacity flow table: 5-tuple -> (target id, caller data), with idle expiry
 *        and eviction of the least recently used flow when full (doc/flowtab.md).
 *
 * UDP has no connection, so a balancer remembers flows: the connection-tracking table of
 * Maglev (NSDI 2016, section 3.3) and Katran, which keeps a flow on its target while the
 * target set changes. Keys are the IPv4 and IPv6 5-tuple encodings of doc/hashing.md, built
 * once per packet with lb_flowtab_key4(), lb_flowtab_key6() or lb_flowtab_key_sockaddr(),
 * which also compute the key's hash (equal to lb_hash_flow4() / lb_hash_flow6() with the
 * same seed, so the same value picks the target on a miss: `lb_maglev_lookup(m, key.hash)`).
 *
 * Layout: buckets of 8 slots; a flow lives in one of two buckets chosen by its hash and is
 * found by 16-bit tags in the bucket's 64-byte header (one cache line), then one 64-byte entry.
 * Every call is O(1) except lb_flowtab_remove_target() (O(capacity)); lb_flowtab_expire()
 * does at most the work it is given. Memory is lb_flowtab_memory(): #LB_FLOWTAB_ENTRY_BYTES
 * (72) per slot plus a fixed header, all allocated by lb_flowtab_new(); nothing is allocated
 * afterwards.
 *
 * Time is an argument (`now_ms`, any monotonic millisecond clock; the table never reads a
 * clock and treats a time earlier than one it has seen as that time). A flow is idle-expired
 * when `now_ms - last_use >= idle_timeout_ms`: lookups never return it, and it leaves the
 * table when it is looked up, when an insert or a target removal writes its bucket, when
 * lb_flowtab_expire() passes it, or when a new flow needs its slot. When both buckets of a
 * new flow are full (and the table nearly so), the least recently used of their 16 flows is
 * evicted, or with #LB_FLOWTAB_EVICT_NEW_FIRST the least recently used of those not seen
 * again since their insert (doc/flowtab.md measures both against exact LRU and CLOCK).
 *
 * Thread classes: `exclusive` for every call on a table except the `reader`s
 * lb_flowtab_get_stats(), lb_flowtab_capacity(), lb_flowtab_buckets() and
 * lb_flowtab_memory(); `pure` for the rest. No call blocks.
 *
 * Every flow that leaves the table is reported exactly once, with its reason, to the
 * configuration's #lb_flowtab_end_fn (called synchronously from the call that removes it;
 * it must not call into the same table).
 *
 * Threading: a table belongs to one thread; the `reader` calls may come from another thread
 * (a metrics exporter) while the owner works. To scale, give each worker its own table: with one `SO_REUSEPORT` UDP
 * socket per worker the kernel keeps a 5-tuple on one socket, hence on one worker and one
 * table; a packet-level embedder does the same with its NIC's RSS queues, or with
 * lb_flowtab_shard().
 */
#ifndef LB_FLOWTAB_H
#define LB_FLOWTAB_H

#include "lb/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sockaddr;

/** Bytes of memory per slot: a 64-byte entry and 8 bytes of its bucket's header. */
#define LB_FLOWTAB_ENTRY_BYTES 72u

/** Slots per bucket; the capacity is rounded up to a multiple of it. */
#define LB_FLOWTAB_BUCKET_SLOTS 8u

/** The largest capacity accepted (2^28 slots, 18 GiB). */
#define LB_FLOWTAB_CAPACITY_MAX 268435456u

/** The largest idle timeout accepted, in ms (2^31 - 1, about 24.8 days). */
#define LB_FLOWTAB_IDLE_MAX 2147483647u

/** The default idle timeout, in ms (30 s, lbfwd's `udp_idle_timeout`). */
#define LB_FLOWTAB_IDLE_DEFAULT 30000u

/** The longest key encoding (an IPv6 5-tuple, doc/hashing.md). */
#define LB_FLOWTAB_KEY_MAX 48u

/**
 * A flow key: a 5-tuple's encoding (doc/hashing.md) and its hash. Build it with
 * lb_flowtab_key4(), lb_flowtab_key6() or lb_flowtab_key_sockaddr(); the bytes of @c enc past
 * @c len are zero. Frozen: this layout (64 bytes) never changes, so it has no `struct_size`.
 */
typedef struct lb_flowtab_key {
    /** XXH3-64 of `enc[0 .. len)` with the seed the key was built with. */
    uint64_t hash;
    /** 16 (IPv4 5-tuple) or 48 (IPv6 5-tuple). */
    uint32_t len;
    /** Zero (the builders write 0; the table does not read it). */
    uint32_t reserved;
    /** The encoding, then zeros. */
    uint8_t enc[LB_FLOWTAB_KEY_MAX];
} lb_flowtab_key;

/** Why a flow left the table (#lb_flowtab_end.reason). */
enum lb_flowtab_end_reason {
    /** Idle for the idle timeout or longer. */
    LB_FLOWTAB_END_EXPIRED = 1,
    /** Evicted, as the least recently used of its buckets, to make room for a new flow. */
    LB_FLOWTAB_END_EVICTED = 2,
    /** Removed by lb_flowtab_remove(). */
    LB_FLOWTAB_END_REMOVED = 3,
    /** Removed by lb_flowtab_remove_target(). */
    LB_FLOWTAB_END_TARGET_REMOVED = 4
};

/** A flow that left the table, as passed to #lb_flowtab_end_fn (valid during the call only). */
typedef struct lb_flowtab_end {
    /** `sizeof(lb_flowtab_end)` of the library: fields are only appended. */
    uint32_t struct_size;
    /** An #lb_flowtab_end_reason value. */
    uint32_t reason;
    /** The flow's target id. */
    uint32_t target;
    /** Zero. */
    uint32_t reserved;
    /** The flow's caller data. */
    uint64_t data;
    /** When the flow was last used (inserted, looked up or touched), in the caller's ms. */
    uint64_t last_use_ms;
    /** The flow's key (borrowed; valid during the call only). */
    const lb_flowtab_key *key;
} lb_flowtab_end;

/**
 * Called for every flow that leaves the table, from inside the call that removes it.
 * @param user #lb_flowtab_config.user.
 * @param end the flow (borrowed; valid during the call only).
 */
typedef void (*lb_flowtab_end_fn)(void *user, const lb_flowtab_end *end);

/** Eviction policies (#lb_flowtab_config.evict). Either way the candidates are the 16 flows
 *  of the new flow's two buckets, and idle flows go before any live one. */
enum lb_flowtab_evict {
    /** The least recently used flow. */
    LB_FLOWTAB_EVICT_LRU = 0,
    /** The least recently used of the flows not looked up or touched since their insert, if
     *  any; else the least recently used. Flows that sent one datagram (a flood of new source
     *  ports) go before established ones, as Linux conntrack drops unassured connections
     *  first (doc/flowtab.md measures both). */
    LB_FLOWTAB_EVICT_NEW_FIRST = 1
};

/** Configuration of a new table. Fill with lb_flowtab_config_init(), then change fields. */
typedef struct lb_flowtab_config {
    /** The caller's `sizeof(lb_flowtab_config)`; set by lb_flowtab_config_init(). */
    uint32_t struct_size;
    /** Flows the table holds, 1 .. #LB_FLOWTAB_CAPACITY_MAX, rounded up to a multiple of
     *  #LB_FLOWTAB_BUCKET_SLOTS (default 65536). */
    uint32_t capacity;
    /** Idle timeout in ms, 1 .. #LB_FLOWTAB_IDLE_MAX (default #LB_FLOWTAB_IDLE_DEFAULT). */
    uint32_t idle_timeout_ms;
    /** Which flow a full table evicts: an #lb_flowtab_evict value (default
     *  #LB_FLOWTAB_EVICT_LRU). */
    uint32_t evict;
    /** Told of every flow that leaves the table (may be NULL). */
    lb_flowtab_end_fn on_end;
    /** Passed to @c on_end (borrowed). */
    void *user;
} lb_flowtab_config;

/** Counters of a table (lb_flowtab_get_stats()); all count since lb_flowtab_new(). Read
 *  while the owner works, each counter is exact but they are read one after another (hits
 *  never exceed lookups in one read). */
typedef struct lb_flowtab_stats {
    /** The caller's `sizeof(lb_flowtab_stats)`; set it before the call. */
    uint32_t struct_size;
    /** The capacity in flows. */
    uint32_t capacity;
    /** Flows in the table now (idle-expired flows not yet removed included). */
    uint64_t active;
    /** Flows created by lb_flowtab_insert(). */
    uint64_t inserted;
    /** lb_flowtab_insert() calls that replaced an existing flow's target and data. */
    uint64_t replaced;
    /** Flows removed because idle (#LB_FLOWTAB_END_EXPIRED). */
    uint64_t expired;
    /** Flows evicted to make room (#LB_FLOWTAB_END_EVICTED). */
    uint64_t evicted;
    /** Flows removed by lb_flowtab_remove() and lb_flowtab_remove_target(). */
    uint64_t removed;
    /** Calls of lb_flowtab_lookup(). */
    uint64_t lookups;
    /** Of those, the ones that found a live flow. */
    uint64_t hits;
    /** lb_flowtab_memory(). */
    uint64_t memory_bytes;
} lb_flowtab_stats;

/** A flow table (opaque). */
typedef struct lb_flowtab lb_flowtab;

/**
 * @brief Fill a configuration with the defaults (capacity 65536, idle timeout 30 s, no
 *        callback) for a caller whose struct is @p size bytes.
 * @param cfg the configuration (NULL is a no-op).
 * @param size `sizeof(lb_flowtab_config)` as the caller knows it: only these bytes are
 *        written (a larger size's tail is zeroed).
 * @thread pure
 */
LB_API void lb_flowtab_config_init(lb_flowtab_config *cfg, size_t size);

/**
 * @brief Create a table, allocating all its memory.
 * @param[out] out the new table, owned by the caller (free with lb_flowtab_free()).
 * @param cfg the configuration (copied), or NULL for the defaults.
 * @return 0 or an error below.
 * @retval EINVAL NULL @p out, a capacity, idle timeout or eviction policy out of range
 * @retval LB_E_STRUCT_SIZE @p cfg's `struct_size` is smaller than the first release's
 * @retval LB_E_STRUCT_TOO_NEW @p cfg has fields this library does not know, not all zero
 * @retval ENOMEM out of memory
 * @thread pure
 */
LB_API LB_NODISCARD int lb_flowtab_new(lb_flowtab **out, const lb_flowtab_config *cfg);

/**
 * @brief Free a table without reporting its flows. NULL is a no-op.
 * @param t the table.
 * @thread exclusive
 */
LB_API void lb_flowtab_free(lb_flowtab *t);

/**
 * @brief Build the key of an IPv4 5-tuple. `key->hash` equals lb_hash_flow4() of the same
 *        arguments.
 * @param[out] key the key.
 * @param src source address, 4 bytes in network order (borrowed).
 * @param dst destination address, 4 bytes in network order (borrowed).
 * @param sport source port (host order).
 * @param dport destination port (host order).
 * @param proto IP protocol number (17 UDP).
 * @param seed hash seed (the same for every key of one table).
 * @return 0 or an error below.
 * @retval EINVAL a NULL pointer
 * @thread pure
 */
LB_API int lb_flowtab_key4(lb_flowtab_key *key, const uint8_t *src, const uint8_t *dst,
                           uint16_t sport, uint16_t dport, uint8_t proto, uint64_t seed);

/**
 * @brief Build the key of an IPv6 5-tuple. When both addresses are IPv4-mapped the key is
 *        the IPv4 key of the embedded addresses (as lb_hash_flow6() does); `key->hash`
 *        equals lb_hash_flow6() of the same arguments.
 * @param[out] key the key.
 * @param src source address, 16 bytes in network order (borrowed).
 * @param dst destination address, 16 bytes in network order (borrowed).
 * @param sport source port (host order).
 * @param dport destination port (host order).
 * @param proto IP protocol number.
 * @param seed hash seed.
 * @return 0 or an error below.
 * @retval EINVAL a NULL pointer
 * @thread pure
 */
LB_API int lb_flowtab_key6(lb_flowtab_key *key, const uint8_t *src, const uint8_t *dst,
                           uint16_t sport, uint16_t dport, uint8_t proto, uint64_t seed);

/**
 * @brief Build the key of the 5-tuple of two socket addresses, folded as
 *        lb_hash_flow_sockaddr() folds them; `key->hash` equals its hash.
 * @param[out] key the key.
 * @param src source (client) socket address, `AF_INET` or `AF_INET6` (borrowed).
 * @param dst destination (listener) socket address (borrowed).
 * @param proto IP protocol number.
 * @param seed hash seed.
 * @return 0 or an error below.
 * @retval EINVAL a NULL pointer
 * @retval EAFNOSUPPORT another family, or IPv4 with a non-mapped IPv6 address
 * @thread pure
 */
LB_API int lb_flowtab_key_sockaddr(lb_flowtab_key *key, const struct sockaddr *src,
                                   const struct sockaddr *dst, uint8_t proto, uint64_t seed);

/**
 * @brief Find a live flow and mark it used at @p now_ms (the call for every packet).
 *
 * An idle-expired flow is not returned: it is removed (reported as
 * #LB_FLOWTAB_END_EXPIRED) and the call returns #LB_E_FLOWTAB_NOT_FOUND. Other idle flows of
 * the same bucket may be removed and reported too. O(1): two bucket headers and, normally,
 * one entry are read (more only on a 16-bit tag collision).
 * @param t the table.
 * @param key the flow (borrowed).
 * @param now_ms the time.
 * @param[out] target the flow's target id (may be NULL).
 * @param[out] data the flow's caller data (may be NULL).
 * @return 0 or an error below.
 * @retval LB_E_FLOWTAB_NOT_FOUND no live flow with this key
 * @retval EINVAL NULL @p t or @p key, or a key whose length is not 16 or 48
 * @thread exclusive
 */
LB_API int lb_flowtab_lookup(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms,
                             uint32_t *target, uint64_t *data);

/**
 * @brief Like lb_flowtab_lookup() without marking the flow used, removing or counting
 *        anything (for inspection).
 * @param t the table.
 * @param key the flow (borrowed).
 * @param now_ms the time (a flow idle for the timeout at this time is not returned).
 * @param[out] target the flow's target id (may be NULL).
 * @param[out] data the flow's caller data (may be NULL).
 * @param[out] last_use_ms when the flow was last used (may be NULL).
 * @return 0 or an error below.
 * @retval LB_E_FLOWTAB_NOT_FOUND no live flow with this key
 * @retval EINVAL NULL @p t or @p key, or a bad key length
 * @thread exclusive
 */
LB_API int lb_flowtab_peek(const lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms,
                           uint32_t *target, uint64_t *data, uint64_t *last_use_ms);

/**
 * @brief Mark a live flow used at @p now_ms (lb_flowtab_lookup() without the results).
 * @param t the table.
 * @param key the flow (borrowed).
 * @param now_ms the time.
 * @return 0 or an error below.
 * @retval LB_E_FLOWTAB_NOT_FOUND no live flow with this key
 * @retval EINVAL NULL @p t or @p key, or a bad key length
 * @thread exclusive
 */
LB_API int lb_flowtab_touch(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms);

/**
 * @brief Insert a flow, or give an existing live flow a new target and data; either way it
 *        is marked used at @p now_ms.
 *
 * A new flow takes a free slot in the emptier of its two buckets, after idle flows there are
 * removed (#LB_FLOWTAB_END_EXPIRED). When both are full and the table holds fewer than 31/32
 * of its capacity, one of their flows moves to its other bucket to make room; otherwise one
 * of their 16 flows is evicted by the configured policy (#LB_FLOWTAB_END_EVICTED, counted in
 * `evicted`). O(1): at most 18 bucket headers, and the entries of the flows it writes, moves
 * or reports. Never fails for lack of room.
 * Updating an existing flow leaves whether it was seen since its insert unchanged.
 * @param t the table.
 * @param key the flow (copied).
 * @param target the target id.
 * @param data caller data, returned by lookups and in #lb_flowtab_end.
 * @param now_ms the time.
 * @return 0 when a flow was created, 1 when an existing flow was updated, or an error below.
 * @retval EINVAL NULL @p t or @p key, or a bad key length
 * @thread exclusive
 */
LB_API int lb_flowtab_insert(lb_flowtab *t, const lb_flowtab_key *key, uint32_t target,
                             uint64_t data, uint64_t now_ms);

/**
 * @brief Remove a flow (reported as #LB_FLOWTAB_END_REMOVED): e.g. on an ICMP port
 *        unreachable from its target, so that its next packet picks another target.
 * @param t the table.
 * @param key the flow (borrowed).
 * @param now_ms the time (an idle-expired flow is reported as expired and not found).
 * @return 0 or an error below.
 * @retval LB_E_FLOWTAB_NOT_FOUND no live flow with this key
 * @retval EINVAL NULL @p t or @p key, or a bad key length
 * @thread exclusive
 */
LB_API int lb_flowtab_remove(lb_flowtab *t, const lb_flowtab_key *key, uint64_t now_ms);

/**
 * @brief Remove every flow of a target (reported as #LB_FLOWTAB_END_TARGET_REMOVED), e.g.
 *        when its drain deadline passes or it is removed. O(capacity): reads every bucket
 *        header and the entry of every occupied slot (doc/flowtab.md gives the time).
 * @param t the table.
 * @param target the target id.
 * @param now_ms the time (idle-expired flows met on the way are reported as expired).
 * @return the number of flows removed (>= 0), or an error below.
 * @retval EINVAL NULL @p t
 * @thread exclusive
 */
LB_API int64_t lb_flowtab_remove_target(lb_flowtab *t, uint32_t target, uint64_t now_ms);

/**
 * @brief Remove idle-expired flows from the next @p max_buckets buckets (a cursor goes round
 *        the table), reporting each as #LB_FLOWTAB_END_EXPIRED. Call it from a timer with a
 *        budget: visiting every bucket once per idle timeout keeps memory free of dead flows
 *        (lb_flowtab_buckets() buckets in all).
 * @param t the table.
 * @param now_ms the time.
 * @param max_buckets the most buckets to visit (each is one 64-byte header, plus the entry of
 *        every expired flow); 0 visits none.
 * @return the number of flows removed (>= 0), or an error below.
 * @retval EINVAL NULL @p t
 * @thread exclusive
 */
LB_API int64_t lb_flowtab_expire(lb_flowtab *t, uint64_t now_ms, uint32_t max_buckets);

/**
 * @brief The table's counters.
 * @param t the table.
 * @param[out] out the counters; set its `struct_size` first.
 * @return 0 or an error below.
 * @retval EINVAL a NULL pointer
 * @retval LB_E_STRUCT_SIZE @p out's `struct_size` is smaller than the first release's
 * @thread reader
 */
LB_API int lb_flowtab_get_stats(const lb_flowtab *t, lb_flowtab_stats *out);

/**
 * @brief The capacity in flows (a multiple of #LB_FLOWTAB_BUCKET_SLOTS; 0 for NULL).
 * @param t the table.
 * @thread reader
 */
LB_API uint32_t lb_flowtab_capacity(const lb_flowtab *t);

/**
 * @brief The number of buckets (capacity / #LB_FLOWTAB_BUCKET_SLOTS; 0 for NULL).
 * @param t the table.
 * @thread reader
 */
LB_API uint32_t lb_flowtab_buckets(const lb_flowtab *t);

/**
 * @brief The bytes the table allocated: #LB_FLOWTAB_ENTRY_BYTES per slot plus the fixed
 *        part (0 for NULL).
 * @param t the table.
 * @thread reader
 */
LB_API uint64_t lb_flowtab_memory(const lb_flowtab *t);

/**
 * @brief The bytes a table of @p capacity flows allocates, without creating it (0 when the
 *        capacity is out of range).
 * @param capacity flows, 1 .. #LB_FLOWTAB_CAPACITY_MAX.
 * @thread pure
 */
LB_API uint64_t lb_flowtab_memory_for(uint32_t capacity);

/**
 * @brief Which of @p shards per-worker tables a flow belongs to, for an embedder that
 *        dispatches packets to workers itself: `floor(hash * shards / 2^64)` of the key's
 *        hash, independent of the bucket choice inside a table.
 * @param key the flow (borrowed).
 * @param shards the number of shards (1 .. 2^32 - 1).
 * @return the shard, 0 .. shards - 1 (0 for a NULL key or 0 shards).
 * @thread pure
 */
LB_API uint32_t lb_flowtab_shard(const lb_flowtab_key *key, uint32_t shards);

/**
 * @brief The name of an #lb_flowtab_end_reason: "expired", "evicted", "removed",
 *        "target_removed"; "unknown" for another value.
 * @param reason the value.
 * @return a static string, never NULL.
 * @thread pure
 */
LB_API const char *lb_flowtab_end_name(uint32_t reason);

#ifdef __cplusplus
}
#endif

#endif /* LB_FLOWTAB_H */
