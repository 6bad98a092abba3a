/* lbtool: the target set of the hash-selector commands (maglev, rendezvous, chash). Their
 * shared options (--target KEY[=W], --remove KEY, --add KEY[=W], --set KEY=W, --lookup-key S,
 * --help), one parser that takes them with each command's own options, the pool before and
 * after the change, and the "lookups" report. Argument handling and printing only. */
#ifndef LBTOOL_TARGETSET_H
#define LBTOOL_TARGETSET_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "lb.h"
#include "lbtool.h"

/* Keys as given on the command line, each with a weight (1 where none was given). */
struct lbt_ts_list {
    char **key;
    uint32_t *weight;
    size_t n, cap;
};

/* Adds the key bytes as a JSON string (keys given on the command line are text). */
void lbt_ts_add_key(cJSON *o, const char *name, const uint8_t *key, size_t len);

/* The sum of the weights of @pool's targets. */
uint64_t lbt_ts_weight_sum(const lb_pool *pool);

/* A command's target set: its options and the pools built from them. */
struct lbt_ts {
    struct lbt_ts_list targets, rm, add, set, lookups;
    lb_pool *pool;  /* the targets, target i with id i */
    lb_pool *after; /* with --remove/--add/--set: the changed pool; else NULL */
};

/* Which of the optional shared options a command takes (--target, --lookup-key and --help
 * always). */
#define LBT_TS_CHANGE 1u /* --remove KEY, --add KEY[=W] */
#define LBT_TS_SET    2u /* --set KEY=W */

/* What a command adds to the shared options. */
struct lbt_ts_cmd {
    const char *name;          /* the subcommand, for usage messages */
    const char *help;          /* printed by --help */
    unsigned shared;           /* LBT_TS_CHANGE | LBT_TS_SET */
    const struct option *opts; /* its own getopt_long options, ended by {0}; their val is none
                                  of 't', 'r', 'a', 's', 'l', 'h' */
    /* Takes one of its own options (@arg NULL for one without a value): 0, or -1 on a bad
     * value. */
    int (*option)(void *ctx, int c, const char *arg);
    /* Runs the command on the parsed target set; returns the exit code. */
    int (*run)(const struct lbt_ts *ts, void *ctx);
    void *ctx; /* the command's options, for option and run */
};

/* Runs a hash-selector command: parses @argv (argv[0] is the subcommand) into a target set and
 * the command's own options; checks for a stray argument and at least one target; builds the
 * pool and, with a change, the changed pool (a key added back keeps its id, so that
 * comparisons by owner id count it as the same target); then calls cmd->run. Returns the exit
 * code (after the help, a usage error or an error object, without calling cmd->run). */
int lbt_ts_main(const struct lbt_ts_cmd *cmd, int argc, char **argv);

/* The "lookups" array (none without --lookup-key): each key's hash (lb_hash_key(S, seed 0)),
 * its target in @sel and, when @sel2 (built from ts->after) is not NULL, its target_after. */
void lbt_ts_add_lookups(cJSON *out, const struct lbt_ts *ts,
                        uint32_t (*lookup)(const void *sel, uint64_t hash), const void *sel,
                        const void *sel2);

#endif /* LBTOOL_TARGETSET_H */
