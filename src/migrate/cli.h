/*
 * cli.h - option parsing shared by kferry's commands: every command has a
 * table of the options it supports; anything else is named as unknown
 * (with "did you mean" for near-misses), a missing value is named as such,
 * and --help/-h prints the command's own usage.
 */
#ifndef KF_MIGRATE_CLI_H
#define KF_MIGRATE_CLI_H

typedef struct cli_opt {
    const char *name;  /* "--config" */
    const char *alias; /* "-c", or NULL */
    int has_value;     /* takes the next argument as its value */
} cli_opt;

enum { CLI_END = -1, CLI_ERR = -2, CLI_HELP = -3 };

/* Parses argv[*i]: returns the option's index in opts (a table ended by a
 * {NULL} entry) with *val set for options with a value, and advances *i
 * past it; CLI_END when *i reached argc; CLI_HELP for --help/-h; CLI_ERR
 * for an unknown option, a missing value or a stray argument, after
 * printing "kferry <cmd>: ..." to stderr. */
int cli_next(const char *cmd, const cli_opt *opts, int argc, char **argv, int *i, const char **val);

#endif
