/*
 * verify.h - `kferry verify`: proves, record by record through the exact
 * offset map, that the target holds what the source holds (docs/VERIFY.md).
 *
 * Read-only on both clusters: per-partition consumers, no group, no commits.
 */
#ifndef KF_MIGRATE_VERIFY_H
#define KF_MIGRATE_VERIFY_H

/* Parses `kferry verify` options (argv[0] is the first option), loads the
 * config and runs.  Exit status: 0 everything mirrored matches, 1 a
 * mismatch, missing or extra record (or a read error), 2 usage/config. */
int verify_main(int argc, char **argv);

#endif
