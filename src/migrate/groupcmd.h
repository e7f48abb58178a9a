/*
 * groupcmd.h - `kferry groups status|sync`: per group, the source committed
 * offsets, their translation on the target and whether it is exact yet;
 * `sync` runs one group-sync pass (what the mirror does every interval).
 */
#ifndef KF_MIGRATE_GROUPCMD_H
#define KF_MIGRATE_GROUPCMD_H

/* argv[0] is "status" or "sync". Exit: 0 ok, 1 failure, 2 usage/config. */
int groups_main(int argc, char **argv);

#endif
