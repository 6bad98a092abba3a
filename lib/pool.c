/* The pool: an insertion-ordered array of targets with two open-addressing indexes (by id and
 * by key) so that adds and lookups stay O(1) at 100,000 targets. Removal rebuilds the indexes
 * (O(n)), which keeps the array dense and ordered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "internal/abi.h"
#include "internal/pool.h"

struct lb_pool {
    struct lb__target *targets;
    size_t count;
    size_t cap;
    /* Both indexes hold target index + 1 (0 = empty slot); size is a power of two. */
    uint32_t *by_id;
    uint32_t *by_key;
    size_t index_cap;
};

static size_t id_slot(uint32_t id, size_t mask)
{
    return (size_t)((id * 0x9E3779B1u) ^ (id >> 16)) & mask;
}

static size_t key_slot(const void *key, size_t len, size_t mask)
{
    return (size_t)XXH3_64bits(key, len) & mask;
}

static long find_id(const lb_pool *p, uint32_t id)
{
    if (!p->index_cap)
        return -1;
    size_t mask = p->index_cap - 1;
    for (size_t s = id_slot(id, mask);; s = (s + 1) & mask) {
        uint32_t v = p->by_id[s];
        if (!v)
            return -1;
        if (p->targets[v - 1].id == id)
            return (long)(v - 1);
    }
}

static long find_key(const lb_pool *p, const void *key, size_t len)
{
    if (!p->index_cap)
        return -1;
    size_t mask = p->index_cap - 1;
    for (size_t s = key_slot(key, len, mask);; s = (s + 1) & mask) {
        uint32_t v = p->by_key[s];
        if (!v)
            return -1;
        const struct lb__target *t = &p->targets[v - 1];
        if (t->key_len == len && memcmp(t->key, key, len) == 0)
            return (long)(v - 1);
    }
}

static void index_insert(lb_pool *p, size_t i)
{
    size_t mask = p->index_cap - 1;
    const struct lb__target *t = &p->targets[i];
    size_t s = id_slot(t->id, mask);
    while (p->by_id[s])
        s = (s + 1) & mask;
    p->by_id[s] = (uint32_t)(i + 1);
    s = key_slot(t->key, t->key_len, mask);
    while (p->by_key[s])
        s = (s + 1) & mask;
    p->by_key[s] = (uint32_t)(i + 1);
}

/* Rebuild both indexes with room for at least @want targets at a load of at most 1/2. */
static int index_rebuild(lb_pool *p, size_t want)
{
    size_t cap = p->index_cap ? p->index_cap : 16;
    while (cap < want * 2)
        cap *= 2;
    if (cap != p->index_cap) {
        uint32_t *by_id = calloc(cap, sizeof(*by_id));
        uint32_t *by_key = calloc(cap, sizeof(*by_key));
        if (!by_id || !by_key) {
            free(by_id);
            free(by_key);
            return -ENOMEM;
        }
        free(p->by_id);
        free(p->by_key);
        p->by_id = by_id;
        p->by_key = by_key;
        p->index_cap = cap;
    } else {
        memset(p->by_id, 0, cap * sizeof(*p->by_id));
        memset(p->by_key, 0, cap * sizeof(*p->by_key));
    }
    for (size_t i = 0; i < p->count; i++)
        index_insert(p, i);
    return 0;
}

LB_API int lb_pool_new(lb_pool **out)
{
    if (!out)
        return -EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

LB_API void lb_pool_free(lb_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->count; i++)
        free(pool->targets[i].key);
    free(pool->targets);
    free(pool->by_id);
    free(pool->by_key);
    free(pool);
}

LB_API int lb_pool_clone(lb_pool **out, const lb_pool *pool)
{
    if (!out || !pool)
        return -EINVAL;
    lb_pool *c;
    int err = lb_pool_new(&c);
    if (err)
        return err;
    for (size_t i = 0; i < pool->count; i++) {
        const struct lb__target *t = &pool->targets[i];
        err = lb_pool_add(c, t->id, t->key, t->key_len, t->weight, t->zone);
        if (err) {
            lb_pool_free(c);
            return err;
        }
    }
    *out = c;
    return 0;
}

