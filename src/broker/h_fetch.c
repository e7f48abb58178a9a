/* h_fetch.c - STUB: to be replaced. */
#include "broker/handlers.h"
int kb_h_fetch(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
int kb_h_list_offsets(kb_broker *b, kb_req *r, kf_buf *out) { (void)b; (void)r; (void)out; return KB_CLOSE; }
