/*
 * cutover.h - `kferry cutover`: moves consumer groups (and gates the move
 * of producers) from the source cluster to the target, exactly: consumers
 * started on the target skip nothing and re-read nothing.  docs/CUTOVER.md.
 */
#ifndef KF_MIGRATE_CUTOVER_H
#define KF_MIGRATE_CUTOVER_H

/* argv[0] is the first argument after "cutover". Exit status: 0 done,
 * 1 failed or timed out (reason printed), 2 usage or config error. */
int cutover_main(int argc, char **argv);

#endif
