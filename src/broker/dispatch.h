/*
 * dispatch.h - request header parsing and dispatch (server.c's entry into
 * the handlers).
 */
#ifndef KB_DISPATCH_H
#define KB_DISPATCH_H

#include "broker/broker.h"

/* Parses the request header of r->frame into r. Returns 0, or -1 with a
 * reason (unknown API, unsupported version, truncated) in err. */
int kb_req_parse_header(kb_req *r, char *err, size_t errlen);
/* Runs the handler and appends the framed response (size, header, body) to
 * resp. Returns KB_OK, KB_PARK, KB_NORESP or KB_CLOSE; resp is unchanged
 * unless KB_OK. */
int kb_dispatch(kb_broker *b, kb_req *r, kf_buf *resp);

#endif
