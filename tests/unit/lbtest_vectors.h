/* Loads a test-vector file of tests/data: one vector a line, NAME <TAB> HEX <TAB> EXPECT
 * [<TAB> OPTIONS], `-` for empty HEX, `#` comments. Shared by the decoder tests. */
#ifndef LBTEST_VECTORS_H
#define LBTEST_VECTORS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbtest.h"

struct lbt_vec {
    char name[80];
    uint8_t *data;
    size_t len;
    char expect[800];
    char opts[64];
};

static inline int lbt_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Reads tests/data/<file> into a calloc'ed array (at most `max`); returns the count, or 0. */
static inline size_t lbt_load_vectors(const char *file, struct lbt_vec **out, size_t max)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", lbt_data_dir(), file);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t cap = 1 << 18, n = 0;
    char *line = malloc(cap);
    struct lbt_vec *vecs = calloc(max, sizeof(*vecs));
    while (line && vecs && fgets(line, (int)cap, f)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = 0;
        char *save = NULL, *name = strtok_r(line, "\t", &save), *hex = strtok_r(NULL, "\t", &save);
        char *expect = strtok_r(NULL, "\t", &save), *opts = strtok_r(NULL, "\t", &save);
        if (!name || !hex || !expect || n == max) {
            n = 0;
            break;
        }
        struct lbt_vec *v = &vecs[n++];
        snprintf(v->name, sizeof(v->name), "%s", name);
        snprintf(v->expect, sizeof(v->expect), "%s", expect);
        snprintf(v->opts, sizeof(v->opts), "%s", opts ? opts : "");
        if (!strcmp(hex, "-")) /* the empty input */
            hex[0] = 0;
        v->len = strlen(hex) / 2;
        v->data = malloc(v->len + 1);
        for (size_t i = 0; v->data && i < v->len; i++)
            v->data[i] = (uint8_t)(lbt_hexval(hex[2 * i]) << 4 | lbt_hexval(hex[2 * i + 1]));
    }
    free(line);
    fclose(f);
    *out = vecs;
    return n;
}

static inline void lbt_free_vectors(struct lbt_vec *vecs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(vecs[i].data);
    free(vecs);
}

#endif /* LBTEST_VECTORS_H */
