/* Smooth weighted round robin: the discrete WF2Q schedule, generated in chunks a few chunks
 * ahead of the picks and handed out through an atomic ticket.
 *
 * State per target i (weight w_i > 0; S = sum of weights; t = position in the cycle):
 * A_i = S * picks_i - offset_i, so that its lag in 1/S picks is L_i = t * w_i - A_i and the
 * lags always sum to 0. Target i is eligible at t when L_i >= 0 (t >= elig_i); among the
 * eligible the one with the earliest virtual deadline (S + A_i) / w_i wins (ties: pool order).
 * Two heaps hold the targets: `wait` by eligibility time, `ready` by deadline. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/pool.h"
#include "lb/wrr.h"

__extension__ typedef __int128 i128;

#define RING      32 /* chunk slots; a picker may lag RING - AHEAD - 2 chunks behind the ticket */
#define AHEAD     2  /* chunks generated ahead of the one being handed out */
#define SEED_SPAN 65536u
#define CACHE_MAX (1u << 20) /* cycles up to this many picks are recorded and replayed */

struct slot {
    _Atomic uint64_t seq; /* chunk number + 1 when complete, 0 while being written */
    _Atomic uint32_t e[LB_WRR_CHUNK];
};

struct lb_wrr {
    _Alignas(64) _Atomic uint64_t ticket;
    _Alignas(64) _Atomic uint64_t gen_chunk; /* the next chunk to generate */
    _Atomic int gen_lock;
    _Atomic uint64_t skipped; /* tickets given up by pickers that lagged a whole ring */
    uint32_t n;
    uint64_t S;
    uint32_t *ids, *w;
    struct slot *ring;
    /* generator state, owned by whoever holds gen_lock */
    uint64_t t;
    int64_t *A, *elig;
    uint32_t *ready, *wait;
    uint32_t nready, nwait;
    /* A periodic schedule is recorded over one cycle and then replayed: cyc[t] is the pick at
     * cycle position t. A0 holds A at the start of the cycle being recorded; once a cycle
     * ends in the state it started from (every target got exactly its weight), `replay` is
     * set, A stays at that cycle-start state and the heaps are no longer used. */
    uint32_t *cyc;
    int64_t *A0;
    int replay;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a + b - 1) / b;
}

/* Deadline order: (S + A_i) / w_i, then pool order. */
static int earlier(const lb_wrr *r, uint32_t i, uint32_t j)
{
    i128 a = (i128)((int64_t)r->S + r->A[i]) * r->w[j];
    i128 b = (i128)((int64_t)r->S + r->A[j]) * r->w[i];
    return a < b || (a == b && i < j);
}

static int elig_before(const lb_wrr *r, uint32_t i, uint32_t j)
{
    return r->elig[i] < r->elig[j] || (r->elig[i] == r->elig[j] && i < j);
}

typedef int (*heap_less)(const lb_wrr *, uint32_t, uint32_t);

static void heap_push(const lb_wrr *r, uint32_t *h, uint32_t *len, uint32_t v, heap_less less)
{
    uint32_t k = (*len)++;
    while (k > 0) {
        uint32_t p = (k - 1) / 2;
        if (!less(r, v, h[p]))
            break;
        h[k] = h[p];
        k = p;
    }
    h[k] = v;
}

static uint32_t heap_pop(const lb_wrr *r, uint32_t *h, uint32_t *len, heap_less less)
{
    uint32_t top = h[0], v = h[--(*len)], k = 0, n = *len;
    for (;;) {
        uint32_t c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && less(r, h[c + 1], h[c]))
            c++;
        if (!less(r, h[c], v))
            break;
        h[k] = h[c];
        k = c;
    }
    if (n)
        h[k] = v;
    return top;
}

static void place(lb_wrr *r, uint32_t i)
{
    if (r->elig[i] <= (int64_t)r->t)
        heap_push(r, r->ready, &r->nready, i, earlier);
    else
        heap_push(r, r->wait, &r->nwait, i, elig_before);
}

/* Puts every target in its heap for the current A and t. */
static void gen_reset(lb_wrr *r)
{
    r->nready = r->nwait = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        r->elig[i] = ceil_div(r->A[i], r->w[i]);
        place(r, i);
    }
}

/* One step of the schedule: the index of the target picked at position t. */
static uint32_t gen_step(lb_wrr *r)
{
    if (r->replay) {
        uint32_t i = r->cyc[r->t];
        r->t = r->t + 1 == r->S ? 0 : r->t + 1;
        return i;
    }
    while (r->nwait && r->elig[r->wait[0]] <= (int64_t)r->t)
        heap_push(r, r->ready, &r->nready, heap_pop(r, r->wait, &r->nwait, elig_before), earlier);
    uint32_t i = heap_pop(r, r->ready, &r->nready, earlier);
    if (r->cyc)
        r->cyc[r->t] = i;
    r->A[i] += (int64_t)r->S;
    r->elig[i] = ceil_div(r->A[i], r->w[i]);
    if (++r->t == r->S) { /* a new cycle: shift every clock back by S */
        r->t = 0;
        for (uint32_t k = 0; k < r->n; k++) {
            r->A[k] -= (int64_t)r->S * r->w[k];
            r->elig[k] -= (int64_t)r->S;
        }
        if (r->cyc) {
            if (!memcmp(r->A, r->A0, r->n * sizeof(int64_t))) {
                r->replay = 1;
                return i;
            }
            memcpy(r->A0, r->A, r->n * sizeof(int64_t));
        }
    }
    place(r, i);
    return i;
}

