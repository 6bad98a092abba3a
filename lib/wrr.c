/* Smooth weighted round robin: nginx's schedule, generated in chunks a few chunks ahead of the
 * picks and handed out through an atomic ticket.
 *
 * State per target i (weight w_i > 0; S = sum of weights; t = position in the cycle):
 * A_i = S * picks_i - offset_i, so that its lag in 1/S picks is L_i = t * w_i - A_i (nginx's
 * current weight before step t's additions) and the lags always sum to 0. nginx picks at step
 * t the first target with the largest value (t + 1) w_i - A_i. These values are lines in t,
 * so a kinetic tournament tree holds, per node, the winner of its subtree at t and the first
 * step at which a winner at or below it may change (two lines cross); a step brings the
 * expired nodes up to date, takes the root's winner and recomputes the winner's path. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal/abi.h"
#include "internal/pool.h"
#include "internal/selector.h"
#include "internal/util.h"
#include "lb/wrr.h"

__extension__ typedef __int128 i128;

#define RING      32 /* chunk slots; a picker may lag RING - AHEAD - 2 chunks behind the ticket */
#define AHEAD     2  /* chunks generated ahead of the one being handed out */
#define SEED_SPAN 65536u
#define CACHE_MAX (1u << 20) /* cycles up to this many picks are recorded and replayed */
#define BATCH     LB_WRR_BATCH /* tickets a thread takes at once (divides LB_WRR_CHUNK) */
#define TL_WAYS   4         /* selectors a thread keeps a batch of at once */

struct slot {
    _Atomic uint64_t seq; /* chunk number + 1 when complete, 0 while being written */
    _Atomic uint32_t e[LB_WRR_CHUNK];
};

/* Per-stripe count of the tickets used (padded: each stripe's picks write only its line). */
struct used {
    _Alignas(64) _Atomic uint64_t n;
};

