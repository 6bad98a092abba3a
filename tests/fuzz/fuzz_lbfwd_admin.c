/* Fuzz harness: lbfwd's admin request parser. Input: a method line, a path line, then one
 * query argument per line ("key=value", or "key" alone for an argument without a value). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbfwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *lines[20];
    int n = 0;
    char *p = text;
    while (n < 20) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    if (n >= 2) {
        struct lbf_kv kv[18];
        size_t nkv = 0;
        for (int i = 2; i < n; i++) {
            char *eq = strchr(lines[i], '=');
            kv[nkv].key = lines[i];
            kv[nkv].value = NULL;
            if (eq) {
                *eq = '\0';
                kv[nkv].value = eq + 1;
            }
            nkv++;
        }
        struct lbf_admin_req req;
        char msg[256];
        int st = lbf_admin_parse(lines[0], lines[1], kv, nkv, &req, msg, sizeof(msg));
        if (st != 0 && (st < 400 || st > 499 || !msg[0]))
            abort(); /* an error is always a 4xx with a message */
        if (st == 0 && (req.action < LBF_ADMIN_METRICS || req.action > LBF_ADMIN_DELETE))
            abort();
    }
    free(text);
    return 0;
}
