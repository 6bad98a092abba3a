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
    size_t n = caller < lib ? caller : lib;
    memcpy(dst, src, n);
    if (caller > lib)
        memset((unsigned char *)dst + lib, 0, caller - lib);
}

/* Element i of a caller's array whose elements are `elem` bytes apart. */
static inline void *lb__elem(void *base, size_t elem, size_t i)
{
    return (unsigned char *)base + elem * i;
}

#endif /* LB_INTERNAL_ABI_H */
