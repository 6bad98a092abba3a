/* lbtool's output and parsing helpers. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lb.h"
#include "lbtool.h"

int lbt_fail(int err, const char *fmt, ...)
{
    char msg[512];
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
    } else {
        snprintf(msg, sizeof(msg), "%s", lb_strerror(err));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", lb_err_name(err));
    cJSON_AddStringToObject(o, "message", msg);
    lbt_print(o);
    return LBT_EXIT_FAIL;
}

int lbt_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lbtool %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'lbtool %s --help'.\n", cmd);
    return LBT_EXIT_USAGE;
}

int lbt_print(cJSON *obj)
{
    char *s = getenv("LBTOOL_COMPACT") ? cJSON_PrintUnformatted(obj) : cJSON_Print(obj);
    cJSON_Delete(obj);
    if (!s) {
        fprintf(stderr, "lbtool: out of memory while printing JSON\n");
        return LBT_EXIT_FAIL;
    }
    int ok = puts(s) >= 0 && fflush(stdout) == 0;
    free(s);
    return ok ? LBT_EXIT_OK : LBT_EXIT_FAIL;
}

cJSON *lbt_hex64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
    return cJSON_CreateString(buf);
}

cJSON *lbt_hex_bytes(const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char *s = malloc(len * 2 + 1);
    if (!s)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[len * 2] = 0;
    cJSON *item = cJSON_CreateString(s);
    free(s);
    return item;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long lbt_parse_hex(const char *s, uint8_t *out, size_t cap)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

int lbt_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

long lbt_read_stdin(uint8_t **out, size_t max)
{
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -1;
    for (;;) {
        if (len == cap) {
            if (cap > max) {
                free(buf);
                return -1;
            }
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        return -1;
    }
    *out = buf;
    return (long)len;
}

int lbt_read_input(const char *cmd, const char *hex, size_t max, uint8_t **out, size_t *len)
{
    long n;
    *out = NULL;
    if (hex) {
        *out = malloc(strlen(hex) / 2 + 1);
        if (!*out)
            return lbt_fail(-ENOMEM, NULL);
        n = lbt_parse_hex(hex, *out, strlen(hex) / 2 + 1);
        if (n < 0) {
            free(*out);
            *out = NULL;
            return lbt_usage(cmd, "--hex: not hexadecimal");
        }
    } else {
        n = lbt_read_stdin(out, max);
        if (n < 0) {
            free(*out);
            *out = NULL;
            return lbt_fail(-EINVAL, "stdin: unreadable or more than %zu bytes", max);
        }
    }
    *len = (size_t)n;
    return LBT_EXIT_OK;
}

int lbt_run_sub(const char *cmd, const char *help, const char *names, const struct lbt_sub *subs,
                size_t n, int argc, char **argv)
{
    if (argc < 2) {
        fputs(help, stderr);
        return LBT_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, stdout);
        return LBT_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].fn(argc - 1, argv + 1);
    return lbt_usage(cmd, "unknown subcommand '%s' (%s)", argv[1], names);
}