LB_API int lb_pool_add(lb_pool *pool, uint32_t id, const void *key, size_t key_len,
                       uint32_t weight, uint32_t zone)
{
    if (!pool || !key || id == LB_NO_TARGET)
        return -EINVAL;
    if (key_len == 0 || key_len > LB_POOL_KEY_MAX)
        return LB_E_POOL_BAD_KEY;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    if (pool->count >= UINT32_MAX - 1)
        return -ENOSPC;
    if (find_id(pool, id) >= 0)
        return -EEXIST;
    if (find_key(pool, key, key_len) >= 0)
        return LB_E_POOL_DUPLICATE_KEY;

    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 8;
        struct lb__target *t = realloc(pool->targets, cap * sizeof(*t));
        if (!t)
            return -ENOMEM;
        pool->targets = t;
        pool->cap = cap;
    }
    uint8_t *copy = malloc(key_len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, key_len);
    if ((pool->count + 1) * 2 > pool->index_cap) {
        int err = index_rebuild(pool, pool->count + 1);
        if (err) {
            free(copy);
            return err;
        }
    }
    pool->targets[pool->count] = (struct lb__target){
        .id = id, .weight = weight, .zone = zone, .key_len = (uint32_t)key_len, .key = copy};
    index_insert(pool, pool->count);
    pool->count++;
    return 0;
}

LB_API int lb_pool_remove(lb_pool *pool, uint32_t id)
{
    if (!pool)
        return -EINVAL;
    long i = find_id(pool, id);
    if (i < 0)
        return -ENOENT;
    free(pool->targets[i].key);
    memmove(&pool->targets[i], &pool->targets[i + 1],
            (pool->count - (size_t)i - 1) * sizeof(pool->targets[0]));
    pool->count--;
    /* Same capacity: the rebuild cannot fail. */
    return index_rebuild(pool, pool->count);
}

LB_API int lb_pool_set_weight(lb_pool *pool, uint32_t id, uint32_t weight)
{
    if (!pool)
        return -EINVAL;
    if (weight > LB_WEIGHT_MAX)
        return LB_E_POOL_BAD_WEIGHT;
    long i = find_id(pool, id);
    if (i < 0)
        return -ENOENT;
    pool->targets[i].weight = weight;
    return 0;
}

LB_API int lb_pool_set_zone(lb_pool *pool, uint32_t id, uint32_t zone)
{
    if (!pool)
        return -EINVAL;
    long i = find_id(pool, id);
    if (i < 0)
        return -ENOENT;
    pool->targets[i].zone = zone;
    return 0;
}

LB_API size_t lb_pool_count(const lb_pool *pool)
{
    return pool ? pool->count : 0;
}

static int fill_info(const struct lb__target *t, lb_target_info *out)
{
    if (lb__out_check(out, LB__SIZE_UPTO(lb_target_info, key_len)))
        return LB_E_STRUCT_SIZE;
    lb_target_info i = {
        .id = t->id,
        .weight = t->weight,
        .zone = t->zone,
        .key = t->key,
        .key_len = t->key_len,
    };
    lb__struct_put(out, &i, sizeof(i));
    return 0;
}

LB_API int lb_pool_at(const lb_pool *pool, size_t index, lb_target_info *out)
{
    if (!pool || !out)
        return -EINVAL;
    if (index >= pool->count)
        return -ENOENT;
    return fill_info(&pool->targets[index], out);
}

LB_API int lb_pool_get(const lb_pool *pool, uint32_t id, lb_target_info *out)
{
    if (!pool || !out)
        return -EINVAL;
    long i = find_id(pool, id);
    if (i < 0)
        return -ENOENT;
    return fill_info(&pool->targets[i], out);
}

LB_API int lb_pool_find_key(const lb_pool *pool, const void *key, size_t key_len, uint32_t *id)
{
    if (!pool || !key || !id)
        return -EINVAL;
    long i = find_key(pool, key, key_len);
    if (i < 0)
        return -ENOENT;
    *id = pool->targets[i].id;
    return 0;
}

const struct lb__target *lb__pool_targets(const lb_pool *pool, size_t *count)
{
    *count = pool->count;
    return pool->targets;
}

long lb__pool_index_of(const lb_pool *pool, uint32_t id)
{
    return find_id(pool, id);
}
