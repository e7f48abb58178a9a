/*
 * commands.c - the table of kferry's commands (commands.h), the option
 * tables of the commands main.c parses itself, and `kferry completion`:
 * a bash completion script and a plain list, both printed from that table.
 */
#include "migrate/commands.h"

#include <stdio.h>
#include <string.h>

const cli_opt cli_mirror_opts[] = {{"--config", "-c", 1}, {NULL, NULL, 0}};
const cli_opt cli_status_opts[] = {{"--config", "-c", 1}, {"--json", NULL, 0}, {NULL, NULL, 0}};
const cli_opt cli_translate_opts[] = {{"--config", "-c", 1}, {"--json", NULL, 0},
                                      {"--topic", NULL, 1},  {"--partition", NULL, 1},
                                      {"--offset", NULL, 1}, {NULL, NULL, 0}};
const cli_opt cli_dump_opts[] = {{"--config", "-c", 1}, {"--topic", NULL, 1}, {NULL, NULL, 0}};
static const cli_opt no_opts[] = {{NULL, NULL, 0}};

const cli_cmd cli_commands[] = {{"demo", demo_cli_opts, NULL},
                                {"mirror", cli_mirror_opts, NULL},
                                {"offsets translate", cli_translate_opts, NULL},
                                {"offsets dump", cli_dump_opts, NULL},
                                {"status", cli_status_opts, NULL},
                                {"plan", plan_cli_opts, NULL},
                                {"verify", verify_cli_opts, NULL},
                                {"cutover", cutover_cli_opts, NULL},
                                {"cutover producers", cutover_cli_opts, cutover_producers_refused},
                                {"groups status", groups_cli_opts, NULL},
                                {"groups sync", groups_cli_opts, groups_sync_refused},
                                {"acls plan", acls_cli_opts, NULL},
                                {"acls apply", acls_cli_opts, NULL},
                                {"config-reference", no_opts, NULL},
                                {"completion bash", no_opts, NULL},
                                {"completion list", no_opts, NULL},
                                {NULL, NULL, NULL}};

static const char *g_completion_usage =
    "usage: kferry completion bash\n"
    "       kferry completion list\n"
    "\n"
    "  bash   a bash completion script: commands, subcommands and each command's\n"
    "         options (packages install it as\n"
    "         /usr/share/bash-completion/completions/kferry; to try it:\n"
    "         source <(kferry completion bash))\n"
    "  list   every command with its options (and their short forms), one\n"
    "         command a line: NAME<TAB>OPTION OPTION ...; an option taking a\n"
    "         value ends in '='\n"
    "\n"
    "Both come from the option tables kferry parses its command line with.\n"
    "Exit status: 0 ok, 2 usage error.\n";

/* Whether form k of a command refuses its option i. */
static int refused(int k, int i) {
    const int *r = cli_commands[k].refused;
    for (int j = 0; r && r[j] >= 0; j++)
        if (r[j] == i)
            return 1;
    return 0;
}

/* Length of the first word of a command name ("offsets" of "offsets dump"). */
static size_t word_len(const char *name) {
    const char *sp = strchr(name, ' ');
    return sp ? (size_t)(sp - name) : strlen(name);
}

/* Whether an earlier entry of cli_commands has the same first word as entry k. */
static int first_seen_before(int k) {
    size_t n = word_len(cli_commands[k].name);
    for (int j = 0; j < k; j++)
        if (word_len(cli_commands[j].name) == n &&
            !strncmp(cli_commands[j].name, cli_commands[k].name, n))
            return 1;
    return 0;
}

static void print_list(void) {
    for (int k = 0; cli_commands[k].name; k++) {
        printf("%s\t", cli_commands[k].name);
        const cli_opt *o = cli_commands[k].opts;
        int n = 0;
        for (int i = 0; o[i].name; i++) {
            if (refused(k, i))
                continue;
            printf("%s%s%s", n++ ? " " : "", o[i].name, o[i].has_value ? "=" : "");
            if (o[i].alias)
                printf(" %s%s", o[i].alias, o[i].has_value ? "=" : "");
        }
        printf("%s--help\n", n ? " " : "");
    }
}

/* The case label matching a command's words: "offsets/translate" for a
 * subcommand, "mirror/"* for a command (whatever follows it). */
static void print_case_label(const char *name) {
    size_t n = word_len(name);
    if (name[n])
        printf("    \"%.*s/%s\")", (int)n, name, name + n + 1);
    else
        printf("    \"%s/\"*)", name);
}

