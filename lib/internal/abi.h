/* The struct-extension rule of doc/ABI.md, in one place. Never installed.
 *
 * Sizes travel from the caller. A struct the caller passes in is read through
 * lb__struct_in(): any size from the first release's (min) up is accepted; the bytes the
 * caller's size covers are copied, the rest of the library's copy is zero; a newer caller's
 * tail (bytes past the library's size) must be all zero, else LB_E_STRUCT_TOO_NEW. A struct
 * the library fills for the caller goes out through lb__struct_out(): only the caller's size
 * is written, and a newer caller's tail is zero-filled. Arrays are stepped by the caller's
 * element size (lb__elem()). */
#ifndef LB_INTERNAL_ABI_H
#define LB_INTERNAL_ABI_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lb/common.h"

/* Whether the bytes [from, to) of p are all zero. */
static inline int lb__tail_is_zero(const void *p, size_t from, size_t to)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = from; i < to; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* Checks a caller's struct size against [min, lib) and a newer caller's tail. */
static inline int lb__struct_check(const void *src, size_t caller, size_t min, size_t lib)
{
    if (caller < min)
        return LB_E_STRUCT_SIZE;
    if (caller > lib && !lb__tail_is_zero(src, lib, caller))
        return LB_E_STRUCT_TOO_NEW;
    return LB_OK;
}

/* Reads a caller's struct of `caller` bytes into the library's `dst` of `lib` bytes. */
static inline int lb__struct_in(void *dst, size_t lib, const void *src, size_t caller, size_t min)
{
    if (caller == lib) { /* the common case: a copy of a size known at compile time */
        memcpy(dst, src, lib);
        return LB_OK;
    }
    int rc = lb__struct_check(src, caller, min, lib);
    if (rc != LB_OK)
        return rc;
    size_t n = caller < lib ? caller : lib;
    memcpy(dst, src, n);
    if (n < lib)
        memset((unsigned char *)dst + n, 0, lib - n);
    return LB_OK;
}

/* Writes the library's struct `src` of `lib` bytes into a caller's struct of `caller` bytes;
 * a newer caller's tail is zeroed. The caller's size was checked against the minimum. */
static inline void lb__struct_out(void *dst, size_t caller, const void *src, size_t lib)
{
    if (caller == lib) {
        memcpy(dst, src, lib);
        return;
    }
    size_t n = caller < lib ? caller : lib;
    memcpy(dst, src, n);
    if (caller > lib)
        memset((unsigned char *)dst + lib, 0, caller - lib);
}

/* The size of struct T up to and including its member `last`: a struct's first-release size
 * is LB__SIZE_UPTO(T, its last member in that release), which stays right when members are
 * appended later. */
#define LB__SIZE_UPTO(T, last) (offsetof(T, last) + sizeof(((T *)0)->last))

/* The struct_size (the first uint32_t) of a caller's struct. */
static inline size_t lb__struct_size_of(const void *p)
{
    uint32_t size;
    memcpy(&size, p, sizeof(size));
    return size;
}

/* Checks a struct the library will fill (lb__struct_put()): its caller-set size must be at
 * least the first release's. */
static inline int lb__out_check(const void *dst, size_t min)
{
    return lb__struct_size_of(dst) < min ? LB_E_STRUCT_SIZE : LB_OK;
}

/* Fills a caller's struct `dst` (struct_size set by the caller and checked with
 * lb__out_check()) from the library's `src` of `lib` bytes. `dst`'s struct_size becomes the
 * number of bytes the library wrote: min(caller's size, lib); a newer caller's tail is zero. */
static inline void lb__struct_put(void *dst, void *src, size_t lib)
{
    size_t caller = lb__struct_size_of(dst);
    uint32_t written = (uint32_t)(caller < lib ? caller : lib);
    memcpy(src, &written, sizeof(written));
    lb__struct_out(dst, caller, src, lib);
}

/* Fills a caller's struct of `size` bytes from an init function's defaults `src` of `lib`
 * bytes: the caller's struct_size becomes `size` (so that a newer caller's zeroed tail is
 * passed back and accepted). A size too small to hold struct_size writes nothing. */
static inline void lb__struct_init(void *dst, size_t size, void *src, size_t lib)
{
    if (!dst || size < sizeof(uint32_t) || size > UINT32_MAX)
        return;
    uint32_t s32 = (uint32_t)size;
    memcpy(src, &s32, sizeof(s32));
    lb__struct_out(dst, size, src, lib);
}

/* Checks the element size of a caller's array of structs: at least the first release's. */
static inline int lb__elem_check(size_t elem, size_t min)
{
    return elem < min || elem > UINT32_MAX ? LB_E_STRUCT_SIZE : LB_OK;
}

/* Element i of a caller's array whose elements are `elem` bytes apart. */
static inline void *lb__elem(void *base, size_t elem, size_t i)
{
    return (unsigned char *)base + elem * i;
}

#endif /* LB_INTERNAL_ABI_H */
