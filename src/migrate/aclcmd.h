/*
 * aclcmd.h - `kferry acls plan|apply` (aclcmd.c).
 */
#ifndef KF_MIGRATE_ACLCMD_H
#define KF_MIGRATE_ACLCMD_H

/* argv[0] is "plan" or "apply". Returns the exit status. */
int acls_main(int argc, char **argv);

#endif
