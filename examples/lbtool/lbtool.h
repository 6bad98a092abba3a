/* lbtool: shared helpers for the subcommands. lbtool only parses, calls liblb's public API
 * and prints JSON. */
#ifndef LBTOOL_H
#define LBTOOL_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* A subcommand: argv[0] is the subcommand's name. Returns the process exit code. */
typedef int (*lbt_cmd_fn)(int argc, char **argv);

/* Exit codes. */
#define LBT_EXIT_OK    0
#define LBT_EXIT_FAIL  1 /* the operation failed: error object on stdout */
#define LBT_EXIT_USAGE 2 /* bad command line: message on stderr */

/* Prints {"error": lb_err_name(err), "message": ...} on stdout; returns LBT_EXIT_FAIL.
 * @message may be NULL (lb_strerror(err) is used). */
int lbt_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "lbtool <cmd>: message" and a hint on stderr; returns LBT_EXIT_USAGE. */
int lbt_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the JSON object on stdout (pretty when LBTOOL_COMPACT is not set), frees it, and
 * returns LBT_EXIT_OK (or LBT_EXIT_FAIL when printing failed). */
int lbt_print(cJSON *obj);

/* "0x%016llx" into a new cJSON string item. */
cJSON *lbt_hex64(uint64_t v);

/* Lowercase hex of @len bytes into a new cJSON string item. */
cJSON *lbt_hex_bytes(const uint8_t *p, size_t len);

/* Parses lowercase or uppercase hex (an optional "0x" is skipped) into @out.
 * Returns the byte count, or -1 on bad hex or when more than @cap bytes. */
long lbt_parse_hex(const char *s, uint8_t *out, size_t cap);

/* Strict unsigned decimal or 0x-hex parse; returns 0 on success, -1 on bad input or
 * a value above @max. */
int lbt_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Reads all of stdin into a new buffer (at most @max bytes; -1 when more). */
long lbt_read_stdin(uint8_t **out, size_t max);

/* A decoder's input: the bytes of @hex when not NULL, else all of stdin (at most @max bytes),
 * into a new buffer (*out, *len; the caller frees it). Returns LBT_EXIT_OK, or the exit code
 * after printing the usage error (bad hex) or the error object (stdin). */
int lbt_read_input(const char *cmd, const char *hex, size_t max, uint8_t **out, size_t *len);

/* A subcommand of a command with subcommands (`lbtool proxy decode`, `lbtool tls match`). */
struct lbt_sub {
    const char *name;
    lbt_cmd_fn fn;
};

/* Runs argv[1]'s subcommand of `cmd` with argv shifted by one; --help prints `help`; a missing
 * or unknown subcommand is a usage error naming `names` (e.g. "decode or encode"). */
int lbt_run_sub(const char *cmd, const char *help, const char *names, const struct lbt_sub *subs,
                size_t n, int argc, char **argv);

/* Subcommands, each in its own file; each module declares its own in its section. */
/* foundation */
int lbt_cmd_version(int argc, char **argv);
int lbt_cmd_hash(int argc, char **argv);
/* proxy */
int lbt_cmd_proxy(int argc, char **argv);

/* maglev, chash */
int lbt_cmd_maglev(int argc, char **argv);
int lbt_cmd_rendezvous(int argc, char **argv);
int lbt_cmd_chash(int argc, char **argv);

/* wrr, leastconn */
int lbt_cmd_wrr(int argc, char **argv);
int lbt_cmd_leastconn(int argc, char **argv);
struct lb_pool;
/* Adds target "KEY=W" with id @id; returns 0, 1 (not KEY=W) or a liblb error. */
int lbt_add_weighted_target(struct lb_pool *pool, uint32_t id, const char *arg);
/* The key of target @id as a new string (the caller frees it), or NULL. */
char *lbt_target_key(const struct lb_pool *pool, uint32_t id);

/* zone */
int lbt_cmd_zones(int argc, char **argv);

/* balancer */
int lbt_cmd_balancer(int argc, char **argv);

/* tls */
int lbt_cmd_tls(int argc, char **argv);


#endif /* LBTOOL_H */