static void gen_chunk(lb_wrr *r, uint64_t c)
{
    struct slot *s = &r->ring[c % RING];
    atomic_store_explicit(&s->seq, 0, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (uint32_t k = 0; k < LB_WRR_CHUNK; k++)
        atomic_store_explicit(&s->e[k], gen_step(r), memory_order_relaxed);
    atomic_store_explicit(&s->seq, c + 1, memory_order_release);
}

/* Generates chunks up to @upto (and no further than AHEAD past the ticket's chunk), unless
 * another thread is generating. */
static void maybe_generate(lb_wrr *r, uint64_t upto)
{
    if (atomic_load_explicit(&r->gen_chunk, memory_order_relaxed) > upto)
        return;
    if (atomic_exchange_explicit(&r->gen_lock, 1, memory_order_acquire))
        return;
    uint64_t c = atomic_load_explicit(&r->gen_chunk, memory_order_relaxed);
    uint64_t cur = atomic_load_explicit(&r->ticket, memory_order_relaxed) / LB_WRR_CHUNK;
    uint64_t limit = cur + AHEAD > upto ? cur + AHEAD : upto;
    if (limit > cur + RING - 2)
        limit = cur + RING - 2;
    for (; c <= limit; c++) {
        gen_chunk(r, c);
        atomic_store_explicit(&r->gen_chunk, c + 1, memory_order_relaxed);
    }
    atomic_store_explicit(&r->gen_lock, 0, memory_order_release);
}

LB_API int lb_wrr_pick(lb_wrr *r, uint32_t *id)
{
    if (!r || !id)
        return -EINVAL;
    if (!r->n)
        return LB_E_SELECTOR_EMPTY;
    for (int retry = 0;; retry = 1) {
        if (retry)
            atomic_fetch_add_explicit(&r->skipped, 1, memory_order_relaxed);
        uint64_t tk = atomic_fetch_add_explicit(&r->ticket, 1, memory_order_relaxed);
        uint64_t c = tk / LB_WRR_CHUNK;
        uint32_t off = (uint32_t)(tk % LB_WRR_CHUNK);
        if (off == 0)
            maybe_generate(r, c + AHEAD);
        struct slot *s = &r->ring[c % RING];
        for (;;) {
            /* seq > c + 1 after a break below: this picker was descheduled while a whole ring
             * of chunks was handed out, and its entry is gone; it takes a new ticket. */
            uint64_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
            if (seq == c + 1) {
                uint32_t e = atomic_load_explicit(&s->e[off], memory_order_relaxed);
                atomic_thread_fence(memory_order_acquire);
                if (atomic_load_explicit(&s->seq, memory_order_relaxed) == seq) {
                    *id = r->ids[e];
                    return 0;
                }
                break; /* overwritten while reading */
            }
            if (seq > c + 1)
                break;
            maybe_generate(r, c);
            cpu_relax();
        }
    }
}

LB_API uint64_t lb_wrr_cycle(const lb_wrr *r)
{
    return r ? r->S : 0;
}

LB_API uint64_t lb_wrr_skipped(const lb_wrr *r)
{
    return r ? atomic_load_explicit(&((lb_wrr *)r)->skipped, memory_order_relaxed) : 0;
}

LB_API size_t lb_wrr_count(const lb_wrr *r)
{
    return r ? r->n : 0;
}

LB_API void lb_wrr_free(lb_wrr *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r->w);
    free(r->A);
    free(r->elig);
    free(r->ready);
    free(r->wait);
    free(r->ring);
    free(r->cyc);
    free(r->A0);
    free(r);
}

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Lags (in 1/S picks) of @prev's targets at its current ticket, in @lag. */
static void prev_lags(lb_wrr *p, int64_t *lag)
{
    while (atomic_exchange_explicit(&p->gen_lock, 1, memory_order_acquire))
        cpu_relax();
    uint64_t gen_pos = atomic_load_explicit(&p->gen_chunk, memory_order_relaxed) * LB_WRR_CHUNK;
    uint64_t tk = atomic_load_explicit(&p->ticket, memory_order_relaxed);
    if (tk > gen_pos)
        tk = gen_pos;
    for (uint32_t k = 0; k < p->n; k++)
        lag[k] = (int64_t)p->t * p->w[k] - p->A[k] - (int64_t)(gen_pos - tk) * p->w[k];
    if (p->replay) /* A was left at the cycle's start: count the picks made since */
        for (uint64_t g = 0; g < p->t; g++)
            lag[p->cyc[g]] -= (int64_t)p->S;
    /* Entries generated but not handed out yet are given back. */
    for (uint64_t g = tk; g < gen_pos; g++) {
        const struct slot *s = &p->ring[(g / LB_WRR_CHUNK) % RING];
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != g / LB_WRR_CHUNK + 1)
            continue;
        lag[atomic_load_explicit(&s->e[g % LB_WRR_CHUNK], memory_order_relaxed)] += (int64_t)p->S;
    }
    atomic_store_explicit(&p->gen_lock, 0, memory_order_release);
}

