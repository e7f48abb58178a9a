/*
 * server.h - the broker's network loop: listener, connections, framing,
 * parked requests and periodic ticks, on one epoll thread.
 */
#ifndef KB_SERVER_H
#define KB_SERVER_H

#include "broker/broker.h"

/* Binds the listener (fills cfg.listen_port / advertised_port when 0).
 * Returns 0 or -1 with a message. */
int kb_server_start(kb_broker *b, char *err, size_t errlen);
/* Runs until SIGTERM/SIGINT (or b->stopping). Returns 0 or -1. */
int kb_server_run(kb_broker *b);
/* Closes every connection and the listener. */
void kb_server_stop(kb_broker *b);

#endif
