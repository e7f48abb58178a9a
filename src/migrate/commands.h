/*
 * commands.h - the table of kferry's commands and the option table each
 * one is parsed with (cli_next).  `kferry completion` and the man page
 * generator read this table, so completion offers exactly what the
 * parsers accept.
 */
#ifndef KF_MIGRATE_COMMANDS_H
#define KF_MIGRATE_COMMANDS_H

#include "migrate/cli.h"

typedef struct cli_cmd {
    const char *name;    /* "mirror", or "offsets translate" for a subcommand */
    const cli_opt *opts; /* the table its parser uses; {NULL} ended */
    const int *refused;  /* indexes in opts this form of the command refuses
                          * after parsing, -1 ended; or NULL */
} cli_cmd;

/* The option tables, defined next to the parsers that use them. */
extern const cli_opt cli_mirror_opts[], cli_status_opts[], cli_translate_opts[], cli_dump_opts[];
extern const cli_opt plan_cli_opts[], verify_cli_opts[], cutover_cli_opts[], groups_cli_opts[],
    acls_cli_opts[], demo_cli_opts[];
extern const int cutover_producers_refused[], groups_sync_refused[];

/* Every command; ended by {NULL, NULL}.  A command with subcommands
 * ("offsets translate", "offsets dump") has one entry per subcommand; a
 * command that also runs bare ("cutover") has an entry of its own too. */
extern const cli_cmd cli_commands[];

/* kferry completion bash|list (argv[0] = "bash" or "list"). */
int completion_main(int argc, char **argv);

#endif