/* Offsets A_i at t = 0 from @prev: lags rescaled to the new cycle, summing to zero. */
static int inherit(lb_wrr *r, const lb_pool *pool, lb_wrr *prev)
{
    int64_t *lag = calloc(prev->n ? prev->n : 1, sizeof(*lag));
    long *pos = malloc((lb_pool_count(pool) + 1) * sizeof(*pos));
    if (!lag || !pos) {
        free(lag);
        free(pos);
        return -ENOMEM;
    }
    prev_lags(prev, lag);
    /* pool index -> our index */
    size_t pn;
    const struct lb__target *t = lb__pool_targets(pool, &pn);
    for (size_t k = 0, m = 0; k < pn; k++)
        pos[k] = t[k].weight ? (long)m++ : -1;
    int64_t sum = 0;
    for (uint32_t k = 0; k < prev->n; k++) {
        long pi = lb__pool_index_of(pool, prev->ids[k]);
        if (pi < 0 || pos[pi] < 0)
            continue;
        i128 l = (i128)lag[k] * (i128)r->S;
        int64_t nl = (int64_t)(l / (i128)prev->S);
        r->A[pos[pi]] = -nl;
        sum += nl;
    }
    /* Spread the lags of targets that left over the others, by weight. */
    int64_t spread = 0;
    for (uint32_t i = 0; i < r->n; i++) {
        int64_t adj = (int64_t)((i128)sum * r->w[i] / (i128)r->S);
        r->A[i] += adj;
        spread += adj;
    }
    for (uint32_t i = 0; spread != sum; i = (i + 1) % r->n) {
        int64_t d = sum > spread ? 1 : -1;
        r->A[i] += d;
        spread += d;
    }
    free(lag);
    free(pos);
    return 0;
}

LB_API int lb_wrr_new(lb_wrr **out, const lb_pool *pool, const lb_wrr_options *opts)
{
    if (!out || !pool)
        return -EINVAL;
    if (opts && opts->struct_size < sizeof(lb_wrr_options))
        return -EINVAL;
    size_t pn;
    const struct lb__target *t = lb__pool_targets(pool, &pn);
    lb_wrr *r = aligned_alloc(64, sizeof(*r));
    if (!r)
        return -ENOMEM;
    memset(r, 0, sizeof(*r));
    for (size_t k = 0; k < pn; k++)
        if (t[k].weight) {
            r->n++;
            r->S += t[k].weight;
        }
    size_t cap = r->n ? r->n : 1;
    r->ids = malloc(cap * sizeof(uint32_t));
    r->w = malloc(cap * sizeof(uint32_t));
    r->A = calloc(cap, sizeof(int64_t));
    r->elig = malloc(cap * sizeof(int64_t));
    r->ready = malloc(cap * sizeof(uint32_t));
    r->wait = malloc(cap * sizeof(uint32_t));
    r->ring = aligned_alloc(64, RING * sizeof(struct slot));
    if (!r->ids || !r->w || !r->A || !r->elig || !r->ready || !r->wait || !r->ring) {
        lb_wrr_free(r);
        return -ENOMEM;
    }
    for (size_t k = 0, m = 0; k < pn; k++)
        if (t[k].weight) {
            r->ids[m] = t[k].id;
            r->w[m++] = t[k].weight;
        }
    for (uint32_t k = 0; k < RING; k++)
        atomic_init(&r->ring[k].seq, 0);
    atomic_init(&r->ticket, 0);
    atomic_init(&r->gen_chunk, 0);
    atomic_init(&r->gen_lock, 0);
    atomic_init(&r->skipped, 0);
    if (r->n) {
        if (opts && opts->prev && opts->prev->n) {
            int rc = inherit(r, pool, opts->prev);
            if (rc) {
                lb_wrr_free(r);
                return rc;
            }
        }
        gen_reset(r);
        if (r->S <= CACHE_MAX) {
            r->cyc = malloc(r->S * sizeof(uint32_t));
            r->A0 = malloc(r->n * sizeof(int64_t));
            if (!r->cyc || !r->A0) {
                lb_wrr_free(r);
                return -ENOMEM;
            }
            memcpy(r->A0, r->A, r->n * sizeof(int64_t));
        }
        if (opts && !opts->prev && opts->seed) {
            uint64_t span = r->S < SEED_SPAN ? r->S : SEED_SPAN;
            for (uint64_t k = mix64(opts->seed) % span; k > 0; k--)
                gen_step(r);
        }
        maybe_generate(r, AHEAD);
    }
    *out = r;
    return 0;
}