/* case "$1/$2" in ... esac printing the options of the command in $1 $2:
 * all of them (values = 0) or those taking a value, aliases too (values = 1).
 * Subcommands come first: "cutover/producers" before "cutover/"*. */
static void print_option_case(int values) {
    printf("    case \"$1/$2\" in\n");
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; cli_commands[k].name; k++) {
            const char *name = cli_commands[k].name;
            if ((name[word_len(name)] != '\0') != (pass == 0))
                continue;
            const cli_opt *o = cli_commands[k].opts;
            print_case_label(name);
            printf(" echo \"");
            int first = 1;
            for (int i = 0; o[i].name; i++) {
                if ((values && !o[i].has_value) || refused(k, i))
                    continue;
                printf("%s%s", first ? "" : " ", o[i].name);
                first = 0;
                if (values && o[i].alias)
                    printf(" %s", o[i].alias);
            }
            if (!values)
                printf("%s--help", first ? "" : " ");
            printf("\" ;;\n");
        }
    }
    printf("    esac\n");
}

static void print_bash(void) {
    printf("# bash completion for kferry, printed by `kferry completion bash` from the\n"
           "# option tables kferry parses its command line with.\n"
           "\n"
           "# _kferry_options COMMAND [SUBCOMMAND]: the options of that command\n"
           "_kferry_options() {\n");
    print_option_case(0);
    printf("}\n"
           "\n"
           "# _kferry_value_options COMMAND [SUBCOMMAND]: its options that take a value\n"
           "_kferry_value_options() {\n");
    print_option_case(1);
    printf("}\n"
           "\n"
           "# _kferry_subcommands COMMAND: its subcommands\n"
           "_kferry_subcommands() {\n"
           "    case \"$1\" in\n");
    for (int k = 0; cli_commands[k].name; k++) {
        const char *name = cli_commands[k].name;
        size_t n = word_len(name);
        /* the first entry with a subcommand of each command prints them all */
        if (!name[n])
            continue;
        int earlier = 0;
        for (int j = 0; j < k; j++)
            if (word_len(cli_commands[j].name) == n && !strncmp(cli_commands[j].name, name, n) &&
                cli_commands[j].name[n])
                earlier = 1;
        if (earlier)
            continue;
        printf("    %.*s) echo \"", (int)n, name);
        int any = 0;
        for (int j = k; cli_commands[j].name; j++) {
            const char *s = cli_commands[j].name;
            if (word_len(s) != n || strncmp(s, name, n) || !s[n])
                continue;
            printf("%s%s", any ? " " : "", s + n + 1);
            any = 1;
        }
        printf("\" ;;\n");
    }
    printf("    esac\n"
           "}\n"
           "\n"
           "_kferry() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]} prev=\"\" cmd=\"\" sub=\"\" words\n"
           "    COMPREPLY=()\n"
           "    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
           "    if ((COMP_CWORD <= 1)); then\n"
           "        words=\"");
    for (int k = 0; cli_commands[k].name; k++)
        if (!first_seen_before(k))
            printf("%.*s ", (int)word_len(cli_commands[k].name), cli_commands[k].name);
    printf("help --help --version\"\n"
           "        mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
           "        return 0\n"
           "    fi\n"
           "    cmd=${COMP_WORDS[1]}\n"
           "    ((COMP_CWORD > 2)) && sub=${COMP_WORDS[2]}\n"
           "    local v\n"
           "    for v in $(_kferry_value_options \"$cmd\" \"$sub\"); do\n"
           "        if [[ $prev == \"$v\" ]]; then\n"
           "            case $prev in\n"
           "            --config | -c | --*-file)\n"
           "                compopt -o filenames 2>/dev/null\n"
           "                mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
           "                ;;\n"
           "            esac\n"
           "            return 0\n"
           "        fi\n"
           "    done\n"
           "    words=$(_kferry_options \"$cmd\" \"$sub\")\n"
           "    ((COMP_CWORD == 2)) && words=\"$(_kferry_subcommands \"$cmd\") $words\"\n"
           "    mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")\n"
           "    return 0\n"
           "}\n"
           "complete -F _kferry kferry\n");
}

int completion_main(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(g_completion_usage, stdout);
        return 0;
    }
    if (argc != 1 || (strcmp(argv[0], "bash") && strcmp(argv[0], "list"))) {
        fprintf(stderr, "kferry completion: expected 'bash' or 'list'\n%s", g_completion_usage);
        return 2;
    }
    if (!strcmp(argv[0], "bash"))
        print_bash();
    else
        print_list();
    return 0;
}
