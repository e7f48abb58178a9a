/*
 * demo.h - `kferry demo`: a whole migration rehearsed on two local
 * kferry-broker processes (see demo.c).
 */
#ifndef KF_MIGRATE_DEMO_H
#define KF_MIGRATE_DEMO_H

/* argv are the options after "demo". Returns the exit status. */
int demo_main(int argc, char **argv);

#endif
