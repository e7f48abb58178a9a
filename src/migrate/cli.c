/*
 * cli.c - command-line options of kferry's commands (see cli.h).
 */
#include "migrate/cli.h"

#include "common/util.h"

#include <stdio.h>
#include <string.h>

int cli_next(const char *cmd, const cli_opt *opts, int argc, char **argv, int *i,
             const char **val) {
    *val = NULL;
    if (*i >= argc)
        return CLI_END;
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
        (*i)++;
        return CLI_HELP;
    }
    for (int k = 0; opts[k].name; k++) {
        if (strcmp(a, opts[k].name) != 0 && !(opts[k].alias && !strcmp(a, opts[k].alias)))
            continue;
        if (opts[k].has_value) {
            if (*i + 1 >= argc) {
                fprintf(stderr, "kferry %s: %s needs a value (see kferry %s --help)\n", cmd, a,
                        cmd);
                return CLI_ERR;
            }
            *val = argv[*i + 1];
            *i += 2;
        } else {
            (*i)++;
        }
        return k;
    }
    if (a[0] != '-') {
        fprintf(stderr, "kferry %s: unexpected argument '%s'\n", cmd, a);
        return CLI_ERR;
    }
    const char *best = NULL;
    int bd = 3;
    for (int k = 0; opts[k].name; k++) {
        int d = kf_edit_distance(a, opts[k].name, 2);
        if (d < bd) {
            bd = d;
            best = opts[k].name;
        }
    }
    if (best)
        fprintf(stderr, "kferry %s: unknown option %s (did you mean %s?)\n", cmd, a, best);
    else
        fprintf(stderr, "kferry %s: unknown option %s (see kferry %s --help)\n", cmd, a, cmd);
    return CLI_ERR;
}