struct lb_wrr {
    _Alignas(64) _Atomic uint64_t ticket; /* tickets handed out, in batches of BATCH */
    struct used used[LB__STRIPES];
    _Alignas(64) _Atomic uint64_t gen_chunk; /* the next chunk to generate */
    _Atomic int gen_lock;
    uint64_t uid; /* unique among selectors (thread batches are keyed by it) */
    uint32_t n;
    uint64_t S;
    uint32_t *ids, *w;
    struct slot *ring;
    /* generator state, owned by whoever holds gen_lock */
    uint64_t t;
    int64_t *A;
    uint32_t m;    /* tournament leaves: a power of two >= n */
    uint32_t *win; /* win[k], k in 1..m-1: the winning target below node k at step t */
    int64_t *exp;  /* exp[k]: the first step at which a winner at or below k may change */
    /* A periodic schedule is recorded over one cycle and then replayed: cyc[t] is the pick at
     * cycle position t. A0 holds A at the start of the cycle being recorded; once a cycle
     * ends in the state it started from (every target got exactly its weight), `replay` is
     * set, A stays at that cycle-start state and the tournament is no longer used. */
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

#define NEVER INT64_MAX
#define NONE  UINT32_MAX

static inline uint32_t winner_of(const lb_wrr *r, uint32_t k)
{
    return k >= r->m ? (k - r->m < r->n ? k - r->m : NONE) : r->win[k];
}

static inline int64_t expiry_of(const lb_wrr *r, uint32_t k)
{
    return k >= r->m ? NEVER : r->exp[k];
}

/* Recomputes tournament node k at step t: the winner of its two children's winners (the left
 * one, with the lower pool index, on ties) and the first step after t at which that could
 * change, either here (the two values are lines in t that cross) or below. */
static void recompute(lb_wrr *r, uint32_t k, int64_t t)
{
    uint32_t a = winner_of(r, 2 * k), b = winner_of(r, 2 * k + 1);
    int64_t cert = NEVER;
    uint32_t win = a;
    if (b != NONE) {
        /* f(s) = value(a, s) - value(b, s) = dw (s + 1) - dA; a wins at s iff f(s) >= 0. */
        int64_t dw = (int64_t)r->w[a] - r->w[b], dA = r->A[a] - r->A[b];
        if (dw * (t + 1) - dA >= 0) {
            if (dw < 0) /* b overtakes at the first s with (s + 1) (-dw) > -dA */
                cert = (-dA) / (-dw);
        } else {
            win = b;
            if (dw > 0) /* a catches up at the first s with (s + 1) dw >= dA */
                cert = (dA + dw - 1) / dw - 1;
        }
    }
    int64_t e1 = expiry_of(r, 2 * k), e2 = expiry_of(r, 2 * k + 1);
    r->win[k] = win;
    r->exp[k] = cert < e1 ? (cert < e2 ? cert : e2) : (e1 < e2 ? e1 : e2);
}

/* Brings every node whose winner may have changed by step t up to date. */
static void advance(lb_wrr *r, uint32_t k, int64_t t)
{
    if (k >= r->m || r->exp[k] > t)
        return;
    advance(r, 2 * k, t);
    advance(r, 2 * k + 1, t);
    recompute(r, k, t);
}

/* Builds the tournament for the current A and t. */
static void gen_reset(lb_wrr *r)
{
    for (uint32_t k = r->m; k-- > 1;)
        recompute(r, k, (int64_t)r->t);
}

/* One step of the schedule: the index of the target picked at position t. */
static uint32_t gen_step(lb_wrr *r)
{
    if (r->replay) {
        uint32_t i = r->cyc[r->t];
        r->t = r->t + 1 == r->S ? 0 : r->t + 1;
        return i;
    }
    int64_t t = (int64_t)r->t;
    uint32_t i = 0;
    if (r->m > 1) {
        advance(r, 1, t);
        i = r->win[1];
    }
    if (r->cyc)
        r->cyc[r->t] = i;
    r->A[i] += (int64_t)r->S;
    for (uint32_t k = (i + r->m) / 2; k >= 1; k /= 2)
        recompute(r, k, t);
    if (++r->t == r->S) { /* a new cycle: shift every clock back by S */
        r->t = 0;
        for (uint32_t k = 0; k < r->n; k++)
            r->A[k] -= (int64_t)r->S * r->w[k];
        for (uint32_t k = 1; k < r->m; k++)
            if (r->exp[k] != NEVER)
                r->exp[k] -= (int64_t)r->S;
        if (r->cyc) {
            if (!memcmp(r->A, r->A0, r->n * sizeof(int64_t))) {
                r->replay = 1;
                return i;
            }
            memcpy(r->A0, r->A, r->n * sizeof(int64_t));
        }
    }
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

/* A thread's batches of tickets: for each of the last TL_WAYS selectors it picked from, the
 * range [next, end) it took from the shared ticket counter and has not used yet. Taking
 * BATCH tickets with one fetch-and-add keeps threads off the shared counter's cache line. A
 * batch left behind (the thread stops picking from that selector, or picks from more than
 * TL_WAYS selectors in turn) is never used: lb_wrr_skipped() counts it. */
struct tl_batch {
    uint64_t uid, next, end;
};
static LB__TLS struct tl_batch tl_batches[TL_WAYS];
static LB__TLS uint32_t tl_last, tl_victim; /* the slot used last; the next to evict */
static _Atomic uint64_t next_uid = 1;

/* The calling thread's batch of @r's tickets, or NULL. */
static inline struct tl_batch *own_batch(const lb_wrr *r)
{
    for (uint32_t k = 0; k < TL_WAYS; k++)
        if (tl_batches[k].uid == r->uid)
            return &tl_batches[k];
    return NULL;
}

static uint64_t take_ticket_slow(lb_wrr *r)
{
    struct tl_batch *b = own_batch(r);
    if (!b) { /* a slot with nothing left in it, else the next in turn */
        for (uint32_t k = 0; k < TL_WAYS && !b; k++)
            if (tl_batches[k].next == tl_batches[k].end)
                b = &tl_batches[k];
        if (!b)
            b = &tl_batches[tl_victim++ % TL_WAYS];
        b->uid = r->uid;
        b->next = b->end = 0;
    }
    if (b->next == b->end) {
        b->next = atomic_fetch_add_explicit(&r->ticket, BATCH, memory_order_relaxed);
        b->end = b->next + BATCH;
    }
    tl_last = (uint32_t)(b - tl_batches);
    return b->next++;
}

static inline uint64_t take_ticket(lb_wrr *r)
{
    struct tl_batch *b = &tl_batches[tl_last];
    if (LB_LIKELY(b->uid == r->uid && b->next != b->end))
        return b->next++;
    return take_ticket_slow(r);
}

/* Count one ticket used (its entry read). One writer per stripe while at most LB__STRIPES
 * threads pick: a plain increment (with more, a lost increment only overstates
 * lb_wrr_skipped()). */
static inline void ticket_used(lb_wrr *r)
{
    _Atomic uint64_t *u = &r->used[lb__stripe()].n;
    atomic_store_explicit(u, atomic_load_explicit(u, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* The next pick's position in the target list. */
static inline __attribute__((always_inline)) uint32_t pick_index(lb_wrr *r)
{
    for (;;) {
        uint64_t tk = take_ticket(r);
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
                    ticket_used(r);
                    return e;
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

LB_API int lb_wrr_pick(lb_wrr *r, uint32_t *id)
{
    if (!r || !id)
        return -EINVAL;
    if (!r->n)
        return LB_E_SELECTOR_EMPTY;
    *id = r->ids[pick_index(r)];
    return 0;
}

LB_API uint64_t lb_wrr_cycle(const lb_wrr *r)
{
    return r ? r->S : 0;
}

LB_API uint64_t lb_wrr_skipped(const lb_wrr *r)
{
    if (!r)
        return 0;
    lb_wrr *w = (lb_wrr *)r;
    /* tickets taken but not used: given up after a lag, or still in (or left in) a batch */
    uint64_t used = 0;
    for (uint32_t s = 0; s < LB__STRIPES; s++)
        used += atomic_load_explicit(&w->used[s].n, memory_order_relaxed);
    uint64_t taken = atomic_load_explicit(&w->ticket, memory_order_relaxed);
    return taken > used ? taken - used : 0;
}

LB_API size_t lb_wrr_count(const lb_wrr *r)
{
    return r ? r->n : 0;
}

LB_API void lb_wrr_free(lb_wrr *r)
{
    if (!r)
        return;
    struct tl_batch *own = own_batch(r); /* the freeing thread's slot is free again */
    if (own)
        *own = (struct tl_batch){0, 0, 0};
    free(r->ids);
    free(r->w);
    free(r->A);
    free(r->win);
    free(r->exp);
    free(r->ring);
    free(r->cyc);
    free(r->A0);
    free(r);
}

/* Entries [from, to) of @p's schedule are not handed out: add them back to the lags. */
static void give_back(lb_wrr *p, int64_t *lag, uint64_t from, uint64_t to)
{
    for (uint64_t g = from; g < to; g++) {
        const struct slot *s = &p->ring[(g / LB_WRR_CHUNK) % RING];
        if (atomic_load_explicit(&s->seq, memory_order_relaxed) != g / LB_WRR_CHUNK + 1)
            continue;
        lag[atomic_load_explicit(&s->e[g % LB_WRR_CHUNK], memory_order_relaxed)] += (int64_t)p->S;
    }
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
    /* Entries generated but not handed out yet are given back: those past the ticket, and
     * the rest of the calling thread's own batch (which it drops: a single thread that picks
     * and rebuilds continues exactly where it stands). */
    give_back(p, lag, tk, gen_pos);
    struct tl_batch *own = own_batch(p);
    if (own) {
        uint64_t end = own->end < tk ? own->end : tk;
        for (uint32_t k = own->next < end ? 0 : p->n; k < p->n; k++)
            lag[k] -= (int64_t)(end - own->next) * p->w[k];
        if (own->next < end)
            give_back(p, lag, own->next, end);
        own->next = own->end = 0;
        own->uid = 0;
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
    lb_wrr_options o;
    if (opts) {
        int rc = lb__struct_in(&o, sizeof(o), opts, opts->struct_size,
                               LB__SIZE_UPTO(lb_wrr_options, prev));
        if (rc)
            return rc;
        if (o.reserved0)
            return -EINVAL;
        opts = &o;
    }
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
    r->m = 1;
    while (r->m < r->n)
        r->m *= 2;
    r->win = malloc(r->m * sizeof(uint32_t));
    r->exp = malloc(r->m * sizeof(int64_t));
    r->ring = aligned_alloc(64, RING * sizeof(struct slot));
    if (!r->ids || !r->w || !r->A || !r->win || !r->exp || !r->ring) {
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
    for (uint32_t k = 0; k < LB__STRIPES; k++)
        atomic_init(&r->used[k].n, 0);
    r->uid = atomic_fetch_add_explicit(&next_uid, 1, memory_order_relaxed);
    atomic_init(&r->gen_chunk, 0);
    atomic_init(&r->gen_lock, 0);
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
            for (uint64_t k = lb__mix64(opts->seed) % span; k > 0; k--)
                gen_step(r);
        }
        maybe_generate(r, AHEAD);
    }
    *out = r;
    return 0;
}

/* ---- the balancer's selector (internal/selector.h) ----------------------------------------- */

static int sel_build(void **state, const struct lb__sel_input *in)
{
    /* The previous selector's lags carry over: a rebuild does not restart the cycle. */
    lb_wrr_options o = {.struct_size = sizeof(o), .seed = in->seed, .prev = in->prev};
    return lb_wrr_new((lb_wrr **)state, in->pool, &o);
}

static int sel_pick(void *state, const struct lb__sel_pick *p, uint32_t *pos, int *counted)
{
    lb_wrr *r = state;
    (void)p;
    *counted = 0;
    if (!r->n)
        return LB_E_NO_TARGET;
    *pos = pick_index(r);
    return 0;
}

static void sel_free(void *state)
{
    lb_wrr_free(state);
}

const struct lb__selector lb__sel_wrr = {
    .name = "wrr",
    .needs = 0,
    .build = sel_build,
    .pick = sel_pick,
    .free_state = sel_free,
};
